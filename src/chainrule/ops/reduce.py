"""Reductions: sum, max, min and logsumexp over any axes, with keepdims; and log_softmax.

The VJP of a reduction spreads the upstream gradient back over the reduced axes: ``sum``
copies it to every element, ``max``/``min`` route it to the elements that won (split evenly
on ties), ``logsumexp`` weights it by the softmax.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, Tensor, apply
from ..core.errors import ShapeError
from ..core.lecture import Lecture
from ._dtypes import as_floating
from .select import values_of, where
from .shape import broadcast_to

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import Axis, TensorLike


def normalize_axes(axis: Any, ndim: int, opname: str) -> tuple[int, ...] | None:
    """Canonical form of an ``axis`` argument: None, or a sorted tuple of positive axes."""
    if axis is None:
        return None
    try:
        axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    except TypeError:
        axes = (axis,)
    if not all(isinstance(a, int | np.integer) and not isinstance(a, bool) for a in axes):
        raise ShapeError(f"{opname}: axis must be None, an int or a tuple of ints, got {axis!r}")
    out = []
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ShapeError(
                f"{opname}: axis {ax} is out of range for a tensor with "
                f"{ndim} dimension(s) (valid: {-ndim}..{builtins.max(ndim - 1, 0)})"
            )
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{opname}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def keep_reduced(g: Any, ndim: int, axis: tuple[int, ...] | None, keepdims: bool) -> Any:
    """Reshape a reduced gradient so it broadcasts against the unreduced input."""
    if keepdims or g.ndim == ndim:
        return g
    if axis is None:
        return g.reshape((1,) * ndim)
    shape = list(g.shape)
    for ax in axis:
        shape.insert(ax, 1)
    return g.reshape(tuple(shape))


def _spread(g: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    return broadcast_to(keep_reduced(g, x.ndim, axis, keepdims), x.shape)


def _reduction_batched(weights: Any) -> tuple[Any, Any]:
    """``jvp_batched``/``vjp_batched`` of a reduction (see :mod:`chainrule.core.primitive`).

    ``weights`` is None for sum; for max, min and logsumexp it is a NumPy function
    ``weights(out, x, axis, keepdims)`` giving dz/dx, of x's shape.
    """

    def jvp_batched(tans: list, out: Any, args: list, params: dict) -> Any:
        x, axis, keepdims = args[0], params.get("axis"), params.get("keepdims", False)
        t = tans[0] if weights is None else tans[0] * weights(out, x, axis, keepdims)
        axes = range(x.ndim) if axis is None else axis
        return t.sum(axis=tuple(a + 1 for a in axes), keepdims=keepdims)  # skip batch axis

    def vjp_batched(i: int, g: Any, out: Any, args: list, params: dict) -> Any:
        x, axis, keepdims = args[0], params.get("axis"), params.get("keepdims", False)
        # (B,)+out.shape -> (B,)+out.shape with the reduced axes kept as length 1
        gk = g.reshape((g.shape[0],) + np.shape(keep_reduced(out, x.ndim, axis, keepdims)))
        if weights is None:
            return np.broadcast_to(gk, (g.shape[0],) + x.shape)
        return gk * weights(out, x, axis, keepdims)

    return jvp_batched, vjp_batched


class Sum(Primitive):
    """z = Σ x over ``axis``: every summed element receives the upstream gradient."""

    name = "sum"
    lecture = Lecture(
        "sum({0}{reduce})",
        ("{dz} copied to every summed element of {0}",),
        symbol="Σ",
        gate="sum spreads: every summed element receives the upstream gradient",
    )
    kind = "reduction"

    def forward(x: Any, *, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
        return np.sum(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload, unused-ignore]

    vjp = (lambda g, out, x, *, axis=None, keepdims=False: _spread(g, x, axis, keepdims),)
    jvp = (lambda t, out, x, *, axis=None, keepdims=False: t.sum(axis=axis, keepdims=keepdims),)
    jvp_batched, vjp_batched = _reduction_batched(None)


def sum(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all axes; an int or a tuple of ints).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sum(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    Tensor([4., 6.])
    """
    return apply(Sum, x, axis=normalize_axes(axis, np.ndim(x), "sum"), keepdims=keepdims)


