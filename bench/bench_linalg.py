"""Benchmark: gradients through ``linalg.solve`` and ``linalg.eigh``, chainrule vs PyTorch.

Run as ``python bench/bench_linalg.py`` (``--repeats N``, ``--n N``) or through
``python bench/run.py linalg``. BLAS and OpenMP are limited to one thread *before NumPy is
imported* (and torch to one thread), so both libraries get the same single core.

Each case times one gradient evaluation, forward and backward, on an n×n float64 matrix
(n = 256 by default), best ms over interleaved rounds:

* ``solve (b vector)``: L = ⟨w, solve(A, b)⟩, gradients of A and b;
* ``solve (B n×n)``: the same with n right-hand sides;
* ``eigh``: L = ⟨c, λ⟩ + ⟨W, V∘V⟩ (sign-free in the eigenvectors), gradient of A (symmetric).

A third column, the same gradient written by hand with ``np.linalg``, is the floor for a
library that runs on NumPy's LAPACK and BLAS. Before timing, the three gradients are
checked against each other (PyTorch's eigh gradient symmetrised: chainrule's eigh
symmetrises its input).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import chainrule as cr  # noqa: E402

TARGET = 1.5  # chainrule within 1.5x PyTorch's time


def _time_all(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best milliseconds per call over interleaved rounds (one sample of each per round).

    The best round, not the median: on a shared machine other processes only ever add
    time, and interleaving exposes all contenders to the same phases.
    """
    numbers = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t0, 1e-7)
        numbers[name] = max(1, int(0.05 / once))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            number = numbers[name]
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - t0) / number)
    return {name: min(v) * 1e3 for name, v in samples.items()}


def _cases(n: int, rng: np.random.Generator) -> dict[str, tuple[Callable, Callable]]:
    """name -> (chainrule, PyTorch, NumPy-by-hand) gradient functions, returning arrays."""
    import torch

    a = n**0.5 * np.eye(n) + rng.normal(size=(n, n))
    b = rng.normal(size=n)
    bm = rng.normal(size=(n, n))
    w = rng.normal(size=n)
    wm = rng.normal(size=(n, n))
    q = np.linalg.qr(rng.normal(size=(n, n)))[0]
    s = (q * np.linspace(1.0, 10.0, n)) @ q.T
    s = (s + s.T) / 2
    c = rng.normal(size=n)
    wt, wmt, ct = torch.from_numpy(w), torch.from_numpy(wm), torch.from_numpy(c)

    def cr_solve(rhs: np.ndarray, weight: np.ndarray) -> Callable[[], list[np.ndarray]]:
        def run() -> list[np.ndarray]:
            at, bt = cr.Tensor(a, requires_grad=True), cr.Tensor(rhs, requires_grad=True)
            (cr.linalg.solve(at, bt) * weight).sum().backward()
            return [at.grad.data, bt.grad.data]

        return run

    def th_solve(rhs: np.ndarray, weight: torch.Tensor) -> Callable[[], list[np.ndarray]]:
        def run() -> list[np.ndarray]:
            at = torch.from_numpy(a).requires_grad_()
            bt = torch.from_numpy(rhs).requires_grad_()
            (torch.linalg.solve(at, bt) * weight).sum().backward()
            return [at.grad.numpy(), bt.grad.numpy()]

        return run

    def cr_eigh() -> list[np.ndarray]:
        at = cr.Tensor(s, requires_grad=True)
        lam, v = cr.linalg.eigh(at)
        ((lam * c).sum() + (v * v * wm).sum()).backward()
        return [at.grad.data]

    def th_eigh() -> list[np.ndarray]:
        at = torch.from_numpy(s).requires_grad_()
        lam, v = torch.linalg.eigh(at)
        ((lam * ct).sum() + (v * v * wmt).sum()).backward()
        g = at.grad.numpy()
        return [(g + g.T) / 2]

    def np_solve(rhs: np.ndarray, weight: np.ndarray) -> Callable[[], list[np.ndarray]]:
        def run() -> list[np.ndarray]:  # the same gradient by hand: the NumPy floor
            x = np.linalg.solve(a, rhs)
            gb = np.linalg.solve(a.T, np.broadcast_to(weight, x.shape))
            ga = -np.multiply.outer(gb, x) if x.ndim == 1 else -gb @ x.T
            return [ga, gb]

        return run

    def np_eigh() -> list[np.ndarray]:
        lam, v = np.linalg.eigh(s)
        gap = lam[None, :] - lam[:, None]
        np.fill_diagonal(gap, np.inf)
        inner = np.diag(c) + (v.T @ (2 * v * wm)) / gap
        g = v @ inner @ v.T
        return [(g + g.T) / 2]

    return {
        "solve (b vector)": (cr_solve(b, w), th_solve(b, wt), np_solve(b, w)),
        f"solve (B {n}x{n})": (cr_solve(bm, wm), th_solve(bm, wmt), np_solve(bm, wm)),
        "eigh": (cr_eigh, th_eigh, np_eigh),
    }


def run(n: int = 256, repeats: int = 15) -> list[dict[str, object]]:
    """Time every case; one dict per case (times in ms)."""
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for name, (mine, theirs, floor) in _cases(n, rng).items():
        for other, label in ((theirs, "PyTorch"), (floor, "NumPy by hand")):
            for g1, g2 in zip(mine(), other(), strict=True):
                if not np.allclose(g1, g2, rtol=1e-6, atol=1e-8 * np.abs(g2).max()):
                    raise AssertionError(
                        f"{name}: chainrule and {label} gradients differ "
                        f"(max {np.abs(g1 - g2).max():.3g})"
                    )
        times = _time_all({"chainrule": mine, "torch": theirs, "numpy": floor}, repeats)
        rows.append({"case": name, **times})
    return rows


def table(rows: list[dict[str, object]], n: int) -> str:
    lines = [
        f"| case ({n}x{n} float64) | chainrule (ms) | PyTorch (ms) | NumPy by hand (ms) "
        f"| chainrule / PyTorch | chainrule / NumPy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r["chainrule"] / r["torch"]
        lines.append(
            f"| {r['case']} | {r['chainrule']:.2f} | {r['torch']:.2f} | "
            f"{r['numpy']:.2f} | {ratio:.2f}x{'' if ratio <= TARGET else ' (over)'} | "
            f"{r['chainrule'] / r['numpy']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Run the benchmark and return its Markdown section (the convention of bench/run.py)."""
    parser = argparse.ArgumentParser(description="linalg gradient benchmark vs PyTorch")
    parser.add_argument("--repeats", type=int, default=15, help="timed samples per cell")
    parser.add_argument("--n", type=int, default=256, help="matrix size")
    args = parser.parse_args([] if argv is None else argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        return "bench_linalg: PyTorch is not installed; nothing to compare against"
    rows = run(args.n, args.repeats)
    import torch

    return "\n".join(
        [
            "### Gradients through linalg.solve and linalg.eigh (forward + backward, best of "
            f"{args.repeats} interleaved rounds, ms, one thread)",
            "",
            table(rows, args.n),
            "",
            f"NumPy {np.__version__}, torch {torch.__version__}; target: chainrule / PyTorch "
            f"<= {TARGET}. NumPy by hand: the same gradient written out with np.linalg (the "
            f"floor for a library built on NumPy's LAPACK and BLAS).",
        ]
    )


if __name__ == "__main__":
    print(main(sys.argv[1:]))
