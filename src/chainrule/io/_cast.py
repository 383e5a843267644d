"""Value-preserving casts for loading state into existing parameters and buffers.

``load_state_dict`` (modules and optimisers) casts saved arrays to the dtype of the tensor
they are loaded into. Rounding float64 to float32 is expected; turning a finite 1e300 into
``inf``, a NaN or 1.5 into an integer, or 300 into an ``int8`` is not: those values could
never have come from a tensor of that dtype, so the load must fail instead.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cast_problem", "lossless_cast"]

# Kinds a numeric tensor can hold: float, signed and unsigned integer, bool.
_NUMERIC = "fiub"


def cast_problem(src: np.ndarray, dtype: np.dtype) -> str | None:
    """Why ``src`` cannot be cast to ``dtype`` for loading, or None if it can.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.io._cast import cast_problem
    >>> cast_problem(np.array([1.0, 1e300]), np.dtype(np.float32))
    'value 1e+300 overflows float32'
    >>> cast_problem(np.array([0.1, np.nan]), np.dtype(np.float32)) is None   # NaN stays NaN
    True
    >>> cast_problem(np.array([1.5]), np.dtype(np.int64))
    'value 1.5 cannot be stored exactly in int64'
    >>> cast_problem(np.array(["a"]), np.dtype(np.float32))
    'dtype <U1 cannot be cast to float32'
    """
    dtype = np.dtype(dtype)
    if src.dtype.kind not in _NUMERIC or dtype.kind not in _NUMERIC:
        return f"dtype {src.dtype.str} cannot be cast to {dtype}"
    if src.size == 0 or np.can_cast(src.dtype, dtype, "safe"):
        return None
    if src.dtype.kind in "iu" and dtype.kind in "iu":
        # Compared as Python ints: a round trip would miss the wrap of -1 into uint64.
        info = np.iinfo(dtype)
        lo, hi = int(src.min()), int(src.max())
        if lo < info.min or hi > info.max:
            return f"value {lo if lo < info.min else hi} is out of range for {dtype}"
        return None
    with np.errstate(all="ignore"):
        cast = src.astype(dtype)
        if dtype.kind == "f":  # narrowing float (or int to float16): rounding is fine
            bad = np.isfinite(src) & ~np.isfinite(cast)
        else:  # float to int/bool, int to bool: the value must survive the round trip
            bad = cast.astype(src.dtype) != src  # NaN != NaN, so NaN is refused too
    if not bad.any():
        return None
    value = src.reshape(-1)[int(np.argmax(bad.reshape(-1)))].item()
    if dtype.kind == "f":
        return f"value {value!r} overflows {dtype}"
    return f"value {value!r} cannot be stored exactly in {dtype}"


def lossless_cast(src: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``src`` as ``dtype``, a new array; check it with :func:`cast_problem` first."""
    with np.errstate(all="ignore"):
        return src.astype(dtype, copy=True)