def _argext_weights(out: Any, x: Any, axis: Any, keepdims: bool, dtype: Any) -> Any:
    # 1 for each element equal to the extreme, divided by how many tie: the gradient of a
    # max is routed to the winner(s). The weights are constants to differentiation, so
    # they are computed on plain arrays, except in a recorded pass (or a trace being
    # compiled), where they are ops without a branch on the values (x != x marks NaNs).
    if isinstance(x, Tensor) or isinstance(out, Tensor):
        from .cast import astype
        from .select import eq, maximum, ne

        hit_t = astype(maximum(eq(x, keep_reduced(out, x.ndim, axis, keepdims)), ne(x, x)), dtype)
        return hit_t / hit_t.sum(axis=axis, keepdims=True)
    x = values_of(x)
    ref = keep_reduced(values_of(out), x.ndim, axis, keepdims)
    hit = x == ref
    if np.isnan(ref).any():
        # np.max returns NaN for a slice holding a NaN: route the gradient to the NaN(s),
        # the element the output shows (as PyTorch), instead of 0/0 = NaN everywhere.
        hit |= np.isnan(x)
    hit = hit.astype(dtype)
    return hit / hit.sum(axis=axis, keepdims=True)


def _ext_vjp(g: Any, out: Any, x: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
    return keep_reduced(g, x.ndim, axis, keepdims) * _argext_weights(
        out, x, axis, keepdims, g.dtype
    )


def _ext_jvp(t: Any, out: Any, x: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
    return (t * _argext_weights(out, x, axis, keepdims, t.dtype)).sum(axis=axis, keepdims=keepdims)


def _argext_batch_weights(out: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    return _argext_weights(out, x, axis, keepdims, x.dtype)  # for the batched rules


class Max(Primitive):
    """z = max of x over ``axis``: the gradient goes to the maximal element(s).

    Ties share the gradient equally. A slice holding NaN has max NaN (as ``np.max``); its
    gradient goes to the NaN element(s), split equally (as PyTorch), so it stays finite.
    """

    name = "max"
    lecture = Lecture(
        "max({0}{reduce})",
        ("{dz} at the maximum of {0}, 0 elsewhere",),
        symbol="max",
        gate="max routes: the gradient goes to the maximal element(s), 0 elsewhere",
    )
    kind = "reduction"
    smooth = False

    def forward(x: Any, *, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
        return np.max(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload, unused-ignore]

    vjp = (_ext_vjp,)
    jvp = (_ext_jvp,)
    jvp_batched, vjp_batched = _reduction_batched(_argext_batch_weights)


def max(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; ties share the gradient equally.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.max(cr.Tensor([[1.0, 5.0], [3.0, 4.0]]), axis=1)
    Tensor([5., 4.])
    """
    return apply(Max, x, axis=normalize_axes(axis, np.ndim(x), "max"), keepdims=keepdims)


class Min(Primitive):
    """z = min of x over ``axis``: the gradient goes to the minimal element(s).

    Ties and NaN as in :class:`Max`: a slice holding NaN sends its gradient to the NaN(s).
    """

    name = "min"
    lecture = Lecture(
        "min({0}{reduce})",
        ("{dz} at the minimum of {0}, 0 elsewhere",),
        symbol="min",
        gate="min routes: the gradient goes to the minimal element(s), 0 elsewhere",
    )
    kind = "reduction"
    smooth = False

    def forward(x: Any, *, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
        return np.min(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload, unused-ignore]

    vjp = (_ext_vjp,)
    jvp = (_ext_jvp,)
    jvp_batched, vjp_batched = _reduction_batched(_argext_batch_weights)


def min(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``; ties share the gradient equally.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.min(cr.Tensor([[1.0, 5.0], [3.0, 4.0]]), axis=1)
    Tensor([1., 3.])
    """
    return apply(Min, x, axis=normalize_axes(axis, np.ndim(x), "min"), keepdims=keepdims)


def _logsumexp(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    x = as_floating(x)  # integers: computed as np.exp would (int64 -> float64)
    # initial=-inf: an empty slice has max -inf (and logsumexp -inf, the empty sum's log)
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, m.dtype.type(0))  # all -inf rows: avoid inf - inf
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for them
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)  # type: ignore[no-any-return]  # NumPy: Any


def _finite_shift(out: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """``out`` shaped to broadcast against ``x``, with -inf (all -inf slices) made 0."""
    ref = keep_reduced(out, x.ndim, axis, keepdims)
    if isinstance(ref, Tensor):  # recorded or traced: the mask is an op, always applied
        from .select import eq

        return where(eq(ref, -np.inf), 0.0, ref)
    lost = values_of(ref) == -np.inf
    # exp(x - out) would be exp(-inf + inf) = NaN there; with 0 it is exp(-inf) = 0: the
    # gradient of an all -inf slice is 0 (a masked-out row sends nothing back).
    return where(lost, 0.0, ref) if lost.any() else ref


def _softmax_weights(out: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    from .elementwise import exp

    return exp(x - _finite_shift(out, x, axis, keepdims))


def _softmax_batch_weights(out: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    return np.exp(x - _finite_shift(out, x, axis, keepdims))  # arrays only: plain NumPy


class LogSumExp(Primitive):
    """z = log Σ exp(x) over ``axis``, computed stably by shifting by the max.

    dz/dx = softmax(x), so the VJP is the upstream gradient weighted by the softmax. A
    slice that is all -inf (or empty) gives -inf, with gradient 0. Integer inputs are
    computed in floating point.
    """

    name = "logsumexp"
    lecture = Lecture("logsumexp({0}{reduce})", ("{dz} · softmax({0})",), symbol="logΣexp")
    kind = "reduction"

    def forward(x: Any, *, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
        return _logsumexp(x, axis, keepdims)

    vjp = (
        lambda g, out, x, *, axis=None, keepdims=False: (
            keep_reduced(g, x.ndim, axis, keepdims) * _softmax_weights(out, x, axis, keepdims)
        ),
    )
    jvp = (
        lambda t, out, x, *, axis=None, keepdims=False: (
            t * _softmax_weights(out, x, axis, keepdims)
        ).sum(axis=axis, keepdims=keepdims),
    )
    jvp_batched, vjp_batched = _reduction_batched(_softmax_batch_weights)


def logsumexp(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, without overflow.

    Examples
    --------
    >>> import chainrule as cr
    >>> float(cr.logsumexp(cr.Tensor([1000.0, 1000.0])))
    1000.6931471805599
    """
    return apply(
        LogSumExp, x, axis=normalize_axes(axis, np.ndim(x), "logsumexp"), keepdims=keepdims
    )


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = as_floating(x)  # integers: computed as np.exp would (int64 -> float64)
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0)  # -inf/inf/NaN slices: shifting cannot help
    # Shift first, then subtract log Σ exp: both terms are small. x - logsumexp(x) would
    # subtract two numbers near max(x), whose float32 spacing is 1e-3 at 1e4.
    z = x - m
    with np.errstate(divide="ignore"):  # all -inf slices: log 0
        return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))  # type: ignore[no-any-return]


def _log_softmax_vjp(g: Any, out: Any, x: Any, *, axis: int) -> Any:
    from .elementwise import exp

    return g - exp(out) * sum(g, axis=axis, keepdims=True)  # (I - 1 pᵀ)ᵀ g


def _log_softmax_jvp(t: Any, out: Any, x: Any, *, axis: int) -> Any:
    from .elementwise import exp

    return t - sum(exp(out) * t, axis=axis, keepdims=True)  # (I - 1 pᵀ) t


class LogSoftmax(Primitive):
    """z = x - logsumexp(x) along ``axis``: dz/dx = I - 1·pᵀ with p = softmax(x) = exp(z).

    One node, computed as (x - max) - log Σ exp(x - max): the shift by the max changes
    neither value nor gradient, and keeps float32 accurate for large x. Integer inputs are
    computed in floating point.
    """

    name = "log_softmax"
    lecture = Lecture(
        "log_softmax({0}, axis={axis})",
        ("{dz} − softmax({0}) · Σ{dz} (the sum along the axis)",),
        symbol="log softmax",
    )

    def forward(x: Any, *, axis: int) -> Any:
        return _log_softmax(x, axis)

    vjp = (_log_softmax_vjp,)
    jvp = (_log_softmax_jvp,)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        t = tans[0]  # (B,) + x.shape: the softmax axis moves one to the right
        return t - (np.exp(out) * t).sum(axis=params["axis"] + 1, keepdims=True)

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return g - np.exp(out) * g.sum(axis=params["axis"] + 1, keepdims=True)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, axis in (
            ((4,), 0),
            ((2, 3), 1),
            ((2, 3), 0),
            ((2, 3, 4), 1),
            ((1, 3), 0),
            ((3, 1), 1),
        ):
            yield (rng.normal(size=shape) * 2,), {"axis": axis}


def log_softmax(x: TensorLike, axis: int = -1) -> Tensor:
    """log(softmax(x)) = x - logsumexp(x) along ``axis``, computed stably.

    The max along ``axis`` is subtracted first (a constant shift that changes neither the
    value nor the gradient), so float32 inputs with large values stay accurate.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.exp(cr.log_softmax(cr.Tensor([0.0, 0.0]))).data
    array([0.5, 0.5])
    >>> cr.log_softmax(cr.Tensor([1e6, 1e6 + 1], dtype="float32")).data
    array([-1.3132616 , -0.31326166], dtype=float32)
    """
    from .shape import check_axis

    return apply(LogSoftmax, x, axis=check_axis(axis, np.ndim(x), "log_softmax"))
