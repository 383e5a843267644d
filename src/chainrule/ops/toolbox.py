"""The array toolbox: NumPy's array functions, composed from chainrule's primitives.

Every function here has NumPy's name, signature and semantics (``out=`` aside) and is
built from existing primitives (reshape, broadcast_to, getitem, scatter_add, where, sum,
mul, ...), so it needs no derivative rules of its own: its gradients, forward-mode tangents
and higher derivatives are those of the primitives it is made of. The one primitive added
here is :class:`Cbrt` (``x ** (1/3)`` composed would not give NumPy's exact values).

NumPy's own functions on tensors (``np.var(t)``, ``np.kron(a, b)``, ``np.tril(t)``, ...)
are routed here: this module registers them with :mod:`chainrule.ops.numpy_protocol`.

Conventions at points where the derivative does not exist are the primitives': a
``where`` sends the whole gradient to the branch it took (``clip`` with tensor bounds:
inside ``[low, high]``, bounds included, to ``x``; ``nan_to_num``: 1 where ``x`` is finite,
0 where a value was replaced), ``fmax``/``fmin`` split ties as ``maximum`` does.
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import Primitive, Tensor, apply
from ..core.errors import OpError, ShapeError
from ..core.lecture import Lecture
from ..core.tensor import complex_error, is_complex
from . import numpy_protocol as _np_proto
from ._batching import from_derivative
from .arithmetic import add, div, mul, neg, pow, sub
from .cast import astype
from .elementwise import abs as _abs
from .elementwise import sqrt
from .functions import mean
from .index import getitem, scatter_add, take
from .linalg import matmul
from .reduce import max as _max
from .reduce import min as _min
from .reduce import normalize_axes
from .reduce import sum as _sum
from .select import clip as _clip_const
from .select import eq, ge, gt, le, lt, maximum, minimum, ne, values_of, where
from .shape import broadcast_to, check_axis, concatenate, expand_dims, reshape, stack, transpose
from .trig import logaddexp, sin

__all__ = [
    "absolute",
    "amax",
    "amin",
    "angle",
    "append",
    "array_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "average",
    "cbrt",
    "clip",
    "column_stack",
    "conj",
    "conjugate",
    "cross",
    "deg2rad",
    "degrees",
    "diag",
    "diff",
    "divide",
    "dot",
    "equal",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "not_equal",
    "dsplit",
    "dstack",
    "exp2",
    "fabs",
    "fliplr",
    "flipud",
    "fmax",
    "fmin",
    "full",
    "gradient",
    "hsplit",
    "hstack",
    "imag",
    "inner",
    "kron",
    "linspace",
    "logaddexp2",
    "mod",
    "moveaxis",
    "multiply",
    "nan_to_num",
    "negative",
    "outer",
    "power",
    "rad2deg",
    "radians",
    "ravel",
    "real",
    "real_if_close",
    "reciprocal",
    "repeat",
    "rollaxis",
    "rot90",
    "row_stack",
    "select",
    "sinc",
    "split",
    "square",
    "std",
    "subtract",
    "tile",
    "tril",
    "triu",
    "true_divide",
    "var",
    "vsplit",
    "vstack",
]


# ---------------------------------------------------------------------- helpers
def _tensor(x: Any) -> Tensor:
    """``x`` as a Tensor (a Tensor unchanged; anything else wrapped, with its checks)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _dtype(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, Tensor | np.ndarray) else np.asarray(x).dtype


