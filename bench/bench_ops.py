"""Per-call cost of every elementwise primitive, beside ``tanh`` (issue #11's speed target).

For each registered primitive of kind ``unary`` or ``binary``: microseconds per call of a
chain of 50 calls on 4x4 float32 (forward only, and forward + backward), in interleaved
rounds keeping each op's best round, and the ratio to ``tanh`` measured in the same rounds.
On tensors this small the arithmetic is nearly free, so the figure is the op's own
overhead: dispatch, its NumPy forward and its rule. Run ``python bench/bench_ops.py``.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.core import REGISTRY, apply  # noqa: E402
from chainrule.testing.sweep import sample_inputs  # noqa: E402

N_CALLS = 50


def _inputs(prim: type, rng: np.random.Generator) -> list[np.ndarray]:
    low, high = prim.domain
    n = 1 if prim.kind == "unary" else 2
    return [rng.uniform(low, high, (4, 4)).astype(np.float32) for _ in range(n)]


def _params(prim: type, rng: np.random.Generator) -> dict:
    """The op's parameters (an exponent, a slope): those of its first sweep sample."""
    for _, params in sample_inputs(prim, rng):
        return dict(params)
    return {}


def _fns(prim: type, rng: np.random.Generator) -> tuple:
    arrays = _inputs(prim, rng)
    params = _params(prim, rng)

    def fwd() -> None:
        ts = [cr.Tensor(a) for a in arrays]
        for _ in range(N_CALLS):
            apply(prim, *ts, **params)

    def fwd_bwd() -> None:
        ts = [cr.Tensor(a, requires_grad=True) for a in arrays]
        total = None
        for _ in range(N_CALLS):
            y = apply(prim, *ts, **params)
            total = y if total is None else total + y
        total.sum().backward()

    return fwd, fwd_bwd


def measure(rounds: int = 15) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(0)
    names = sorted(
        n for n, p in REGISTRY.items() if p.kind in ("unary", "binary") and p.differentiable
    )
    fns = {n: _fns(REGISTRY[n], rng) for n in names}
    best = {n: [float("inf"), float("inf")] for n in names}
    for _ in range(rounds):
        for n, pair in fns.items():
            for k, fn in enumerate(pair):
                t0 = time.perf_counter()
                fn()
                best[n][k] = min(best[n][k], (time.perf_counter() - t0) / N_CALLS * 1e6)
    return {n: (v[0], v[1]) for n, v in best.items()}


def main() -> str:
    res = measure(5 if "--quick" in sys.argv else 15)
    ft, bt = res["tanh"]
    lines = [
        "### Per-call cost of the elementwise primitives (4x4 float32, µs per call)",
        "",
        "| op | forward | forward + backward | fwd / tanh | fwd+bwd / tanh |",
        "|---|---:|---:|---:|---:|",
    ]
    for n, (f, b) in sorted(res.items(), key=lambda kv: kv[1][1]):
        lines.append(f"| {n} | {f:.2f} | {b:.2f} | {f / ft:.2f}x | {b / bt:.2f}x |")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
