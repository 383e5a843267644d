"""Per-op overhead: a chain of 100 elementwise ops (add, mul, tanh) on 4x4 float32.

On tensors this small the arithmetic is nearly free, so the time per op is the library's
own overhead: dispatch, tensor creation, graph recording and the backward loop. Reported in
microseconds per op, forward only and forward + backward, beside PyTorch (one thread) and
plain NumPy (no autodiff: the floor).
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

N_OPS = 100


def _chain(x, c, tanh):
    # 100 ops: (add, mul, tanh) repeated; the constant keeps values in tanh's lively range
    y = x
    for i in range(N_OPS):
        k = i % 3
        if k == 0:
            y = y + c
        elif k == 1:
            y = y * c
        else:
            y = tanh(y)
    return y


def _time(fn, repeats: int, inner: int) -> float:
    """Median seconds per call of fn over ``repeats`` batches of ``inner`` calls."""
    fn()  # warm up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def measure(repeats: int = 7, inner: int = 50) -> dict[str, dict[str, float]]:
    """µs per op for each library: {'lib': {'forward': .., 'forward+backward': ..}}."""
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(4, 4)).astype(np.float32)
    cv = rng.uniform(0.5, 1.0, size=(4, 4)).astype(np.float32)
    per_op = 1e6 / N_OPS
    results: dict[str, dict[str, float]] = {}

    results["numpy (no autodiff)"] = {
        "forward": _time(lambda: _chain(xv, cv, np.tanh), repeats, inner) * per_op,
        "forward+backward": float("nan"),
    }

    import chainrule as cr

    x = cr.Tensor(xv, requires_grad=True)
    c = cr.Tensor(cv)

    def cr_fb():
        x.grad = None
        _chain(x, c, cr.tanh).sum().backward()

    results["chainrule"] = {
        "forward": _time(lambda: _chain(x, c, cr.tanh), repeats, inner) * per_op,
        "forward+backward": _time(cr_fb, repeats, inner) * per_op,
    }

    try:
        import torch
    except ImportError:
        return results
    torch.set_num_threads(1)
    xt = torch.tensor(xv, requires_grad=True)
    ct = torch.tensor(cv)

    def th_fb():
        xt.grad = None
        _chain(xt, ct, torch.tanh).sum().backward()

    results[f"torch {torch.__version__} (1 thread)"] = {
        "forward": _time(lambda: _chain(xt, ct, torch.tanh), repeats, inner) * per_op,
        "forward+backward": _time(th_fb, repeats, inner) * per_op,
    }
    return results


def main() -> str:
    res = measure()
    lines = ["### Per-op overhead (chain of 100 elementwise ops on 4x4 float32, µs per op)",
             "", "| library | forward | forward + backward |", "|---|---:|---:|"]
    for lib, r in res.items():
        fb = "—" if r["forward+backward"] != r["forward+backward"] else \
            f"{r['forward+backward']:.2f}"
        lines.append(f"| {lib} | {r['forward']:.2f} | {fb} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
