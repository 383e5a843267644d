"""Products and running totals: prod, cumsum and cumprod, with NumPy's names and axes.

``cumsum``'s VJP is a cumulative sum run backwards (each input contributes to every later
output). The product rules never divide by x, so zeros are exact: the derivative of a
product with respect to one factor is the product of the *other* factors, computed as
(product of those before) · (product of those after), two exclusive cumulative products.
With one zero in a slice, that zero's gradient is the product of the others and every
other gradient is 0; with two or more zeros, all are 0. No 0/0, no NaN.

``cumprod``'s rules push the derivative through the same computation as a parallel prefix
scan (Hillis-Steele: log₂ n steps ``y ← y · shift(y, 2^k)``), in reverse for the VJP: about
``n log n`` work, no division, and every step an op that can be differentiated again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, apply
from ..core.lecture import Lecture
from .arrange import flip
from .reduce import _reduction_batched, keep_reduced, normalize_axes
from .select import values_of
from .shape import check_axis, concatenate, reshape, transpose

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import Axis, TensorLike

__all__ = ["cumprod", "cumsum", "prod"]


def _part(y: Any, axis: int, start: int | None, stop: int | None) -> Any:
    return y[(slice(None),) * axis + (slice(start, stop),)]


def _block(y: Any, axis: int, n: int, fill: float) -> np.ndarray:
    shape = list(np.shape(y))
    shape[axis] = n
    return np.full(shape, fill, dtype=y.dtype)


def _shift(y: Any, s: int, axis: int, fill: float) -> Any:
    """``y`` moved ``s`` places forward along ``axis`` (s < 0: backward), ``fill`` coming in."""
    n = np.shape(y)[axis]
    if abs(s) >= n:
        return _block(y, axis, n, fill)
    if s > 0:
        return concatenate([_block(y, axis, s, fill), _part(y, axis, None, n - s)], axis)
    return concatenate([_part(y, axis, -s, None), _block(y, axis, -s, fill)], axis)


def _scan_levels(x: Any, axis: int) -> list[tuple[Any, int]]:
    """The inputs ``(y, s)`` of the scan's steps ``y ← y · shift(y, s)`` (s = 1, 2, 4, ...)."""
    n = np.shape(x)[axis]
    levels = []
    y, s = x, 1
    while s < n:
        levels.append((y, s))
        if 2 * s < n:  # the last step's output is never read by the rules
            y = y * _shift(y, s, axis, 1.0)
        s *= 2
    return levels


def _cumprod_jvp(t: Any, x: Any, axis: int, taxis: int) -> Any:
    # d(y · shift(y)) = dy · shift(y) + y · shift(dy); the tangent carries a batch axis when
    # taxis = axis + 1 (batched rule), and y broadcasts against it.
    if type(t) is np.ndarray and type(x) is np.ndarray:
        return _cumprod_jvp_np(t, x, axis, taxis)
    for y, s in _scan_levels(x, axis):
        t = t * _shift(y, s, axis, 1.0) + y * _shift(t, s, taxis, 0.0)
    return t


def _cumprod_vjp(g: Any, x: Any, axis: int, gaxis: int) -> Any:
    # the transpose of each step, last step first: shift's transpose is the shift back
    if type(g) is np.ndarray and type(x) is np.ndarray:
        return _cumprod_vjp_np(g, x, axis, gaxis)
    for y, s in reversed(_scan_levels(x, axis)):
        g = g * _shift(y, s, axis, 1.0) + _shift(g * y, -s, gaxis, 0.0)
    return g


# The same scan on plain arrays (first-order passes, batched rules): the shifts become
# slices written in place, instead of new arrays joined by concatenate (3x faster).
def _scan_levels_np(x: np.ndarray, axis: int) -> list[tuple[np.ndarray, int]]:
    n = x.shape[axis]
    levels = []
    y, s = x, 1
    while s < n:
        levels.append((y, s))
        if 2 * s < n:
            nxt = y.copy()
            nxt[_cut(axis, s, None)] *= y[_cut(axis, None, -s)]
            y = nxt
        s *= 2
    return levels


def _cut(axis: int, start: int | None, stop: int | None) -> tuple[slice, ...]:
    return (slice(None),) * axis + (slice(start, stop),)


def _cumprod_jvp_np(t: np.ndarray, x: np.ndarray, axis: int, taxis: int) -> np.ndarray:
    for y, s in _scan_levels_np(x, axis):
        new = t.copy()
        new[_cut(taxis, s, None)] *= y[_cut(axis, None, -s)]
        new[_cut(taxis, s, None)] += y[_cut(axis, s, None)] * t[_cut(taxis, None, -s)]
        t = new
    return t


