"""Benchmark: full Jacobians of f(x) = tanh(W x), chainrule vs torch.func.

Run as ``python bench/bench_jacobian.py`` (add ``--repeats N`` to change the number of
timed samples) or through ``python bench/run.py jacobian``. BLAS and OpenMP are limited
to one thread *before NumPy is imported* (and torch to one thread), so both libraries get
the same single core; set the variables yourself before importing this module to change
that.

For each (n_in, n_out) the table shows the median time of one Jacobian, in ms, for
chainrule's forward mode (columns by JVPs), reverse mode (rows by VJPs) and automatic
choice, and for ``torch.func.jacfwd`` / ``jacrev`` (vmapped, one batched pass). All in
float64. The jacobian functions are built once, outside the timing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import chainrule as cr  # noqa: E402
from chainrule.transforms import jacobian  # noqa: E402

SIZES = ((256, 256), (8, 512), (512, 8))


def _time_all(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median milliseconds per call of each function.

    Samples are interleaved (one sample of every function per round) so that slow drifts
    of the machine and cache effects hit all of them alike; each sample runs enough calls
    to last about 20 ms.
    """
    numbers = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t0, 1e-7)
        numbers[name] = max(1, int(0.02 / once))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            number = numbers[name]
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - t0) / number)
    return {name: statistics.median(v) * 1e3 for name, v in samples.items()}


def run(repeats: int = 9) -> list[dict[str, object]]:
    """Time every configuration; returns one dict per size (times in ms)."""
    try:
        import torch
        from torch.func import jacfwd, jacrev

        torch.set_num_threads(1)
    except ImportError:  # chainrule-only table
        torch = None
    rng = np.random.default_rng(0)
    rows = []
    for n_in, n_out in SIZES:
        w = rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
        x = rng.normal(size=n_in)
        expected = (1 - np.tanh(w @ x) ** 2)[:, None] * w

        def f(v: cr.Tensor, w: np.ndarray = w) -> cr.Tensor:
            return cr.tanh(cr.matmul(w, v))

        row: dict[str, object] = {"n_in": n_in, "n_out": n_out}
        fns: dict[str, Callable[[], object]] = {}
        for mode in ("fwd", "rev", "auto"):
            jac = jacobian(f, mode=mode)
            if not np.allclose(jac(x).data, expected, atol=1e-12):
                raise AssertionError(f"chainrule {mode} Jacobian is wrong for {n_in}->{n_out}")
            fns[mode] = lambda jac=jac, x=x: jac(x)
            if mode == "auto":
                row["auto_chose"] = jac.last_info.mode
        if torch is not None:
            wt = torch.from_numpy(w)
            xt = torch.from_numpy(x)

            def g(v: torch.Tensor, wt: torch.Tensor = wt) -> torch.Tensor:
                return torch.tanh(wt @ v)

            for name, tf in (("torch_fwd", jacfwd(g)), ("torch_rev", jacrev(g))):
                if not np.allclose(tf(xt).numpy(), expected, atol=1e-12):
                    raise AssertionError(f"{name} disagrees")
                fns[name] = lambda tf=tf, xt=xt: tf(xt)
        row.update(_time_all(fns, repeats))
        rows.append(row)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    """The results as a Markdown table, with the two target ratios."""
    has_torch = "torch_fwd" in rows[0]
    head = "| n_in -> n_out | chainrule fwd | chainrule rev | chainrule auto (chose) |"
    sep = "|---|---:|---:|---:|"
    if has_torch:
        head += " torch.func jacfwd | torch.func jacrev | auto / best own | best own / best torch |"
        sep += "---:|---:|---:|---:|"
    lines = [head, sep]
    for r in rows:
        best_own = min(r["fwd"], r["rev"])
        line = (
            f"| {r['n_in']} -> {r['n_out']} | {r['fwd']:.3f} | {r['rev']:.3f} | "
            f"{r['auto']:.3f} ({r['auto_chose']}) |"
        )
        if has_torch:
            best_torch = min(r["torch_fwd"], r["torch_rev"])
            line += (
                f" {r['torch_fwd']:.3f} | {r['torch_rev']:.3f} | "
                f"{r['auto'] / best_own:.2f} | {best_own / best_torch:.2f} |"
            )
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Run the benchmark and return its Markdown section (the convention of bench/run.py)."""
    parser = argparse.ArgumentParser(description="Jacobian benchmark: chainrule vs torch.func")
    parser.add_argument("--repeats", type=int, default=9, help="timed samples per cell")
    args = parser.parse_args([] if argv is None else argv)
    rows = run(args.repeats)
    return "\n".join(
        [
            "### Full Jacobian of tanh(W x) (float64, median ms per Jacobian, one thread)",
            "",
            table(rows),
            "",
            "auto / best own: chainrule's automatic choice vs the better of its two modes "
            "(target <= 1.10); best own / best torch: chainrule's better mode vs torch.func's "
            "better one (target <= 2).",
        ]
    )


if __name__ == "__main__":
    print(main(sys.argv[1:]))
