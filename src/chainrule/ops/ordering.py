"""Ordering: sort (differentiable) and argsort, argmax, argmin (integer results).

``sort`` permutes values, so its gradient is the upstream gradient permuted back: each
output position's gradient goes to the input element that landed there. The permutation is
a stable argsort, so among equal values (ties) the one that came first takes the first of
their sorted positions. At a tie the sort is not differentiable (swapping two equal values
changes nothing); this choice gives each tied element one position's gradient, and the
gradients of a tied group sum to the sum of their positions' upstream gradients (what any
choice gives), as PyTorch does.

``argsort``, ``argmax`` and ``argmin`` return integer positions: piecewise constant, they
record no gradient (like the comparisons in :mod:`chainrule.ops.select`). ``np.argmax(t)``
etc. on a tensor stay NumPy queries (plain arrays); these functions return tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, Tensor, apply
from ..core.lecture import Lecture
from .arrange import take_along_axis
from .shape import check_axis, reshape

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike

__all__ = ["argmax", "argmin", "argsort", "sort"]


def _order(x: Any, axis: int) -> np.ndarray:
    """The stable sorting permutation of ``x`` (ties keep their order: reproducible)."""
    if isinstance(x, Tensor):
        # a recorded pass or a trace being compiled: computed by the argsort op, whose
        # result is read as data (a compiled program recomputes it for new inputs instead of
        # freezing the traced permutation)
        return apply(ArgSort, x, axis=axis, kind="stable").data
    return np.argsort(x, axis=axis, kind="stable")


def _inverse(perm: np.ndarray, axis: int) -> np.ndarray:
    """Where each input element went: ``inv`` with ``inv[perm] = arange`` along ``axis``.

    A scatter, O(n), instead of a second argsort.
    """
    inv = np.empty_like(perm)
    ramp = np.arange(perm.shape[axis]).reshape((-1,) + (1,) * (perm.ndim - 1 - axis))
    np.put_along_axis(inv, perm, ramp, axis)
    return inv


def _unsort(x: Any, axis: int) -> np.ndarray:
    """The permutation that puts sorted values back where they came from."""
    if isinstance(x, Tensor):  # the inverse as an op too (see _order)
        return apply(ArgSort, _order(x, axis), axis=axis, kind="stable").data
    return _inverse(_order(x, axis), axis)


class Sort(Primitive):
    """z = x sorted along ``axis``: the gradient is permuted back (ties: stable order)."""

    name = "sort"
    lecture = Lecture(
        "sort({0}, axis={axis})",
        ("{dz} permuted back: each element receives its sorted position's gradient",),
        symbol="sort",
        gate="sort routes: each position's gradient goes back to the element that landed there",
    )
    smooth = False

    def forward(x: Any, *, axis: Any) -> Any:
        return np.sort(x, axis=axis)

    vjp = (lambda g, out, x, *, axis: take_along_axis(g, _unsort(x, axis), axis),)
    jvp = (lambda t, out, x, *, axis: take_along_axis(t, _order(x, axis), axis),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        axis = params["axis"]
        return np.take_along_axis(tans[0], _order(args[0], axis)[None], axis + 1)

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        axis = params["axis"]
        return np.take_along_axis(g, _inverse(_order(args[0], axis), axis)[None], axis + 1)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, axis in (
            ((6,), 0),
            ((3, 4), 1),
            ((3, 4), 0),
            ((2, 3, 4), 1),
            ((1,), 0),
            ((2, 0), 1),
        ):
            n = int(np.prod(shape))
            # distinct values, gaps of at least 0.1: finite differences never swap two
            x = (rng.permutation(n) * 0.3 + rng.uniform(0, 0.1, n)).reshape(shape) - 1.0
            yield (x,), {"axis": axis}


def _axis_or_flat(x: Any, axis: Any, opname: str) -> tuple[Any, int]:
    if axis is None:  # NumPy works on the flattened array
        return reshape(x, -1), 0
    return x, check_axis(axis, np.ndim(x), opname)


def sort(x: TensorLike, axis: int | None = -1) -> Tensor:
    """Sort along ``axis`` (None: the flattened tensor), ascending, as ``np.sort``.

    Differentiable: each input element receives the gradient of the position it was sorted
    to. Ties keep their input order (a stable sort), which decides which of the equal
    elements gets which position's gradient. NaNs sort last, as in NumPy.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([3.0, 1.0, 2.0], requires_grad=True)
    >>> y = cr.sort(x)
    >>> y
    Tensor([1., 2., 3.], op=sort)
    >>> (y * cr.Tensor([1.0, 10.0, 100.0])).sum().backward()
    >>> x.grad                        # x[0] = 3 went to the last position
    Tensor([100.,   1.,  10.])
    """
    x, axis = _axis_or_flat(x, axis, "sort")
    return apply(Sort, x, axis=axis)


def _nondiff(opname: str, forward: Any, formula: str, doc: str, **extra: Any) -> type:
    return type(
        opname.capitalize(),
        (Primitive,),
        {
            "__doc__": doc,
            "__module__": __name__,
            "name": opname,
            "differentiable": False,
            "forward": staticmethod(forward),
            "lecture": Lecture(
                formula,
                (None,),
                symbol=opname,
                gate=f"{opname} gives integer positions: it records no gradient",
            ),
            **extra,
        },
    )


def _argsort_samples(rng: np.random.Generator) -> Any:
    for shape, axis in (((5,), -1), ((2, 3), 0), ((2, 3), 1)):
        yield (np.round(rng.uniform(-2, 2, shape), 1),), {"axis": axis}


def _argext_samples(rng: np.random.Generator) -> Any:
    for shape in ((), (5,), (2, 3)):
        yield (np.round(rng.uniform(-2, 2, shape), 1),), {}


def _argsort(x: Any, *, axis: Any = -1, kind: Any = "stable") -> Any:
    return np.argsort(x, axis=axis, kind=kind)


def _argmax(x: Any, *, axis: Any = None, keepdims: Any = False) -> Any:
    return np.argmax(x, axis=axis, keepdims=keepdims)


def _argmin(x: Any, *, axis: Any = None, keepdims: Any = False) -> Any:
    return np.argmin(x, axis=axis, keepdims=keepdims)


ArgSort = _nondiff(
    "argsort",
    _argsort,
    "argsort({0}, axis={axis})",
    "z = the positions that sort x along ``axis``; integers, no gradient.",
    samples=staticmethod(_argsort_samples),
)
ArgMax = _nondiff(
    "argmax",
    _argmax,
    "argmax({0}{reduce})",
    "z = the position of the maximum along ``axis``; integers, no gradient.",
    samples=staticmethod(_argext_samples),
)
ArgMin = _nondiff(
    "argmin",
    _argmin,
    "argmin({0}{reduce})",
    "z = the position of the minimum along ``axis``; integers, no gradient.",
    samples=staticmethod(_argext_samples),
)


def argsort(x: TensorLike, axis: int | None = -1, kind: str | None = None) -> Tensor:
    """The indices that sort ``x`` along ``axis`` (None: flattened), as ``np.argsort``.

    Ties keep their input order (a stable sort, the order :func:`sort` sends gradients
    back in) unless another ``kind`` is asked for. An integer tensor; it records no
    gradient (use :func:`sort`, or :func:`take_along_axis` with these indices, to move
    values differentiably).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.argsort(cr.Tensor([3.0, 1.0, 2.0]))
    Tensor([1, 2, 0])
    """
    x, axis = _axis_or_flat(x, axis, "argsort")
    return apply(ArgSort, x, axis=axis, kind=kind or "stable")


def argmax(x: TensorLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Position of the (first) maximum along ``axis`` (None: flattened), as ``np.argmax``.

    An integer tensor; it records no gradient.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.argmax(cr.Tensor([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    Tensor([1, 0])
    """
    if axis is not None:
        axis = check_axis(axis, np.ndim(x), "argmax")
    return apply(ArgMax, x, axis=axis, keepdims=bool(keepdims))


def argmin(x: TensorLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Position of the (first) minimum along ``axis`` (None: flattened), as ``np.argmin``.

    An integer tensor; it records no gradient.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.argmin(cr.Tensor([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    Tensor([0, 1])
    """
    if axis is not None:
        axis = check_axis(axis, np.ndim(x), "argmin")
    return apply(ArgMin, x, axis=axis, keepdims=bool(keepdims))
