"""Gradient clipping: rescale (by norm) or clamp (by value) gradients in place."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, cast

import numpy as np

from chainrule.core import ChainruleError, GradientError, RowSparse, Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _check(owner: str, what: str, value: Any, positive: bool = False) -> float:
    """``value`` as a float if it is a real number >= 0 (> 0 when ``positive``), not NaN."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or math.isnan(value) or value < 0 or (positive and value == 0):
        raise ChainruleError(
            f"{owner}: {what} must be a number {'>' if positive else '>='} 0, got {value!r}"
        )
    return float(value)


def _params(parameters: Any) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    return [p for p in parameters if p.grad is not None]


def _sparse_values(p: Tensor) -> np.ndarray:
    # Coalesce first: rows repeated in the batch add up before the norm is taken. Clipping
    # scales the values in place: a gradient that was coalesced already may share them
    # (with the backward pass's arrays), a freshly coalesced one owns its sums.
    old = cast(RowSparse, p.grad)  # called only on a RowSparse grad
    g = old.coalesce()
    coalesced = RowSparse(g.indices, g.values.copy() if g is old else g.values, g.shape)
    p.grad = coalesced
    return coalesced.values


def clip_grad_norm_(
    parameters: Iterable[Tensor] | Tensor,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so their joint norm is at most ``max_norm``.

    The norm is taken over every gradient as if concatenated into one vector;
    row-sparse gradients count their (coalesced) rows. Gradients are multiplied by
    ``max_norm / (norm + 1e-6)`` when that is below 1, as in PyTorch.

    Returns
    -------
    Tensor
        The total norm before clipping (a 0-d float64 tensor).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> w = cr.Tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()                  # grad (6, 8), norm 10
    >>> float(optim.clip_grad_norm_([w], 5.0))
    10.0
    >>> w.grad.data.round(4)
    array([3., 4.])
    """
    max_norm = _check("clip_grad_norm_", "max_norm", max_norm)
    norm_type = _check("clip_grad_norm_", "norm_type", norm_type, positive=True)
    params = _params(parameters)
    arrays = []
    for p in params:
        if p.grad is None:
            continue
        arrays.append(_sparse_values(p) if isinstance(p.grad, RowSparse) else p.grad.data)
    if not arrays:
        return Tensor(0.0)
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(a))) if a.size else 0.0 for a in arrays)
    elif norm_type == 2.0:
        # a BLAS dot per gradient: no temporary the size of the gradient
        total = math.sqrt(sum(float(np.dot(a.ravel(), a.ravel())) for a in arrays))
    else:
        total = sum(float(np.sum(np.abs(a, dtype=np.float64) ** norm_type)) for a in arrays) ** (
            1.0 / norm_type
        )
    if error_if_nonfinite and not math.isfinite(total):
        raise GradientError(
            f"clip_grad_norm_: the total {norm_type}-norm of the gradients is "
            f"{total}; some gradient holds NaN or inf (try detect_anomaly())"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in params:
            if isinstance(p.grad, RowSparse):
                p.grad.values *= coef
            elif p.grad is not None:
                p.grad.data *= coef
    return Tensor(total)


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = _check("clip_grad_value_", "clip_value", clip_value)
    for p in _params(parameters):
        if isinstance(p.grad, RowSparse):
            np.clip(_sparse_values(p), -clip_value, clip_value, out=p.grad.values)
        else:
            # a Tensor: _params kept only parameters with a gradient
            np.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)  # type: ignore[union-attr]
