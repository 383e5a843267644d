"""Numeric gradient checking with centered differences.

The analytic gradient from backprop is compared with

    (f(x + eps·e_i) - f(x - eps·e_i)) / (2·eps)

for every element i of every input, in float64. For a non-scalar output, both sides are
projected on one random cotangent u (the check is then on ⟨u, f⟩, which tests the whole
VJP at the cost of one backward pass and two forward passes per element).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import ChainruleError, Tensor, no_grad


class GradcheckError(ChainruleError, AssertionError):
    """Analytic and numeric gradients disagree; the message says where and by how much."""


@dataclass
class Mismatch:
    """One disagreeing element: input ``arg`` at ``index``."""

    arg: int
    index: tuple[int, ...]
    analytic: float
    numeric: float

    @property
    def abs_err(self) -> float:
        return abs(self.analytic - self.numeric)


def central_difference(
    value: Callable[..., float], args: Sequence[Any], k: int, eps: float
) -> np.ndarray:
    """d value / d args[k], elementwise by centered differences.

    ``args[k]`` is perturbed in place one element at a time (and restored): it must be a
    writable float64 array, or a Tensor holding one.
    """
    arr = args[k].data if isinstance(args[k], Tensor) else args[k]
    flat = arr.reshape(-1)  # a view: writing it perturbs the input in place
    numeric = np.zeros(flat.size)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        hi = value(*args)
        flat[i] = orig - eps
        lo = value(*args)
        flat[i] = orig
        numeric[i] = (hi - lo) / (2 * eps)
    return numeric.reshape(arr.shape)


def _scalar_fn(f: Callable[..., Any], u: np.ndarray | None) -> Callable[..., float]:
    def value(*xs: Tensor) -> float:
        out = f(*xs)
        data = out.data if isinstance(out, Tensor) else np.asarray(out)
        return float(np.sum(data * u)) if u is not None else float(data)

    return value


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check ``f``'s reverse-mode gradients against centered finite differences.

    Parameters
    ----------
    f : callable
        Takes Tensors, returns a Tensor.
    *inputs : array_like or Tensor
        Where to check. Floating inputs are converted to float64 copies that require grad;
        integer inputs are passed through unchanged (indices, labels).
    eps : float
        Step of the centered difference.
    atol, rtol : float
        An element fails when ``|analytic - numeric| > atol + rtol * |numeric|``.
    seed : int
        Seed of the random cotangent used for non-scalar outputs.
    raise_exception : bool
        Raise :class:`GradcheckError` on failure (default) instead of returning False.

    Returns
    -------
    bool
        True when every element agrees.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.testing import gradcheck
    >>> gradcheck(lambda x: (x * cr.tanh(x)).sum(), [0.5, -1.0, 2.0])
    True
    """
    xs = []
    for a in inputs:
        arr = a.data if isinstance(a, Tensor) else np.asarray(a)
        if arr.dtype.kind == "f":
            xs.append(Tensor(arr.astype(np.float64, copy=True), requires_grad=True))
        else:
            xs.append(Tensor(arr))
    out = f(*xs)
    if not isinstance(out, Tensor):
        raise GradcheckError("gradcheck: f must return a Tensor")
    u = None
    if out.data.size != 1:
        u = np.random.default_rng(seed).normal(size=out.shape)
    if out.requires_grad:
        out.backward(u if u is not None else None)
    value = _scalar_fn(f, u)

    bad: list[Mismatch] = []
    for k, x in enumerate(xs):
        if not x.requires_grad:
            continue
        analytic = np.zeros(x.shape) if x.grad is None else x.grad.data
        with no_grad():  # the perturbed evaluations need no graph
            numeric = central_difference(value, xs, k, eps)
        err = np.abs(analytic - numeric)
        # argwhere, not nonzero: it also indexes a 0-d input (one row, the empty index)
        for where in np.argwhere(err > atol + rtol * np.abs(numeric)):
            idx = tuple(int(j) for j in where)
            bad.append(Mismatch(k, idx, float(analytic[idx]), float(numeric[idx])))
    if not bad:
        return True
    if not raise_exception:
        return False
    worst = max(bad, key=lambda m: m.abs_err)
    lines = [f"gradcheck failed: {len(bad)} element(s) disagree (atol={atol}, rtol={rtol})."]
    for m in sorted(bad, key=lambda m: -m.abs_err)[:8]:
        lines.append(
            f"  input {m.arg}, element {m.index}: analytic {m.analytic:.6g}, "
            f"numeric {m.numeric:.6g}, abs err {m.abs_err:.3g}"
        )
    lines.append(f"largest error: input {worst.arg}, element {worst.index}")
    raise GradcheckError("\n".join(lines))


def numeric_vjp(
    f: Callable[..., Any], inputs: Sequence[np.ndarray], u: np.ndarray, eps: float = 1e-6
) -> list[np.ndarray]:
    """Centered-difference estimate of uᵀJ for each floating input of ``f`` (float64)."""
    xs = [
        np.array(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
        for a in inputs
    ]
    ts = [Tensor(x) for x in xs]
    value = _scalar_fn(f, u)
    return [
        central_difference(value, ts, k, eps) if t.data.dtype.kind == "f" else None
        for k, t in enumerate(ts)
    ]


def numeric_jvp(
    f: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    tangents: Sequence[np.ndarray | None],
    eps: float = 1e-6,
) -> np.ndarray:
    """Centered-difference estimate of J·v: (f(x + eps·v) - f(x - eps·v)) / (2·eps)."""

    def at(sign: float) -> np.ndarray:
        ts = []
        for x, v in zip(inputs, tangents, strict=True):
            x = np.asarray(x)
            ts.append(Tensor(x + sign * eps * v if v is not None else x))
        with no_grad():
            return np.asarray(f(*ts).data, dtype=np.float64)

    return (at(1.0) - at(-1.0)) / (2 * eps)
