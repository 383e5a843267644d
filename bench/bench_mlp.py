"""Benchmark: one SGD training step of an MLP, chainrule vs hand-written NumPy vs PyTorch.

Cases (float32, ReLU, softmax cross-entropy, plain SGD):

* ``mlp_step``: 784-1024-1024-10 at batch 256 and at batch 32 (BLAS-bound);
* ``small_mlp``: 50-100-10 at batch 16 (per-op overhead-bound).

Each step is forward, loss, backward and the parameter update. The hand-written NumPy
step (forward and backward written out, as in ``examples/flat_backprop.py``) is the floor;
PyTorch eager runs with ``torch.set_num_threads`` set to NumPy's BLAS thread count.

Run ``python bench/bench_mlp.py`` (``--quick`` for a short run, ``--profile`` for a cProfile
of the chainrule small-MLP step). Prints a Markdown table and writes it to
``bench/results/mlp.md`` (copied into ``bench/README.md``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.nn import functional as F

HERE = Path(__file__).resolve().parent
LR = 0.01

CASES = [
    ("mlp_step", (784, 1024, 1024, 10), 256),
    ("mlp_step", (784, 1024, 1024, 10), 32),
    ("small_mlp", (50, 100, 10), 16),
]


def blas_threads() -> int:
    """NumPy's BLAS thread count (threadpoolctl when available, else the CPU count)."""
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info.get("user_api") == "blas":
                return int(info["num_threads"])
    except ImportError:  # pragma: no cover
        pass
    return os.cpu_count() or 1


def _data(sizes: tuple[int, ...], batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    return X, y


# ---------------------------------------------------------------------- the three contenders
def numpy_step_fn(sizes: tuple[int, ...], batch: int) -> Callable[[], None]:
    """Hand-written forward + backward + SGD in NumPy (weights (in, out), no autodiff)."""
    rng = np.random.default_rng(1)
    Ws = [
        (rng.uniform(-1, 1, (a, b)) / np.sqrt(a)).astype(np.float32)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    bs = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]
    X, y = _data(sizes, batch)
    rows = np.arange(batch)

    def step() -> None:
        acts = [X]
        for W, b in zip(Ws[:-1], bs[:-1], strict=True):
            acts.append(np.maximum(acts[-1] @ W + b, 0))
        s = acts[-1] @ Ws[-1] + bs[-1]
        s -= s.max(axis=1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=1, keepdims=True)
        s[rows, y] -= 1
        s /= batch
        d = s
        for i in range(len(Ws) - 1, -1, -1):
            dW = acts[i].T @ d
            db = d.sum(axis=0)
            if i:
                d = d @ Ws[i].T
                d *= acts[i] > 0
            Ws[i] -= LR * dW
            bs[i] -= LR * db

    return step


def chainrule_step_fn(sizes: tuple[int, ...], batch: int) -> Callable[[], None]:
    """nn.Sequential of Linear/ReLU, F.cross_entropy, backward(), optim.SGD."""
    rng = np.random.default_rng(1)
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b, rng=rng), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1], rng=rng))
    model = nn.Sequential(*layers)
    opt = optim.SGD(model.parameters(), lr=LR)
    X, y = _data(sizes, batch)
    Xt = cr.Tensor(X)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(Xt), y).backward()
        opt.step()

    return step


def torch_step_fn(sizes: tuple[int, ...], batch: int) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(1)
    layers: list = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-2], sizes[-1]))
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    X, y = _data(sizes, batch)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(Xt), yt).backward()
        opt.step()

    return step