def _cumprod_vjp_np(g: np.ndarray, x: np.ndarray, axis: int, gaxis: int) -> np.ndarray:
    for y, s in reversed(_scan_levels_np(x, axis)):
        new = g.copy()
        new[_cut(gaxis, s, None)] *= y[_cut(axis, None, -s)]
        new[_cut(gaxis, None, -s)] += g[_cut(gaxis, s, None)] * y[_cut(axis, s, None)]
        g = new
    return g


class CumProd(Primitive):
    """z_k = x_0 · x_1 ⋯ x_k along ``axis``: dz_k/dx_i is the product of the other factors.

    The rules run a prefix scan (see the module doc): no division, so zeros are exact.
    """

    name = "cumprod"
    lecture = Lecture(
        "cumprod({0}, axis={axis})",
        ("Σ_{k ≥ i} {dz}_k · (product of the factors of {z}_k other than {0}_i)",),
        symbol="∏…",
        gate="cumprod: each factor receives the upstream gradients of the "
        "outputs it enters, times the other factors (no division)",
    )

    def forward(x: Any, *, axis: Any) -> Any:
        return np.cumprod(x, axis=axis)

    vjp = (lambda g, out, x, *, axis: _cumprod_vjp(g, x, axis, axis),)
    jvp = (lambda t, out, x, *, axis: _cumprod_jvp(t, x, axis, axis),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        axis = params["axis"]
        return _cumprod_jvp(tans[0], np.asarray(args[0]), axis, axis + 1)

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        axis = params["axis"]
        return _cumprod_vjp(g, np.asarray(args[0]), axis, axis + 1)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        yield (rng.uniform(-1.5, 1.5, 6),), {"axis": 0}
        yield (rng.uniform(-1.5, 1.5, (3, 5)),), {"axis": 1}
        yield (rng.uniform(-1.5, 1.5, (4, 2, 3)),), {"axis": 0}
        yield (np.array([0.5, 0.0, 2.0, -1.5, 0.7]),), {"axis": 0}  # one zero
        yield (np.array([[1.5, 0.0, 0.8, 0.0, 1.2]]),), {"axis": 1}  # two zeros
        yield (rng.uniform(-1.2, 1.2, (2, 9)),), {"axis": 1}
        yield (rng.uniform(-1.0, 1.0, (1,)),), {"axis": 0}


def _axis_or_flat(x: Any, axis: Any, opname: str) -> tuple[Any, int]:
    if axis is None:  # NumPy works on the flattened array
        return reshape(x, -1), 0
    return x, check_axis(axis, np.ndim(x), opname)


def cumprod(x: TensorLike, axis: int | None = None) -> Tensor:
    """Cumulative product along ``axis`` (None: the flattened tensor), as ``np.cumprod``.

    Zeros are handled exactly (the gradient never divides by x).

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> y = cr.cumprod(x)
    >>> y
    Tensor([2., 0., 0.], op=cumprod)
    >>> y.sum().backward()
    >>> x.grad                        # d(2 + 2·x1 + 2·x1·x2)/dx = (1, 2 + 2·3, 0)
    Tensor([1., 8., 0.])
    """
    x, axis = _axis_or_flat(x, axis, "cumprod")
    return apply(CumProd, x, axis=axis)


# ---------------------------------------------------------------------- cumsum
def _rcumsum(g: Any, axis: int) -> Any:
    return flip(cumsum(flip(g, axis), axis), axis)  # Σ_{k ≥ i} g_k


class CumSum(Primitive):
    """z_k = x_0 + ... + x_k along ``axis``: dx_i = Σ_{k ≥ i} dz_k (a reversed cumsum)."""

    name = "cumsum"
    lecture = Lecture(
        "cumsum({0}, axis={axis})",
        ("Σ_{k ≥ i} {dz}_k (a reversed cumsum)",),
        symbol="Σ…",
        gate="cumsum: each input receives the sum of the upstream gradients of "
        "the outputs it enters (a cumulative sum run backwards)",
    )

    def forward(x: Any, *, axis: Any) -> Any:
        return np.cumsum(x, axis=axis)

    vjp = (lambda g, out, x, *, axis: _rcumsum(g, axis),)
    jvp = (lambda t, out, x, *, axis: cumsum(t, axis),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return np.cumsum(tans[0], axis=params["axis"] + 1)

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        ax = params["axis"] + 1
        return np.flip(np.cumsum(np.flip(g, ax), axis=ax), ax)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, axis in (
            ((5,), 0),
            ((2, 3), 1),
            ((2, 3), 0),
            ((2, 3, 4), 1),
            ((1,), 0),
            ((3, 0), 1),
        ):
            yield (rng.normal(size=shape),), {"axis": axis}


def cumsum(x: TensorLike, axis: int | None = None) -> Tensor:
    """Cumulative sum along ``axis`` (None: the flattened tensor), as ``np.cumsum``.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> cr.cumsum(x, axis=1)
    Tensor([[1., 3.],
            [3., 7.]], op=cumsum)
    >>> cr.cumsum(x, axis=1).sum().backward()
    >>> x.grad                        # x[:, 0] enters both outputs of its row
    Tensor([[2., 1.],
            [2., 1.]])
    """
    x, axis = _axis_or_flat(x, axis, "cumsum")
    return apply(CumSum, x, axis=axis)


# ---------------------------------------------------------------------- prod
def _others(x: Any, axes: tuple[int, ...]) -> Any:
    """For each element, the product of the *other* elements of its slice over ``axes``.

    The reduced axes are moved last and flattened into one, of length m; there the product
    of the others is (exclusive cumprod from the left) · (exclusive cumprod from the right).
    Written with chainrule ops: it is differentiated again for higher orders.
    """
    nd = np.ndim(x)
    shape = np.shape(x)
    kept = tuple(d for d in range(nd) if d not in axes)
    perm = kept + tuple(axes)
    m = int(np.prod([shape[d] for d in axes], dtype=np.int64))
    if type(x) is np.ndarray:  # first-order pass: the same on arrays, without extra copies
        return _others_np(x, perm, len(kept), m)
    xt = transpose(x, perm) if perm != tuple(range(nd)) else x
    xt = reshape(xt, tuple(shape[d] for d in kept) + (m,))
    last = len(kept)
    before = cumprod(_shift(xt, 1, last, 1.0), last)
    after = flip(cumprod(_shift(flip(xt, last), 1, last, 1.0), last), last)
    p = reshape(before * after, tuple(shape[d] for d in perm))
    return transpose(p, tuple(int(a) for a in np.argsort(perm))) if perm != tuple(range(nd)) else p


def _others_np(x: np.ndarray, perm: tuple[int, ...], n_kept: int, m: int) -> np.ndarray:
    xt = x.transpose(perm).reshape(tuple(x.shape[d] for d in perm[:n_kept]) + (m,))
    before = np.ones_like(xt)
    after = np.ones_like(xt)
    before[..., 1:] = np.cumprod(xt[..., :-1], axis=-1)
    after[..., :-1] = np.cumprod(xt[..., :0:-1], axis=-1)[..., ::-1]
    p = (before * after).reshape(tuple(x.shape[d] for d in perm))
    return p.transpose(np.argsort(perm))


def _prod_axes(x: Any, axis: Any) -> tuple[int, ...]:
    return tuple(range(np.ndim(x))) if axis is None else axis


def _prod_vjp(g: Any, out: Any, x: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
    return keep_reduced(g, x.ndim, axis, keepdims) * _others(x, _prod_axes(x, axis))


def _prod_jvp(t: Any, out: Any, x: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
    return (t * _others(x, _prod_axes(x, axis))).sum(axis=axis, keepdims=keepdims)


def _prod_weights(out: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    return _others(values_of(x), _prod_axes(x, axis))  # dz/dx for the batched rules


class Prod(Primitive):
    """z = Π x over ``axis``: dz/dx_i is the product of the other elements (no division)."""

    name = "prod"
    lecture = Lecture(
        "prod({0}{reduce})",
        ("{dz} · (product of the other elements of {0})",),
        symbol="Π",
        gate="prod is a many-input mul gate: each element receives the upstream "
        "gradient times the product of the others",
    )
    kind = "reduction"
    domain = (-1.5, 1.5)

    def forward(x: Any, *, axis: Any = None, keepdims: Any = False) -> Any:
        return np.prod(x, axis=axis, keepdims=keepdims)

    vjp = (_prod_vjp,)
    jvp = (_prod_jvp,)
    jvp_batched, vjp_batched = _reduction_batched(_prod_weights)


def prod(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis`` (None: all axes; an int or a tuple of ints), as ``np.prod``.

    Zeros are handled exactly: with one zero in a slice its gradient is the product of the
    others (the others get 0); with two or more zeros every gradient is 0.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> cr.prod(x).backward()
    >>> x.grad
    Tensor([0., 6., 0.])
    """
    return apply(Prod, x, axis=normalize_axes(axis, np.ndim(x), "prod"), keepdims=keepdims)
