"""Casting between dtypes: the gradient is cast back to the input's dtype."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, apply
from ..core.lecture import Lecture
from ..core.modes import no_grad
from ..core.tensor import complex_error
from ._batching import elementwise_batched

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from ..core.tensor import Tensor
    from ..core.typing import TensorLike


class Cast(Primitive):
    """z = x converted to ``dtype``."""

    name = "cast"
    lecture = Lecture("{0}.astype({dtype})", ("{dz} cast back to the dtype of {0}",), symbol="cast")

    def forward(x: Any, *, dtype: DTypeLike) -> Any:
        return np.array(x, dtype=dtype)  # a copy, as ndarray.astype; also for numbers, lists

    vjp = (lambda g, out, x, *, dtype: g.astype(x.dtype),)
    jvp = (lambda t, out, x, *, dtype: t.astype(dtype),)
    jvp_batched, vjp_batched = elementwise_batched(jvp, vjp)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape in ((), (3,), (2, 2)):
            yield (rng.normal(size=shape),), {"dtype": np.dtype(np.float64)}


def astype(x: TensorLike, dtype: DTypeLike) -> Tensor:
    """Convert to ``dtype``; casting to an integer or bool type records no gradient.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.astype(cr.Tensor([1.5, 2.5]), "float32").dtype
    dtype('float32')
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise complex_error(f"astype({dtype})", dtype)
    if dtype.kind != "f":
        with no_grad():
            return apply(Cast, x, dtype=dtype)
    return apply(Cast, x, dtype=dtype)
