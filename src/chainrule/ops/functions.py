"""Composite functions: built from primitives, so they need no rules of their own."""

from __future__ import annotations

from typing import Any

import numpy as np

from .reduce import logsumexp, normalize_axes
from .reduce import sum as _sum


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Arithmetic mean over ``axis`` (the sum divided by the number of elements).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.mean(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    Tensor([1.5, 3.5])
    """
    shape = np.shape(x)
    axes = normalize_axes(axis, len(shape), "mean")
    count = int(np.prod([shape[a] for a in axes])) if axes is not None else int(np.prod(shape))
    return _sum(x, axis=axes, keepdims=keepdims) / max(count, 1)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """log(softmax(x)) = x - logsumexp(x), computed stably.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.exp(cr.log_softmax(cr.Tensor([0.0, 0.0]))).data
    array([0.5, 0.5])
    """
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``axis``, computed stably.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.softmax(cr.Tensor([1.0, 1.0, 1.0])).data.round(3)
    array([0.333, 0.333, 0.333])
    """
    from .elementwise import exp

    return exp(log_softmax(x, axis=axis))
