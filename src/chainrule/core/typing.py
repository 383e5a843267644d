"""Type aliases for code that calls chainrule (and for chainrule's own signatures).

``TensorLike`` is whatever an op accepts as a tensor argument: a :class:`Tensor`, a NumPy
array or scalar, a Python number, or a (nested) sequence of those, which ops convert with
``np.asarray``. ``Axis`` is an op's ``axis`` argument and ``ShapeLike`` a target shape.

Examples
--------
>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule.core.typing import TensorLike
>>> def double(x: TensorLike) -> cr.Tensor:
...     return cr.mul(x, 2)
>>> double([1.0, 2.0]), double(np.ones(2)), double(cr.Tensor(3.0))
(Tensor([2., 4.]), Tensor([2., 2.]), Tensor(6.))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsIndex, TypeAlias

import numpy as np

from .tensor import Tensor

# Real objects (not strings), so users may also use them at runtime (isinstance-free code,
# typing.get_type_hints); every `|` here evaluates on Python 3.10.
TensorLike: TypeAlias = Tensor | np.ndarray | np.generic | float | int | bool | Sequence[Any]
"""A tensor argument: Tensor, ndarray, NumPy scalar, Python number or nested sequence."""

Axis: TypeAlias = int | tuple[int, ...] | None
"""An ``axis`` argument: one axis, several, or None for all of them."""

ShapeLike: TypeAlias = SupportsIndex | Sequence[SupportsIndex]
"""A shape: one length or a sequence of lengths (ints or NumPy integers)."""

__all__ = ["Axis", "ShapeLike", "TensorLike"]
