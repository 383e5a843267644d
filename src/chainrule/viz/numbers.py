"""How numbers and arrays are written in explanations and graph labels.

One formatter for every output (text, Markdown, HTML, DOT), so the same value is spelled the
same way everywhere: whole numbers without decimals (``-4``), others with ``precision``
decimals (``0.73``), and scientific notation only where fixed decimals would hide the value
(``1.50e-05``). Arrays up to ``max_elements`` are written in full, larger ones as summary
statistics (shape, norm, the first few entries, mean, min and max), so a 10⁶-element
gradient costs a few passes over the data and one line of text.

Examples
--------
>>> import numpy as np
>>> from chainrule.viz.numbers import format_number, format_array
>>> format_number(-4.0), format_number(0.19661193, 2), format_number(1.5e-5, 2)
('-4', '0.20', '1.50e-05')
>>> format_array(np.array([[1.0, 2.5], [3.0, 4.0]]), precision=1)
'[[1, 2.5], [3, 4]]'
>>> format_array(np.arange(100.0), max_elements=10)
'shape (100,): norm 573.0183, [0, 1, 2, …], mean 49.5000, min 0, max 99'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["format_number", "format_array", "format_shape", "is_scalar", "scalar"]


def format_number(value: Any, precision: int = 4, *, fixed: bool = False) -> str:
    """Write one number: integers plainly, others with ``precision`` decimals.

    Parameters
    ----------
    value : number
        Any real number (NumPy scalars and bools included).
    precision : int
        Digits after the decimal point (and of the mantissa in scientific notation).
    fixed : bool
        Give whole numbers decimals too (``-2.00``, as in the lecture figures).

    Returns
    -------
    str

    Examples
    --------
    >>> format_number(3.0), format_number(-0.5314, 2), format_number(123456789.5, 2)
    ('3', '-0.53', '1.23e+08')
    >>> format_number(-2.0, 2, fixed=True)
    '-2.00'
    """
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        v = 0.0  # also for -0.0: a sign on zero only confuses a reader
        return f"{v:.{precision}f}" if fixed else "0"
    if v.is_integer() and abs(v) < 1e15 and not fixed:
        return str(int(v))
    a = abs(v)
    # Scientific only where fixed decimals would round the value to 0 or grow too wide.
    if a < 10.0**-precision or a >= 1e6:
        return f"{v:.{precision}e}"
    return f"{v:.{precision}f}"


def format_shape(shape: tuple[int, ...]) -> str:
    """``(3, 4)``, ``(5,)``, ``()``: the tuple spelling NumPy users know.

    Examples
    --------
    >>> format_shape((5,)), format_shape(())
    ('(5,)', '()')
    """
    return str(tuple(int(n) for n in shape))


def is_scalar(a: Any) -> bool:
    """True for a one-element array or a plain number."""
    return np.size(a) == 1


def scalar(a: Any) -> float:
    """The value of a one-element array (any shape) as a float."""
    return float(np.asarray(a).reshape(-1)[0])


#: Entries written at the start of a summarised array.
SUMMARY_ENTRIES = 3


def _summary(a: np.ndarray, precision: int) -> str:
    data = a.astype(np.float64, copy=False) if a.dtype.kind in "biu" else a
    finite = np.isfinite(data)
    n_bad = int(data.size - np.count_nonzero(finite))
    first = ", ".join(format_number(v, precision) for v in a.reshape(-1)[:SUMMARY_ENTRIES])
    if n_bad:
        data = data[finite]
    parts = [f"shape {format_shape(a.shape)}:"]
    if data.size:
        norm = float(np.sqrt(np.sum(np.square(data, dtype=np.float64))))
        parts.append(
            f"norm {format_number(norm, precision)}, [{first}, …], "
            f"mean {format_number(data.mean(), precision)}, "
            f"min {format_number(data.min(), precision)}, "
            f"max {format_number(data.max(), precision)}"
        )
    if n_bad:
        n_nan = int(np.isnan(a).sum())
        parts.append(f"({n_nan} nan, {n_bad - n_nan} inf)")
    return " ".join(parts)


def format_array(a: Any, precision: int = 4, max_elements: int = 12, *, fixed: bool = False) -> str:
    """Write a value in full when it has at most ``max_elements`` elements, else summarise.

    Parameters
    ----------
    a : array_like
        The value (a NumPy array, a number, or anything ``np.asarray`` accepts).
    precision : int
        Decimals per number (see :func:`format_number`).
    max_elements : int
        Largest size written element by element; larger arrays give shape, norm, the first
        few entries, mean, min and max (of the finite elements, with a count of NaN/inf if
        any).
    fixed : bool
        As for :func:`format_number`.

    Returns
    -------
    str
        One line.

    Examples
    --------
    >>> format_array(2.0), format_array([0.5, -1.0])
    ('2', '[0.5000, -1]')
    """
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        return str(arr)
    if arr.size > max_elements:
        return _summary(arr, precision)
    if arr.ndim == 0:
        return format_number(arr, precision, fixed=fixed)
    if arr.size == 0:
        return f"[] (shape {format_shape(arr.shape)})"
    text = np.array2string(
        arr,
        separator=", ",
        max_line_width=1_000_000,
        threshold=max_elements + 1,
        formatter={"all": lambda v: format_number(v, precision, fixed=fixed)},
    )
    return " ".join(text.split())  # rows of a matrix on one line
