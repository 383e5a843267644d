"""Composite functions: built from primitives, so they need no rules of their own.

(``log_softmax`` is a primitive, in :mod:`chainrule.ops.reduce`; it is re-exported here.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .reduce import log_softmax, normalize_axes
from .reduce import sum as _sum

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import Axis, TensorLike


def mean(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis`` (the sum divided by the number of elements).

    As ``np.mean``: integer and bool inputs give float64, and the mean over no elements
    (an empty axis) is NaN, with NumPy's RuntimeWarning.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.mean(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    Tensor([1.5, 3.5])
    >>> cr.mean(cr.Tensor([1, 2]))
    Tensor(1.5)
    """
    shape = np.shape(x)
    axes = normalize_axes(axis, len(shape), "mean")
    count = int(np.prod([shape[a] for a in axes])) if axes is not None else int(np.prod(shape))
    total = _sum(x, axis=axes, keepdims=keepdims)
    # The count in the sum's float dtype: NumPy < 2 would widen a 0-d float32 sum divided
    # by a Python int to float64 (value-based casting); NEP 50 (NumPy 2) keeps float32.
    # 0/0 is NaN with a RuntimeWarning, as NumPy (dividing by 1 would claim a mean of 0).
    dt = total.dtype
    return total / (dt.type(count) if dt.kind == "f" else count)


def softmax(x: TensorLike, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, computed stably: exp(log_softmax(x)).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.softmax(cr.Tensor([1.0, 1.0, 1.0])).data.round(3)
    array([0.333, 0.333, 0.333])
    """
    from .elementwise import exp

    return exp(log_softmax(x, axis=axis))