def _count(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> int:
    """How many elements a reduction over ``axes`` (None: all) combines."""
    return math.prod(shape if axes is None else (shape[a] for a in axes))


def _along(axis: int, index: Any) -> tuple:
    """An index applying ``index`` on ``axis`` (full slices before it)."""
    return (slice(None),) * axis + (index,)


def _flip(x: Any, axis: int) -> Tensor:
    # a reversed basic slice: a view, whose gradient getitem scatters back reversed
    return getitem(x, _along(axis, slice(None, None, -1)))


# ---------------------------------------------------------------------- statistics
def var(
    x: Any, axis: Any = None, dtype: Any = None, ddof: float = 0, keepdims: bool = False
) -> Tensor:
    """Variance over ``axis``: the mean squared deviation, divided by ``N - ddof``.

    As ``np.var``: integer inputs give float64; ``ddof=1`` is the unbiased estimate; a
    divisor ``N - ddof <= 0`` gives inf or NaN with NumPy's RuntimeWarning.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    >>> cr.var(x, axis=1)
    Tensor([0.25, 1.  ], op=div)
    >>> cr.var(x, ddof=1).backward()
    >>> x.grad                              # 2 (x - mean) / (N - ddof)
    Tensor([[-1.1667, -0.5   ],
            [ 0.1667,  1.5   ]])
    """
    if dtype is not None:
        x = astype(x, dtype)
    shape = np.shape(x)
    axes = normalize_axes(axis, len(shape), "var")
    d = sub(x, mean(x, axes, keepdims=True))
    total = _sum(mul(d, d), axes, keepdims)
    n = max(_count(shape, axes) - ddof, 0)
    # the divisor in the sum's float dtype, so float32 stays float32 (as in mean)
    return div(total, total.dtype.type(n) if total.dtype.kind == "f" else n)


def std(
    x: Any, axis: Any = None, dtype: Any = None, ddof: float = 0, keepdims: bool = False
) -> Tensor:
    """Standard deviation over ``axis``: ``sqrt(var(x, axis, dtype, ddof, keepdims))``.

    Where the variance is 0 (all values equal) the derivative does not exist: the gradient
    is NaN there (as in PyTorch), never a made-up 0.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.std(cr.Tensor([1.0, 3.0]))
    Tensor(1.)
    """
    return sqrt(var(x, axis, dtype, ddof, keepdims))


def average(
    a: Any, axis: Any = None, weights: Any = None, returned: bool = False, *, keepdims: bool = False
) -> Any:
    """Weighted mean ``sum(a * w, axis) / sum(w, axis)`` (``np.average``).

    ``weights`` (differentiable too) has ``a``'s shape, or is 1-d along a single ``axis``.
    With ``returned=True`` the sum of the weights comes back as well.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.average(cr.Tensor([1.0, 2.0, 4.0]), weights=[1.0, 1.0, 2.0])
    Tensor(2.75)
    """
    nd = np.ndim(a)
    if weights is None:
        avg = mean(a, axis, keepdims)
        scl = Tensor._wrap(
            np.full(
                avg.shape, _count(np.shape(a), normalize_axes(axis, nd, "average")), dtype=avg.dtype
            )
        )
        return (avg, scl) if returned else avg
    ashape, wshape = np.shape(a), np.shape(weights)
    w = weights
    if wshape != ashape:
        if axis is None:
            raise OpError(
                f"average: weights of shape {wshape} differ from a's shape {ashape}: "
                "give the axis they run along (axis=...)"
            )
        if len(wshape) != 1 or not isinstance(axis, int | np.integer):
            raise ShapeError(
                f"average: weights of shape {wshape} must be 1-d along one axis "
                f"(int) when they differ from a's shape {ashape}"
            )
        ax = check_axis(axis, nd, "average")
        if wshape[0] != ashape[ax]:
            raise ShapeError(
                f"average: {wshape[0]} weights do not fit axis {ax} of length {ashape[ax]}"
            )
        w = reshape(weights, (1,) * ax + (-1,) + (1,) * (nd - ax - 1))
    axes = normalize_axes(axis, nd, "average")
    scl = _sum(broadcast_to(w, ashape) if wshape != ashape else w, axes, keepdims)
    # an op, not a test in Python: a compiled call checks every call's weights
    scl = apply(
        NonzeroCheck,
        scl,
        message="average: the weights sum to zero, so they cannot be normalized; "
        "check the weights (or use cr.mean)",
    )
    avg = div(_sum(mul(a, w), axes, keepdims), scl)
    if returned:
        return avg, broadcast_to(scl, avg.shape)
    return avg


# ---------------------------------------------------------------------- products
def outer(a: Any, b: Any) -> Tensor:
    """Outer product of the flattened ``a`` and ``b``: ``out[i, j] = a[i] * b[j]``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.outer(cr.Tensor([1.0, 2.0]), cr.Tensor([1.0, 10.0, 100.0]))
    Tensor([[  1.,  10., 100.],
            [  2.,  20., 200.]])
    """
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def inner(a: Any, b: Any) -> Tensor:
    """Sum-product over the last axes: ``out[i..., j...] = sum(a[i..., :] * b[j..., :])``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.inner(cr.Tensor([1.0, 2.0, 3.0]), cr.Tensor([0.0, 1.0, 0.5]))
    Tensor(3.5)
    """
    sa, sb = np.shape(a), np.shape(b)
    if not sa or not sb:
        return mul(a, b)
    if sa[-1] != sb[-1]:
        raise ShapeError(
            f"inner: the last axes differ in length ({sa} and {sb}); they are "
            f"summed over together, so they must match"
        )
    k = sa[-1]
    rows = matmul(
        reshape(a, (math.prod(sa[:-1]), k)), transpose(reshape(b, (math.prod(sb[:-1]), k)))
    )
    return reshape(rows, sa[:-1] + sb[:-1])


def dot(a: Any, b: Any) -> Tensor:
    """NumPy's ``dot``: a product for scalars, ``matmul`` for vectors and matrices, and for
    N-d inputs the sum over the last axis of ``a`` and the second-to-last of ``b``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.dot(cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0]))
    Tensor(11.)
    >>> cr.dot(cr.Tensor(np.ones((2, 3, 4))), cr.Tensor(np.ones((5, 4, 6)))).shape
    (2, 3, 5, 6)
    """
    sa, sb = np.shape(a), np.shape(b)
    if not sa or not sb:
        return mul(a, b)
    if len(sa) <= 2 and len(sb) <= 2:
        return matmul(a, b)
    k = sa[-1]
    if len(sb) == 1:
        rest_b: tuple[int, ...] = ()
        right = reshape(b, (k, 1))
    else:
        if sb[-2] != k:
            raise ShapeError(
                f"dot: shapes {sa} and {sb} are not aligned (the last axis of a "
                f"and the second-to-last of b must match)"
            )
        rest_b = sb[:-2] + sb[-1:]
        right = reshape(moveaxis(b, -2, 0), (k, math.prod(rest_b)))
    out = matmul(reshape(a, (math.prod(sa[:-1]), k)), right)
    return reshape(out, sa[:-1] + rest_b)


def kron(a: Any, b: Any) -> Tensor:
    """Kronecker product: blocks ``a[i, j] * b`` (any number of dimensions).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.kron(cr.Tensor([1.0, 10.0]), cr.Tensor([1.0, 2.0, 3.0]))
    Tensor([ 1.,  2.,  3., 10., 20., 30.])
    """
    sa, sb = np.shape(a), np.shape(b)
    nd = max(len(sa), len(sb))
    if nd == 0:
        return mul(a, b)
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    # (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...) -> (a0, b0, a1, b1, ...): the blocks in order
    wide = mul(
        reshape(a, tuple(v for s in sa for v in (s, 1))),
        reshape(b, tuple(v for s in sb for v in (1, s))),
    )
    return reshape(wide, tuple(p * q for p, q in zip(sa, sb, strict=True)))


def cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> Tensor:
    """Cross product of 3-vectors (or 2-vectors, taken with a zero third component).

    Two 2-vectors give the scalar z component, as NumPy does.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cross(cr.Tensor([1.0, 0.0, 0.0]), cr.Tensor([0.0, 1.0, 0.0]))
    Tensor([0., 0., 1.])
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ShapeError(f"cross: the vectors must have 2 or 3 components, got {na} and {nb}")

    def part(v: Tensor, n: int, i: int) -> Any:
        return getitem(v, (Ellipsis, i)) if i < n else 0.0

    a0, a1, a2 = (part(a, na, i) for i in range(3))
    b0, b1, b2 = (part(b, nb, i) for i in range(3))
    z = sub(mul(a0, b1), mul(a1, b0))
    if na == 2 and nb == 2:
        return z
    c = stack([sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2)), z], axis=-1)
    return moveaxis(c, -1, axisc)


# ---------------------------------------------------------------------- matrices
def diag(v: Any, k: int = 0) -> Tensor:
    """A 1-d ``v`` on the ``k``-th diagonal of a square matrix, or a matrix's ``k``-th diagonal.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.diag(cr.Tensor([1.0, 2.0]), k=1)
    Tensor([[0., 1., 0.],
            [0., 0., 2.],
            [0., 0., 0.]])
    >>> cr.diag(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor([1., 4.])
    """
    shape = np.shape(v)
    k = operator.index(k)
    if len(shape) == 1:
        i = np.arange(shape[0])
        n = shape[0] + abs(k)
        return scatter_add(v, (i, i + k) if k >= 0 else (i - k, i), (n, n))
    if len(shape) == 2:
        r, c = shape
        m = max(0, min(r, c - k) if k >= 0 else min(r + k, c))
        i = np.arange(m)
        return getitem(v, (i, i + k) if k >= 0 else (i - k, i))
    raise ShapeError(
        f"diag: the input must be 1-d (a diagonal to place) or 2-d (a matrix), "
        f"got shape {shape}; for stacks of matrices use x.diagonal(...)"
    )


def _triangle(m: Any, k: int, lower: bool, name: str) -> Tensor:
    shape = np.shape(m)
    if not shape:
        raise ShapeError(f"{name}: a 0-d tensor has no triangle; give a matrix")
    r, c = (shape[-1], shape[-1]) if len(shape) == 1 else shape[-2:]  # 1-d: as NumPy
    mask = np.tri(r, c, k=k, dtype=bool) if lower else ~np.tri(r, c, k=k - 1, dtype=bool)
    # where (not a multiplication by the mask), so inf and NaN outside become plain 0
    return where(mask, m, np.zeros((), dtype=_dtype(m)))


def tril(m: Any, k: int = 0) -> Tensor:
    """The lower triangle (on and below the ``k``-th diagonal) of the last two axes.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tril(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor([[1., 0.],
            [3., 4.]])
    """
    return _triangle(m, operator.index(k), True, "tril")


def triu(m: Any, k: int = 0) -> Tensor:
    """The upper triangle (on and above the ``k``-th diagonal) of the last two axes.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.triu(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), k=1)
    Tensor([[0., 2.],
            [0., 0.]])
    """
    return _triangle(m, operator.index(k), False, "triu")


# ---------------------------------------------------------------------- differences
def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Tensor:
    """The ``n``-th discrete difference along ``axis``: ``a[1:] - a[:-1]``, ``n`` times.

    ``prepend``/``append`` are joined to ``a`` first (a scalar stands for a slice of it).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.diff(cr.Tensor([1.0, 4.0, 9.0, 16.0]))
    Tensor([3., 5., 7.])
    >>> cr.diff(cr.Tensor([1.0, 4.0, 9.0, 16.0]), n=2, prepend=0.0)
    Tensor([2., 2., 2.])
    """
    n = operator.index(n)
    if n < 0:
        raise OpError(f"diff: the order n must be >= 0, got {n}")
    shape = np.shape(a)
    if not shape:
        raise ShapeError("diff: a 0-d tensor has no differences; give at least 1-d input")
    axis = check_axis(axis, len(shape), "diff")
    x = _tensor(a)
    if prepend is not None or append is not None:
        edge = shape[:axis] + (1,) + shape[axis + 1 :]

        def side(v: Any) -> Any:  # a scalar stands for a slice of the input's shape
            return broadcast_to(v, edge) if np.ndim(v) == 0 else v

        x = concatenate(
            ([side(prepend)] if prepend is not None else [])
            + [x]
            + ([side(append)] if append is not None else []),
            axis=axis,
        )
    hi, lo = _along(axis, slice(1, None)), _along(axis, slice(None, -1))
    for _ in range(n):
        # bool differences are "changed or not", as in NumPy
        x = (
            ne(getitem(x, hi), getitem(x, lo))
            if x.dtype == np.bool_
            else sub(getitem(x, hi), getitem(x, lo))
        )
    return x


def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """The derivative of sampled values along each axis (``np.gradient``): second-order
    accurate differences inside, first- or second-order (``edge_order``) at the ends.

    Returns one tensor per axis (a list when there are several). The spacing of each axis
    is a scalar (the distance between samples) or a 1-d array of the sample coordinates
    (uneven spacing); one for all axes or one per axis, as in NumPy. Spacings and
    coordinates may be Tensors: the result is differentiable in them too, and a compiled
    function re-reads them on every call.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.gradient(cr.Tensor([1.0, 2.0, 4.0, 7.0]))
    Tensor([1. , 1.5, 2.5, 3. ])
    >>> cr.gradient(cr.Tensor([1.0, 2.0, 4.0, 7.0]), [0.0, 1.0, 1.5, 3.5], edge_order=2)
    Tensor([-1. ,  3. ,  3.5, -0.5])
    """
    shape = np.shape(f)
    if axis is None:
        axes: tuple[int, ...] = tuple(range(len(shape)))
    elif isinstance(axis, int | np.integer):  # in the order given, not sorted
        axes = (check_axis(axis, len(shape), "gradient"),)
    else:
        axes = tuple(check_axis(a, len(shape), "gradient") for a in axis)
    if edge_order not in (1, 2) or isinstance(edge_order, bool):
        raise OpError(f"gradient: edge_order must be 1 or 2, got {edge_order!r}")
    if not varargs:
        spacing: list[Any] = [1.0] * len(axes)
    elif len(varargs) == 1:
        spacing = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise OpError(
            f"gradient: give one spacing, or one per axis ({len(axes)}); got {len(varargs)}"
        )
    x = _tensor(f)
    if x.dtype.kind in "iub":
        x = astype(x, np.float64)  # NumPy's gradient of integers is float64
    out = []
    for ax, h in zip(axes, spacing, strict=True):
        n = shape[ax]
        if n < edge_order + 1:
            raise ShapeError(
                f"gradient: axis {ax} has {n} point(s); at least {edge_order + 1} are needed "
                f"for edge_order={edge_order}"
            )

        def at(index: Any, ax: int = ax) -> Tensor:
            return getitem(x, _along(ax, index))

        if np.ndim(h) == 0:
            first, inside, last = _even_differences(at, _spacing(h, x.dtype), edge_order)
        elif np.ndim(h) == 1 and np.shape(h)[0] == n:
            along = [1] * len(shape)
            along[ax] = -1  # coefficients per position on the axis, broadcast across the rest
            first, inside, last = _uneven_differences(
                at, _steps(h, x.dtype), edge_order, tuple(along)
            )
        else:
            raise OpError(
                f"gradient: the spacing of axis {ax} must be a scalar or {n} coordinates "
                f"(a 1-d array as long as the axis), got shape {np.shape(h)}"
            )
        out.append(concatenate([first, inside, last], axis=ax))
    return out[0] if len(out) == 1 else out


def _spacing(h: Any, dtype: np.dtype) -> Any:
    """A scalar spacing in the values' dtype: a Tensor stays one (differentiable, re-read
    by compiled code), anything else becomes a Python float."""
    if isinstance(h, Tensor):
        return h if h.dtype == dtype else astype(h, dtype)
    return float(h)


def _steps(coords: Any, dtype: np.dtype) -> Tensor:
    """The distances between consecutive sample coordinates, in the values' dtype.

    Differenced in the coordinates' own precision first (integers as float64, like NumPy):
    time stamps near 1e6 spaced 0.1 apart keep their steps even for float32 values.
    """
    c = coords if isinstance(coords, Tensor) else Tensor(np.asarray(coords))
    if c.dtype.kind != "f":
        c = astype(c, np.float64)
    dx = sub(getitem(c, slice(1, None)), getitem(c, slice(None, -1)))
    return dx if dx.dtype == dtype else astype(dx, dtype)


def _even_differences(at: Callable[[Any], Tensor], h: Any, edge_order: int) -> tuple:
    """(first, inside, last) slices of the derivative for a constant spacing ``h``."""
    # h * 2.0, not mul(h, 2.0): a Python float must stay one (a 0-d float64 Tensor would
    # promote float32 values)
    inside = div(sub(at(slice(2, None)), at(slice(None, -2))), h * 2.0)
    f0, f1 = at(slice(0, 1)), at(slice(1, 2))
    g0, g1 = at(slice(-1, None)), at(slice(-2, -1))
    if edge_order == 1:
        return div(sub(f1, f0), h), inside, div(sub(g0, g1), h)
    # one-sided second-order: (-3 f0 + 4 f1 - f2) / 2h at the start, mirrored at the end
    f2, g2 = at(slice(2, 3)), at(slice(-3, -2))
    first = div(add(sub(mul(f1, 2.0), mul(f0, 1.5)), mul(f2, -0.5)), h)
    last = div(add(sub(mul(g0, 1.5), mul(g1, 2.0)), mul(g2, 0.5)), h)
    return first, inside, last


def _uneven_differences(
    at: Callable[[Any], Tensor], dx: Tensor, edge_order: int, along: tuple[int, ...]
) -> tuple:
    """(first, inside, last) for uneven steps ``dx``: the derivative of the parabola
    through each three neighbours (inside) and through the first or last two or three
    samples (or the straight line through two, for ``edge_order=1``)."""

    def col(v: Any) -> Tensor:  # a vector of per-position coefficients, along the axis
        return reshape(v, along)

    d1, d2 = getitem(dx, slice(None, -1)), getitem(dx, slice(1, None))  # left, right steps
    s = add(d1, d2)
    a = neg(div(d2, mul(d1, s)))
    b = div(sub(d2, d1), mul(d1, d2))
    c = div(d1, mul(d2, s))
    inside = add(
        add(mul(col(a), at(slice(None, -2))), mul(col(b), at(slice(1, -1)))),
        mul(col(c), at(slice(2, None))),
    )
    f0, f1 = at(slice(0, 1)), at(slice(1, 2))
    g0, g1 = at(slice(-1, None)), at(slice(-2, -1))
    h0, h1 = getitem(dx, slice(0, 1)), getitem(dx, slice(-1, None))  # the first, last step
    if edge_order == 1:
        return div(sub(f1, f0), col(h0)), inside, div(sub(g0, g1), col(h1))
    f2, g2 = at(slice(2, 3)), at(slice(-3, -2))
    d1, d2 = h0, getitem(dx, slice(1, 2))  # the first two steps
    s = add(d1, d2)
    first = add(
        add(
            mul(col(neg(div(add(mul(d1, 2.0), d2), mul(d1, s)))), f0),
            mul(col(div(s, mul(d1, d2))), f1),
        ),
        mul(col(neg(div(d1, mul(d2, s)))), f2),
    )
    d1, d2 = getitem(dx, slice(-2, -1)), h1  # the last two steps
    s = add(d1, d2)
    last = add(
        add(mul(col(div(d2, mul(d1, s))), g2), mul(col(neg(div(s, mul(d1, d2)))), g1)),
        mul(col(div(add(mul(d2, 2.0), d1), mul(d2, s))), g0),
    )
    return first, inside, last


# ---------------------------------------------------------------------- repetition
def tile(A: Any, reps: Any) -> Tensor:  # noqa: N803 - NumPy's name
    """Repeat the whole of ``A`` ``reps`` times along each axis (``np.tile``).

    Built from a broadcast, so the gradient sums the copies back.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tile(cr.Tensor([1.0, 2.0]), (2, 2))
    Tensor([[1., 2., 1., 2.],
            [1., 2., 1., 2.]])
    """
    reps = tuple(int(r) for r in np.atleast_1d(np.asarray(reps)))
    shape = np.shape(A)
    reps = (1,) * (len(shape) - len(reps)) + reps
    shape = (1,) * (len(reps) - len(shape)) + shape
    x = reshape(A, tuple(v for s in shape for v in (1, s)))
    x = broadcast_to(x, tuple(v for r, s in zip(reps, shape, strict=True) for v in (r, s)))
    return reshape(x, tuple(r * s for r, s in zip(reps, shape, strict=True)))


def repeat(a: Any, repeats: Any, axis: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times (an int, or one count per element) along ``axis``.

    ``axis=None`` works on the flattened input. The gradient of each element is the sum
    over its copies.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.repeat(cr.Tensor([1.0, 2.0]), 2)
    Tensor([1., 1., 2., 2.])
    >>> cr.repeat(cr.Tensor([[1.0, 2.0]]), [1, 3], axis=1)
    Tensor([[1., 2., 2., 2.]])
    """
    if axis is None:
        a, axis = reshape(a, -1), 0
    shape = np.shape(a)
    axis = check_axis(axis, len(shape), "repeat")
    r = np.asarray(values_of(repeats))
    if r.ndim == 0:
        count = operator.index(r.item())
        if count < 0:
            raise OpError(f"repeat: the count must be >= 0, got {count}")
        # an int count is a broadcast along a new axis after `axis`, then a reshape
        x = broadcast_to(expand_dims(a, axis + 1), shape[: axis + 1] + (count,) + shape[axis + 1 :])
        return reshape(x, shape[:axis] + (shape[axis] * count,) + shape[axis + 1 :])
    try:
        idx = np.repeat(np.arange(shape[axis]), r)
    except ValueError as exc:
        raise ShapeError(
            f"repeat: {r.size} counts do not fit axis {axis} of length {shape[axis]} ({exc})"
        ) from exc
    return take(a, idx, axis)


# ---------------------------------------------------------------------- dimensions
def _at_least(x: Any, nd: int) -> Tensor:
    t = _tensor(x)
    if t.ndim >= nd:
        return t
    if nd == 1:
        return reshape(t, (1,))
    if nd == 2:
        return reshape(t, (1,) * (2 - t.ndim) + t.shape)
    # 3-d: a vector (n,) becomes (1, n, 1), a matrix (m, n) becomes (m, n, 1)
    return reshape(t, {0: (1, 1, 1), 1: (1,) + t.shape + (1,), 2: t.shape + (1,)}[t.ndim])


def _each(arys: tuple, nd: int) -> Any:
    res = tuple(_at_least(x, nd) for x in arys)
    return res[0] if len(res) == 1 else res


def atleast_1d(*arys: Any) -> Any:
    """Each input with at least 1 dimension (one tensor, or a tuple of them).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.atleast_1d(cr.Tensor(3.0)).shape
    (1,)
    """
    return _each(arys, 1)


def atleast_2d(*arys: Any) -> Any:
    """Each input with at least 2 dimensions: a vector ``(n,)`` becomes a row ``(1, n)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.atleast_2d(cr.Tensor([1.0, 2.0])).shape
    (1, 2)
    """
    return _each(arys, 2)


def atleast_3d(*arys: Any) -> Any:
    """At least 3 dimensions: ``(n,)`` -> ``(1, n, 1)``, ``(m, n)`` -> ``(m, n, 1)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.atleast_3d(cr.Tensor([[1.0, 2.0]])).shape
    (1, 2, 1)
    """
    return _each(arys, 3)


def _seq(tup: Any, name: str) -> list:
    xs = list(tup)
    if not xs:
        raise OpError(f"{name}: got an empty sequence; pass at least one tensor")
    return xs


def _cast_all(xs: list, dtype: Any, casting: str, name: str) -> list:
    if dtype is None:
        return xs
    for x in xs:  # NumPy's check of the cast that dtype= asks for
        if not np.can_cast(x.dtype, dtype, casting):  # type: ignore[arg-type]
            raise OpError(
                f"{name}: cannot cast {x.dtype} to {np.dtype(dtype)} under casting="
                f"{casting!r}; pass casting='unsafe' to allow it"
            )
    return [astype(x, dtype) for x in xs]


def vstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Tensor:
    """Stack along the first axis, vectors as rows (``np.vstack``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.vstack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])]).shape
    (2, 2)
    """
    xs = _cast_all([_at_least(x, 2) for x in _seq(tup, "vstack")], dtype, casting, "vstack")
    return concatenate(xs, axis=0)


row_stack = vstack


def hstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Tensor:
    """Stack along the second axis (the first for vectors) (``np.hstack``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.hstack([cr.Tensor([1.0]), cr.Tensor([2.0, 3.0])])
    Tensor([1., 2., 3.])
    """
    xs = _cast_all([_at_least(x, 1) for x in _seq(tup, "hstack")], dtype, casting, "hstack")
    return concatenate(xs, axis=0 if xs[0].ndim == 1 else 1)


def dstack(tup: Sequence[Any]) -> Tensor:
    """Stack along the third axis, after :func:`atleast_3d` (``np.dstack``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.dstack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])]).shape
    (1, 2, 2)
    """
    return concatenate([_at_least(x, 3) for x in _seq(tup, "dstack")], axis=2)


def column_stack(tup: Sequence[Any]) -> Tensor:
    """Vectors as columns, side by side; matrices joined along axis 1 (``np.column_stack``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.column_stack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])])
    Tensor([[1., 3.],
            [2., 4.]])
    """
    xs = [_tensor(x) for x in _seq(tup, "column_stack")]
    return concatenate([reshape(x, (-1, 1)) if x.ndim < 2 else x for x in xs], axis=1)


def moveaxis(a: Any, source: Any, destination: Any) -> Tensor:
    """Move axes to new positions, the others keeping their order (``np.moveaxis``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.moveaxis(cr.Tensor(np.zeros((2, 3, 4))), 0, -1).shape
    (3, 4, 2)
    """
    nd = np.ndim(a)
    src = [check_axis(s, nd, "moveaxis") for s in np.atleast_1d(source).tolist()]
    dst = [check_axis(d, nd, "moveaxis") for d in np.atleast_1d(destination).tolist()]
    if len(src) != len(dst):
        raise ShapeError(
            f"moveaxis: source {source!r} and destination {destination!r} must name as many axes"
        )
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ShapeError("moveaxis: an axis is repeated in source or destination")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return transpose(a, tuple(order))


def rollaxis(a: Any, axis: int, start: int = 0) -> Tensor:
    """Move ``axis`` to just before ``start`` (``np.rollaxis``; prefer :func:`moveaxis`).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.rollaxis(cr.Tensor(np.zeros((2, 3, 4))), 2).shape
    (4, 2, 3)
    """
    nd = np.ndim(a)
    axis = check_axis(axis, nd, "rollaxis")
    if not -nd <= start <= nd:
        raise ShapeError(f"rollaxis: start {start} is out of range for {nd} dimension(s)")
    start = start + nd if start < 0 else start
    if axis < start:
        start -= 1
    order = [i for i in range(nd) if i != axis]
    order.insert(start, axis)
    return transpose(a, tuple(order))


def ravel(a: Any) -> Tensor:
    """The elements in one dimension, in C order (``np.ravel``; ``t.ravel()``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ravel(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor([1., 2., 3., 4.])
    """
    return reshape(a, -1)


def fliplr(m: Any) -> Tensor:
    """Reverse the columns (axis 1).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.fliplr(cr.Tensor([[1.0, 2.0]]))
    Tensor([[2., 1.]])
    """
    if np.ndim(m) < 2:
        raise ShapeError("fliplr: the input must have at least 2 dimensions")
    return _flip(m, 1)


def flipud(m: Any) -> Tensor:
    """Reverse the rows (axis 0).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.flipud(cr.Tensor([1.0, 2.0]))
    Tensor([2., 1.])
    """
    if np.ndim(m) < 1:
        raise ShapeError("flipud: the input must have at least 1 dimension")
    return _flip(m, 0)


def rot90(m: Any, k: int = 1, axes: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes`` (``np.rot90``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.rot90(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor([[2., 4.],
            [1., 3.]])
    """
    nd = np.ndim(m)
    if len(axes) != 2:
        raise ShapeError("rot90: axes must name 2 axes")
    a0, a1 = (check_axis(a, nd, "rot90") for a in axes)
    if a0 == a1:
        raise ShapeError("rot90: the two axes must differ")
    k = operator.index(k) % 4
    if k == 0:
        return getitem(m, (Ellipsis,))
    if k == 2:
        return _flip(_flip(m, a0), a1)
    perm = list(range(nd))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(_flip(m, a1), tuple(perm))
    return _flip(transpose(m, tuple(perm)), a1)


# ---------------------------------------------------------------------- splitting
def _split(x: Any, ios: Any, axis: int, equal: bool, name: str) -> list[Tensor]:
    shape = np.shape(x)
    axis = check_axis(axis, len(shape), name)
    n = shape[axis]
    if np.ndim(ios) == 0:
        sections = operator.index(ios)
        if sections <= 0:
            raise OpError(f"{name}: the number of sections must be > 0, got {sections}")
        if equal and n % sections:
            raise ShapeError(
                f"{name}: axis {axis} of length {n} does not split into "
                f"{sections} equal sections (use array_split for unequal ones)"
            )
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        bounds = [0, *np.cumsum(sizes).tolist()]
    else:
        bounds = [0, *(operator.index(i) for i in ios), n]
    return [
        getitem(x, _along(axis, slice(lo, hi)))
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split into equal sections (an int) or at the given indices, along ``axis``.

    Each piece is a slice, so its gradient goes back to its place.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.split(cr.Tensor([1.0, 2.0, 3.0, 4.0]), 2)
    [Tensor([1., 2.]), Tensor([3., 4.])]
    >>> [p.shape for p in cr.split(cr.Tensor([1.0, 2.0, 3.0, 4.0]), [1, 3])]
    [(1,), (2,), (1,)]
    """
    return _split(_tensor(ary), indices_or_sections, axis, True, "split")


def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """As :func:`split`, but an int need not divide the axis (the first pieces get one more).

    Examples
    --------
    >>> import chainrule as cr
    >>> [p.shape for p in cr.array_split(cr.Tensor([1.0, 2.0, 3.0]), 2)]
    [(2,), (1,)]
    """
    return _split(_tensor(ary), indices_or_sections, axis, False, "array_split")


def hsplit(ary: Any, indices_or_sections: Any) -> list[Tensor]:
    """:func:`split` along axis 1 (axis 0 for vectors)."""
    nd = np.ndim(ary)
    if nd == 0:
        raise ShapeError("hsplit: the input must have at least 1 dimension")
    return split(ary, indices_or_sections, 1 if nd > 1 else 0)


def vsplit(ary: Any, indices_or_sections: Any) -> list[Tensor]:
    """:func:`split` along axis 0 (the input must have at least 2 dimensions)."""
    if np.ndim(ary) < 2:
        raise ShapeError("vsplit: the input must have at least 2 dimensions")
    return split(ary, indices_or_sections, 0)


def dsplit(ary: Any, indices_or_sections: Any) -> list[Tensor]:
    """:func:`split` along axis 2 (the input must have at least 3 dimensions)."""
    if np.ndim(ary) < 3:
        raise ShapeError("dsplit: the input must have at least 3 dimensions")
    return split(ary, indices_or_sections, 2)


def append(arr: Any, values: Any, axis: int | None = None) -> Tensor:
    """``values`` joined after ``arr`` along ``axis`` (both flattened when None).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.append(cr.Tensor([1.0, 2.0]), [3.0])
    Tensor([1., 2., 3.])
    """
    if axis is None:
        return concatenate([reshape(arr, -1), reshape(_tensor(values), -1)])
    return concatenate([arr, values], axis=axis)


# ---------------------------------------------------------------------- selection
def clip(x: Any, low: Any = None, high: Any = None) -> Tensor:
    """Limit values to ``[low, high]``; the bounds may be tensors (then differentiable).

    Constant bounds use the clip primitive. Tensor bounds are composed with ``where``,
    ``min(max(x, low), high)`` as NumPy computes it: the gradient goes to ``x`` inside
    ``[low, high]`` (bounds included) and to the bound that was applied outside.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([-2.0, 0.5, 2.0], requires_grad=True)
    >>> hi = cr.Tensor(1.0, requires_grad=True)
    >>> y = cr.clip(x, -1.0, hi)
    >>> y.sum().backward()
    >>> y, x.grad, hi.grad
    (Tensor([-1. ,  0.5,  1. ], op=where), Tensor([0., 1., 0.]), Tensor(1.))
    """
    if not (isinstance(low, Tensor) or isinstance(high, Tensor)):
        for bound in (low, high):  # constant bounds are parameters: dispatch sees no array
            if is_complex(bound):
                raise complex_error("clip", np.asarray(bound).dtype)
        return _clip_const(x, low, high)
    y = _tensor(x)
    # the masks are ops (not NumPy on the values), so a compiled call recomputes them
    if low is not None:
        y = where(lt(y, low), low, y)
    if high is not None:
        y = where(gt(y, high), high, y)
    return y


def nan_to_num(
    x: Any,
    copy: bool = True,
    nan: float = 0.0,
    posinf: float | None = None,
    neginf: float | None = None,
) -> Tensor:
    """NaN and infinities replaced by finite numbers (``np.nan_to_num``).

    The gradient is 1 where ``x`` is finite and 0 where a value was replaced (the
    replacement is a constant). ``copy`` is accepted for NumPy's sake: the result is always
    a new tensor (chainrule never writes in place).

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, float("nan"), float("inf")], requires_grad=True)
    >>> y = cr.nan_to_num(x, posinf=9.0)
    >>> y.sum().backward()
    >>> y, x.grad
    (Tensor([1., 0., 9.], op=where), Tensor([1., 0., 0.]))
    """
    t = _tensor(x)
    if t.dtype.kind != "f":
        return t  # integers and bools are always finite
    info = np.finfo(t.dtype)
    big = info.max if posinf is None else posinf
    small = info.min if neginf is None else neginf
    # masks from ops (NaN is the one value unequal to itself), so that a compiled call
    # finds every call's non-finite values; the replacements are constants
    y = where(eq(t, np.inf), np.asarray(big, dtype=t.dtype), t)
    y = where(eq(t, -np.inf), np.asarray(small, dtype=t.dtype), y)
    return where(ne(t, t), np.asarray(nan, dtype=t.dtype), y)


def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Tensor:
    """Elementwise, the choice of the first true condition, else ``default`` (``np.select``).

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([-1.0, 0.5, 3.0])
    >>> cr.select([x.data < 0, x.data > 1], [-x, x * 10], default=x)
    Tensor([ 1. ,  0.5, 30. ])
    """
    if len(condlist) != len(choicelist):
        raise OpError(
            f"select: {len(condlist)} conditions for {len(choicelist)} choices; "
            f"give one condition per choice"
        )
    out = _tensor(default)
    for cond, choice in zip(reversed(condlist), reversed(choicelist), strict=True):
        # a Tensor condition stays an op (a compiled call re-reads it); NumPy masks are
        # constants the caller computed
        if isinstance(cond, Tensor):
            c = cond if cond.dtype == np.bool_ else ne(cond, 0)
        else:
            c = np.asarray(cond, dtype=bool)
        out = where(c, choice, out)
    return out


def fmax(a: Any, b: Any) -> Tensor:
    """Elementwise maximum that ignores NaN (the other value wins; NaN only if both are).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.fmax(cr.Tensor([1.0, float("nan")]), cr.Tensor([2.0, 0.5]))
    Tensor([2. , 0.5])
    """
    return _nan_ignoring(maximum, a, b)


def fmin(a: Any, b: Any) -> Tensor:
    """Elementwise minimum that ignores NaN (the other value wins; NaN only if both are).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.fmin(cr.Tensor([1.0, float("nan")]), cr.Tensor([2.0, 0.5]))
    Tensor([1. , 0.5])
    """
    return _nan_ignoring(minimum, a, b)


def _nan_ignoring(fn: Callable[[Any, Any], Tensor], a: Any, b: Any) -> Tensor:
    # NaN is the one value unequal to itself. The masks are ops, not a NumPy test in
    # Python, so that a compiled call looks for NaNs in every call's values; the gradient
    # goes to the value shown.
    return where(ne(a, a), b, where(ne(b, b), a, fn(a, b)))


# ---------------------------------------------------------------------- elementwise
def square(x: Any) -> Tensor:
    """``x * x`` elementwise (``np.square``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.square(cr.Tensor([-3.0, 2.0]))
    Tensor([9., 4.])
    """
    return mul(x, x)


class NonzeroCheck(Primitive):
    """z = x, after checking that no element of x is zero (raises ``message`` otherwise).

    A divisor's check as an op, so that compiled code checks every call's values (a test
    in Python would run only while the function is traced). The gradient passes through.
    """

    name = "nonzero_check"

    def forward(x: Any, *, message: str) -> Any:
        if not np.all(x):
            raise OpError(message)
        return x

    vjp = (lambda g, out, x, *, message: g,)
    jvp = (lambda t, out, x, *, message: t,)
    lecture = Lecture("{0} (checked ≠ 0)", ("{dz}",), symbol="≠0")

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape in ((), (3,), (2, 3)):
            yield (rng.uniform(0.5, 2.0, shape),), {"message": "zero"}


class Cbrt(Primitive):
    """z = ∛x (real cube root, defined for negative x): dz/dx = 1 / (3 z²), inf at 0."""

    name = "cbrt"
    kind = "unary"
    smooth = False  # the derivative is infinite at 0: samples stay away from it

    forward = np.cbrt

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / (3.0 * out * out))
    lecture = Lecture("∛{0}", ("{dz} / (3 · {z}²)",), numeric=True, symbol="∛")


def cbrt(x: Any) -> Tensor:
    """The real cube root, elementwise (NumPy's exact values; negative inputs allowed).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cbrt(cr.Tensor([-8.0, 27.0]))
    Tensor([-2.,  3.])
    """
    return apply(Cbrt, x)


def fabs(x: Any) -> Tensor:
    """``|x|`` as a float (``np.fabs``: integers give floats).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.fabs(cr.Tensor([-1, 2])).dtype
    dtype('float64')
    """
    t = _tensor(x)
    return _abs(t if t.dtype.kind == "f" else astype(t, np.float64))


def reciprocal(x: Any) -> Tensor:
    """``1 / x`` elementwise (integers follow NumPy: an integer result, no gradient).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.reciprocal(cr.Tensor([2.0, -4.0]))
    Tensor([ 0.5 , -0.25])
    """
    t = _tensor(x)
    if t.dtype.kind != "f":
        return Tensor._wrap(np.reciprocal(t.data))
    return div(t.dtype.type(1), t)


def exp2(x: Any) -> Tensor:
    """``2 ** x`` elementwise.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.exp2(cr.Tensor([3.0, -1.0]))
    Tensor([8. , 0.5])
    """
    t = _tensor(x)
    return pow(t.dtype.type(2) if t.dtype.kind == "f" else 2.0, t)


def logaddexp2(a: Any, b: Any) -> Tensor:
    """``log2(2**a + 2**b)``, computed without overflow.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.logaddexp2(cr.Tensor(3.0), cr.Tensor(3.0))
    Tensor(4.)
    """
    ln2 = math.log(2.0)
    return div(logaddexp(mul(a, ln2), mul(b, ln2)), ln2)


def deg2rad(x: Any) -> Tensor:
    """Degrees to radians: ``x * pi / 180``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.deg2rad(cr.Tensor(180.0))
    Tensor(3.1416)
    """
    return mul(x, math.pi / 180.0)


def rad2deg(x: Any) -> Tensor:
    """Radians to degrees: ``x * 180 / pi``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.rad2deg(cr.Tensor(np.pi))
    Tensor(180.)
    """
    return mul(x, 180.0 / math.pi)


radians, degrees = deg2rad, rad2deg


def sinc(x: Any) -> Tensor:
    """``sin(pi x) / (pi x)``, with the limit 1 at 0 (``np.sinc``).

    At 0 the first derivative is the true one (0); higher derivatives at exactly 0 are
    those of the constant branch (0), not of the function.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sinc(cr.Tensor([0.0, 0.5]))
    Tensor([1.    , 0.6366])
    """
    t = _tensor(x)
    zero = eq(t, 0)  # an op: a compiled call finds every call's zeros
    y = mul(where(zero, 1.0, t), math.pi)  # never 0, so no 0/0 on either branch
    return where(zero, 1.0, div(sin(y), y))


def real(x: Any) -> Tensor:
    """The real part: ``x`` itself (chainrule tensors are real)."""
    return _tensor(x)


def imag(x: Any) -> Tensor:
    """The imaginary part: zeros (chainrule tensors are real), a constant."""
    t = _tensor(x)
    return Tensor._wrap(np.zeros_like(t.data))


def conjugate(x: Any) -> Tensor:
    """The complex conjugate: ``x`` itself (chainrule tensors are real)."""
    return _tensor(x)


conj = conjugate


def real_if_close(a: Any, tol: float = 100) -> Tensor:
    """``a`` itself (chainrule tensors are real)."""
    return _tensor(a)


def angle(z: Any, deg: bool = False) -> Tensor:
    """The argument of a real number: 0 for ``x >= 0``, pi for ``x < 0``; a constant."""
    t = _tensor(z)
    return Tensor._wrap(np.asarray(np.angle(t.data, deg=deg)))


# ---------------------------------------------------------------------- construction
def full(shape: Any, fill_value: Any, dtype: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value`` (a tensor fill value gets the
    sum of the gradient).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.full((2,), cr.Tensor(1.5))
    Tensor([1.5, 1.5])
    """
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    fill = _tensor(fill_value)
    if dtype is not None:
        fill = astype(fill, dtype)
    # times a fresh array of ones: a writable result (a broadcast view is read-only)
    return mul(fill, np.ones(shape, dtype=fill.dtype))


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """``num`` evenly spaced values from ``start`` to ``stop`` (differentiable in both).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linspace(cr.Tensor(0.0), 1.0, 5)
    Tensor([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    num = operator.index(num)
    if num < 0:
        raise OpError(f"linspace: num must be >= 0, got {num}")
    start, stop = _tensor(start), _tensor(stop)
    if start.dtype.kind != "f":
        start = astype(start, np.float64)
    nd = len(np.broadcast_shapes(start.shape, stop.shape))
    steps = np.arange(num, dtype=start.dtype).reshape((num,) + (1,) * nd)
    n_div = num - 1 if endpoint else num
    delta = sub(stop, start)
    if n_div > 0:
        step = div(delta, n_div)
        y = add(mul(steps, step), start)  # as NumPy: arange * step + start
    else:  # num <= 1: just start (NumPy's step is NaN)
        step = mul(delta, np.nan)
        y = add(mul(steps, delta), start)
    if endpoint and num > 1:  # the last value is exactly stop
        y = concatenate(
            [getitem(y, slice(None, -1)), expand_dims(broadcast_to(stop, y.shape[1:]), 0)]
        )
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if dtype is not None:
        y = astype(y, dtype)
    return (y, step) if retstep else y


# ---------------------------------------------------------------------- NumPy names
absolute = _abs
subtract, multiply, negative, power = sub, mul, neg, pow
divide = true_divide = div
amax, amin = _max, _min
equal, not_equal, less, less_equal, greater, greater_equal = eq, ne, lt, le, gt, ge
mod = _np_proto.remainder


# ---------------------------------------------------------------------- NumPy routing
def _numpy_style(
    fn: Callable[..., Any], *, refuse: dict[str, Any] | None = None
) -> Callable[..., Any]:
    """A handler for ``np.<name>(tensor, ...)`` calling ``fn`` with NumPy's arguments.

    Arguments ``fn`` lacks (``out=None`` aside) or values it does not support (``refuse``:
    keyword -> the only accepted value) are reported as unsupported, so that NumPy runs
    for tensors that are not differentiated and a clear error is raised for those that are.
    """
    sig = inspect.signature(fn)
    refuse = refuse or {}

    def handler(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("out", 0) is None:
            del kwargs["out"]
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError:
            extra = sorted(set(kwargs) - set(sig.parameters)) or ["these arguments"]
            raise _np_proto._Unsupported(extra[0]) from None
        for key, ok in refuse.items():
            if key in bound.arguments and bound.arguments[key] != ok:
                raise _np_proto._Unsupported(key)
        return fn(*args, **kwargs)

    return handler


def _var_handler(fn: Callable[..., Any]) -> Callable[..., Any]:
    def h(
        a: Any,
        axis: Any = None,
        dtype: Any = None,
        out: Any = None,
        ddof: float = 0,
        keepdims: Any = False,
        **kw: Any,
    ) -> Any:
        for key in ("where", "mean", "correction"):
            if _np_proto._given(kw, key):
                raise _np_proto._Unsupported(key)
        return fn(a, axis, dtype, ddof, False if keepdims is _np_proto._NO else bool(keepdims))

    return h


def _clip_handler(
    a: Any,
    a_min: Any = _np_proto._NO,
    a_max: Any = _np_proto._NO,
    out: Any = None,
    *,
    min: Any = _np_proto._NO,  # noqa: A002 - NumPy's names
    max: Any = _np_proto._NO,
    **kw: Any,
) -> Any:  # noqa: A002
    if kw:
        raise _np_proto._Unsupported(sorted(kw)[0])
    lo = a_min if a_min is not _np_proto._NO else (None if min is _np_proto._NO else min)
    hi = a_max if a_max is not _np_proto._NO else (None if max is _np_proto._NO else max)
    return clip(a, lo, hi)


def _register() -> None:
    functions: dict[Any, Callable[..., Any]] = {
        np.var: _var_handler(var),
        np.std: _var_handler(std),
        np.clip: _clip_handler,
        np.nan_to_num: _numpy_style(nan_to_num, refuse={"copy": True}),
    }
    for fn in (
        average,
        dot,
        outer,
        inner,
        kron,
        cross,
        diag,
        tril,
        triu,
        diff,
        gradient,
        tile,
        repeat,
        atleast_1d,
        atleast_2d,
        atleast_3d,
        vstack,
        hstack,
        dstack,
        column_stack,
        moveaxis,
        rollaxis,
        fliplr,
        flipud,
        rot90,
        split,
        array_split,
        hsplit,
        vsplit,
        dsplit,
        append,
        select,
        real,
        imag,
        conjugate,
        real_if_close,
        angle,
        sinc,
        linspace,
    ):
        functions[getattr(np, fn.__name__)] = _numpy_style(fn)
    _np_proto.FUNCTIONS.update(functions)
    for ufunc, fn in (
        (np.cbrt, cbrt),
        (np.fabs, fabs),
        (np.reciprocal, reciprocal),
        (np.exp2, exp2),
        (np.logaddexp2, logaddexp2),
        (np.deg2rad, deg2rad),
        (np.rad2deg, rad2deg),
        (np.radians, deg2rad),
        (np.degrees, rad2deg),
        (np.fmax, fmax),
        (np.fmin, fmin),
        (np.conjugate, conjugate),
    ):
        _np_proto.register_ufunc(ufunc, fn)


_register()
