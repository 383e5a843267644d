"""Which floating dtype an op computes in when it is given integers or bools.

An op whose result is not integral (sigmoid, logsumexp, a loss, ...) must compute in
floating point, choosing the dtype the way NumPy's float ufuncs do (``np.exp``): int64 and
int32 give float64, int16 gives float32, int8, uint8 and bool give float16. Floating inputs
are left as they are, so the check costs one attribute test on the common path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

_FLOAT16 = np.dtype(np.float16)


def float_dtype(dtype: DTypeLike) -> np.dtype:
    """The floating dtype NumPy's float ufuncs compute in for inputs of ``dtype``.

    Examples
    --------
    >>> float_dtype("int64"), float_dtype("int8"), float_dtype(bool), float_dtype("float32")
    (dtype('float64'), dtype('float16'), dtype('float16'), dtype('float32'))
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        return dtype
    return np.promote_types(dtype, _FLOAT16)  # the first float loop NumPy can use safely


def as_floating(x: Any) -> Any:
    """``x`` as a floating array (unchanged when it already is one; see :func:`float_dtype`).

    Examples
    --------
    >>> import numpy as np
    >>> as_floating(np.array([1, 2])).dtype, as_floating(np.array([True])).dtype
    (dtype('float64'), dtype('float16'))
    """
    dt = getattr(x, "dtype", None)
    if dt is not None and dt.kind in "fc":
        return x  # the common case: one attribute test
    x = np.asarray(x)
    if x.dtype.kind in "fc":
        return x
    return x.astype(float_dtype(x.dtype))