def _time_steps(step: Callable[[], None], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return n / (time.perf_counter() - t0)


def compare(steps: dict[str, Callable[[], None]], min_time: float, rounds: int) -> dict[str, float]:
    """Steps per second of each contender: best of ``rounds`` interleaved timings.

    Interleaving (A, B, C, A, B, C, ...) and keeping each one's best run makes the
    comparison fair on a machine with background load: all see the same conditions.
    """
    counts = {}
    for name, step in steps.items():
        for _ in range(3):
            step()  # warm up caches and allocators
        t0 = time.perf_counter()
        step()
        counts[name] = max(3, int(min_time / max(time.perf_counter() - t0, 1e-7)))
    best = dict.fromkeys(steps, 0.0)
    for _ in range(rounds):
        for name, step in steps.items():
            best[name] = max(best[name], _time_steps(step, counts[name]))
    return best


def profile_small(steps: int = 3000, top: int = 18) -> str:
    """cProfile of the chainrule small-MLP step: where per-op overhead goes."""
    step = chainrule_step_fn((50, 100, 10), 16)
    for _ in range(50):
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def run(quick: bool = False, threads: int | None = None) -> tuple[list[dict], int]:
    if threads is not None:
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads, user_api="blas")
        except ImportError:  # pragma: no cover
            print("threadpoolctl is not installed: --threads ignored for NumPy", file=sys.stderr)
    threads = blas_threads()
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    min_time, rounds = (0.2, 3) if quick else (0.5, 7)
    rows = []
    for name, sizes, batch in CASES:
        row = {"case": name, "sizes": "-".join(map(str, sizes)), "batch": batch}
        steps = {"numpy": numpy_step_fn(sizes, batch), "chainrule": chainrule_step_fn(sizes, batch)}
        tstep = torch_step_fn(sizes, batch)
        if tstep is not None:
            steps["torch"] = tstep
        row.update(compare(steps, min_time, rounds))
        row.setdefault("torch", float("nan"))
        rows.append(row)
        print(
            f"  {name} {row['sizes']} batch {batch}: numpy {row['numpy']:.0f}, "
            f"chainrule {row['chainrule']:.0f}, torch {row['torch']:.0f} steps/s",
            file=sys.stderr,
        )
    return rows, threads


def table(rows: list[dict], threads: int) -> str:
    lines = [
        "| case | layers | batch | NumPy by hand (steps/s) | chainrule (steps/s) | "
        "PyTorch eager (steps/s) | chainrule time / NumPy time | chainrule / PyTorch |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['sizes']} | {r['batch']} | {r['numpy']:,.0f} | "
            f"{r['chainrule']:,.0f} | {r['torch']:,.0f} | "
            f"{r['numpy'] / r['chainrule']:.2f}x | {r['chainrule'] / r['torch']:.2f}x |"
        )
    return "\n".join(lines)


def environment(threads: int) -> str:
    try:
        import torch

        tv = f"torch {torch.__version__} (threads {torch.get_num_threads()})"
    except ImportError:
        tv = "torch not installed"
    load = ""
    if hasattr(os, "getloadavg"):
        load = f"; load average at the end {os.getloadavg()[0]:.2f}"
    return (
        f"float32, SGD lr={LR}; Python {platform.python_version()}, NumPy "
        f"{np.__version__}, {tv}; BLAS threads {threads}; {os.cpu_count()} CPUs "
        f"({platform.machine()}){load}."
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter timings")
    ap.add_argument("--profile", action="store_true", help="cProfile the small-MLP step")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/mlp.md")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads for NumPy (and PyTorch); default: NumPy's current",
    )
    args = ap.parse_args(argv)
    rows, threads = run(args.quick, args.threads)
    md = table(rows, threads)
    env = environment(threads)
    print(md)
    print()
    print(env)
    if not args.no_write:
        text = (
            "# MLP training-step benchmark\n\n"
            "One SGD step (forward, softmax cross-entropy, backward, update) per iteration, "
            "best of several timed runs; produced by `python bench/bench_mlp.py`.\n\n"
            f"{md}\n\n{env}\n\n"
            "*chainrule time / NumPy time* is the slowdown against the hand-written floor: "
            "1.00x means as fast as the hand-written NumPy step, 1.10x means 10% slower. "
            "All contenders are timed in interleaved rounds and keep their best round, so "
            "background load affects them alike; on a busy machine prefer `--threads 1` "
            "(multi-threaded BLAS and PyTorch's thread pool degrade badly when the cores "
            "are shared).\n"
        )
        out = HERE / "results" / "mlp.md"  # bench/results/ is git-ignored
        out.parent.mkdir(exist_ok=True)
        out.write_text(text, encoding="utf-8")
    if args.profile:
        print(profile_small())
    return 0


if __name__ == "__main__":
    sys.exit(main())
