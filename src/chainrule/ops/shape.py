"""Shape ops: reshape, transpose, expand_dims, squeeze, broadcast_to, concatenate.

They move values around without changing them, so each VJP moves the gradient back:
reshape back, transpose by the inverse permutation, slice a concatenation apart. The VJP
of ``broadcast_to`` is the gradient itself: the engine sums it back to the input's shape,
the one place where broadcasting is undone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, apply
from ..core.errors import OpError, ShapeError
from ..core.lecture import Lecture
from ._batching import pad_batch

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..core.tensor import Tensor
    from ..core.typing import Axis, ShapeLike, TensorLike


def check_axis(axis: Any, ndim: int, opname: str) -> int:
    """``axis`` as a non-negative int, or a :class:`ShapeError` naming the valid axes.

    NumPy-style negative axes count from the end. An out-of-range axis is an error rather
    than wrapped around (``axis % ndim`` would silently pick another axis).

    Examples
    --------
    >>> check_axis(-1, 3, "stack")
    2
    """
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise ShapeError(f"{opname}: axis must be an int, got {axis!r}")
    if ndim == 0:
        raise ShapeError(
            f"{opname}: a 0-d tensor has no axis {axis}; reshape it to 1-d first (x.reshape(1))"
        )
    if not -ndim <= axis < ndim:
        raise ShapeError(
            f"{opname}: axis {axis} is out of range for a tensor with {ndim} "
            f"dimension(s) (valid: {-ndim}..{ndim - 1})"
        )
    return int(axis) % ndim


def _reshape_jvp_batched(tans: list, out: Any, args: list, params: dict) -> Any:
    return tans[0].reshape((tans[0].shape[0],) + out.shape)


def _reshape_vjp_batched(i: int, g: Any, out: Any, args: list, params: dict) -> Any:
    return g.reshape((g.shape[0],) + np.shape(args[0]))


class Reshape(Primitive):
    """Same values, new shape: the gradient is reshaped back."""

    name = "reshape"
    lecture = Lecture(
        "reshape({0}, {shape})", ("{dz} reshaped back to the shape of {0}",), symbol="reshape"
    )
    views = True  # the output may share the input's memory (one version counter)

    def forward(x: Any, *, shape: tuple[int, ...]) -> Any:
        return np.reshape(x, shape)

    vjp = (lambda g, out, x, *, shape: g.reshape(x.shape),)
    jvp = (lambda t, out, x, *, shape: t.reshape(out.shape),)
    jvp_batched, vjp_batched = _reshape_jvp_batched, _reshape_vjp_batched

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for src, dst in (
            ((6,), (2, 3)),
            ((2, 3), (3, 2)),
            ((2, 3, 4), (4, -1)),
            ((), (1, 1)),
            ((1,), ()),
        ):
            yield (rng.normal(size=src),), {"shape": dst}


def reshape(x: TensorLike, *shape: ShapeLike) -> Tensor:
    """Give ``x`` a new shape with the same number of elements (one entry may be -1).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.reshape(cr.Tensor([1.0, 2.0, 3.0, 4.0]), (2, 2)).shape
    (2, 2)
    """
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    # every s is a length now (one sequence was unpacked above; mypy cannot tell)
    return apply(Reshape, x, shape=tuple(int(s) for s in shape))  # type: ignore[arg-type]


class Transpose(Primitive):
    """Permute axes; the gradient is permuted back by the inverse permutation."""

    name = "transpose"
    lecture = Lecture("transpose({0}, {axes})", ("{dz} transposed back",), symbol="ᵀ")
    views = True  # the output may share the input's memory (one version counter)

    def forward(x: Any, *, axes: tuple[int, ...]) -> Any:
        return np.transpose(x, axes)

    vjp = (lambda g, out, x, *, axes: transpose(g, tuple(np.argsort(axes))),)
    jvp = (lambda t, out, x, *, axes: transpose(t, axes),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return tans[0].transpose((0,) + tuple(a + 1 for a in params["axes"]))  # batch axis stays

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return g.transpose((0,) + tuple(int(a) + 1 for a in np.argsort(params["axes"])))

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, axes in (
            ((2, 3), (1, 0)),
            ((2, 3, 4), (2, 0, 1)),
            ((2, 3, 4), (0, 2, 1)),
            ((3,), (0,)),
        ):
            yield (rng.normal(size=shape),), {"axes": axes}


def transpose(x: TensorLike, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes of ``x`` (default: reverse them), like ``np.transpose``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.transpose(cr.Tensor([[1.0, 2.0]])).shape
    (2, 1)
    """
    nd = np.ndim(x)
    if axes is None:
        axes = tuple(range(nd))[::-1]
    axes = tuple(axes)
    if len(axes) != nd:
        raise ShapeError(
            f"transpose: axes {axes} must list each of the {nd} axes of a "
            f"tensor of shape {np.shape(x)} once"
        )
    axes = tuple(check_axis(a, nd, "transpose") for a in axes)
    if sorted(axes) != list(range(nd)):
        raise ShapeError(
            f"transpose: axes {axes} are not a permutation of 0..{nd - 1} "
            f"for a tensor of shape {np.shape(x)}"
        )
    return apply(Transpose, x, axes=axes)


def permute(x: TensorLike, *axes: int | Sequence[int]) -> Tensor:
    """PyTorch-style alias of :func:`transpose` taking the axes as arguments."""
    if len(axes) == 1 and isinstance(axes[0], tuple | list):
        axes = tuple(axes[0])
    return transpose(x, axes)  # type: ignore[arg-type]  # ints now, as in reshape


def swapaxes(x: TensorLike, a: int, b: int) -> Tensor:
    """Exchange two axes (``x.mT`` is ``swapaxes(x, -1, -2)``)."""
    nd = np.ndim(x)
    a, b = check_axis(a, nd, "swapaxes"), check_axis(b, nd, "swapaxes")
    perm = list(range(nd))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, tuple(perm))


class ExpandDims(Primitive):
    """Insert a length-1 axis; the gradient is reshaped back."""

    name = "expand_dims"
    lecture = Lecture(
        "expand_dims({0}, {axis})",
        ("{dz} reshaped back to the shape of {0}",),
        symbol="expand_dims",
    )
    views = True  # the output may share the input's memory (one version counter)

    def forward(x: Any, *, axis: int | Sequence[int]) -> Any:
        # (NumPy >= 2.5's stubs take only a tuple; a sequence works at run time)
        return np.expand_dims(x, axis)  # type: ignore[arg-type, unused-ignore]

    vjp = (lambda g, out, x, *, axis: g.reshape(x.shape),)
    jvp = (lambda t, out, x, *, axis: expand_dims(t, axis),)
    jvp_batched, vjp_batched = _reshape_jvp_batched, _reshape_vjp_batched

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, axis in (((), 0), ((3,), 0), ((3,), -1), ((2, 3), 1), ((2, 3), (0, 3))):
            yield (rng.normal(size=shape),), {"axis": axis}


def expand_dims(x: TensorLike, axis: int | Sequence[int]) -> Tensor:
    """Insert length-1 axes at ``axis`` (an int or tuple), like ``np.expand_dims``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.expand_dims(cr.Tensor([1.0, 2.0]), 0).shape
    (1, 2)
    """
    return apply(ExpandDims, x, axis=axis)


class Squeeze(Primitive):
    """Remove length-1 axes; the gradient is reshaped back."""

    name = "squeeze"
    lecture = Lecture(
        "squeeze({0}{reduce})", ("{dz} reshaped back to the shape of {0}",), symbol="squeeze"
    )
    views = True  # the output may share the input's memory (one version counter)

    def forward(x: Any, *, axis: Axis = None) -> Any:
        return np.squeeze(x, axis)

    vjp = (lambda g, out, x, *, axis=None: g.reshape(x.shape),)
    jvp = (lambda t, out, x, *, axis=None: t.reshape(out.shape),)
    jvp_batched, vjp_batched = _reshape_jvp_batched, _reshape_vjp_batched

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, axis in (
            ((1,), None),
            ((1, 3), 0),
            ((2, 1, 3), 1),
            ((1, 2, 1), None),
            ((1, 2, 1), (0, 2)),
        ):
            yield (rng.normal(size=shape),), {"axis": axis}


def squeeze(x: TensorLike, axis: Axis = None) -> Tensor:
    """Remove length-1 axes (all of them, or those in ``axis``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.squeeze(cr.Tensor([[1.0, 2.0]])).shape
    (2,)
    """
    return apply(Squeeze, x, axis=axis)


class BroadcastTo(Primitive):
    """Repeat along broadcast axes; the engine sums the gradient back (broadcasts = True)."""

    name = "broadcast_to"
    lecture = Lecture(
        "broadcast_to({0}, {shape})",
        ("{dz} summed over the broadcast axes",),
        symbol="broadcast",
        gate="broadcasting copies values, so the gradient sums over the broadcast axes",
    )
    views = True  # the output may share the input's memory (one version counter)
    broadcasts = True

    def forward(x: Any, *, shape: tuple[int, ...]) -> Any:
        return np.broadcast_to(x, shape)

    vjp = (lambda g, out, x, *, shape: g,)
    jvp = (lambda t, out, x, *, shape: broadcast_to(t, shape),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        t, shape = tans[0], tuple(params["shape"])
        return np.broadcast_to(pad_batch(t, len(shape)), (t.shape[0],) + shape)

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return g  # summed back to x's shape by the transform, as the engine does

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for src, dst in (
            ((), (3,)),
            ((3,), (2, 3)),
            ((2, 1), (2, 4)),
            ((1, 3), (2, 2, 3)),
            ((2, 3), (2, 3)),
        ):
            yield (rng.normal(size=src),), {"shape": dst}


def broadcast_to(x: TensorLike, shape: Sequence[int]) -> Tensor:
    """Broadcast ``x`` to ``shape`` (NumPy rules); read-only view in NumPy terms.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.broadcast_to(cr.Tensor([1.0, 2.0]), (3, 2)).shape
    (3, 2)
    """
    return apply(BroadcastTo, x, shape=tuple(shape))


def _piece(i: int, xs: tuple, axis: int) -> tuple:
    start = 0
    for x in xs[:i]:
        start += x.shape[axis]
    return (slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),)


class Concatenate(Primitive):
    """Join tensors along an axis; each input's gradient is its slice of the upstream one."""

    name = "concatenate"
    lecture = Lecture(
        "concatenate([{args}], axis={axis})",
        each_grad="the slice of {dz} that {arg} filled",
        symbol="concat",
        gate="concatenate splits: each input receives its own slice of the upstream gradient",
    )
    variadic = True

    def forward(*xs: Any, axis: int = 0) -> Any:
        return np.concatenate(xs, axis=axis)

    def vjp(i: Any, g: Any, out: Any, *xs: Any, axis: int = 0) -> Any:
        return g[_piece(i, xs, axis)]

    def jvp(i: Any, t: Any, out: Any, *xs: Any, axis: int = 0) -> Any:
        from .index import scatter_add

        return scatter_add(t, _piece(i, xs, axis), out.shape)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        b = next(t.shape[0] for t in tans if t is not None)
        parts = [
            t if t is not None else np.zeros((b,) + np.shape(x), dtype=out.dtype)
            for t, x in zip(tans, args, strict=True)
        ]  # unseeded pieces: zero tangents
        return np.concatenate(parts, axis=params.get("axis", 0) + 1)

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        axis = params.get("axis", 0)
        start = sum(np.shape(x)[axis] for x in args[:i])
        return g[(slice(None),) * (axis + 1) + (slice(start, start + np.shape(args[i])[axis]),)]

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        yield (rng.normal(size=(2,)), rng.normal(size=(3,))), {"axis": 0}
        yield (
            (rng.normal(size=(2, 3)), rng.normal(size=(1, 3)), rng.normal(size=(2, 3))),
            {"axis": 0},
        )
        yield (rng.normal(size=(2, 3)), rng.normal(size=(2, 1))), {"axis": 1}
        yield (rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 1))), {"axis": 2}


def concatenate(xs: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join a sequence of tensors along an existing axis.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.concatenate([cr.Tensor([1.0]), cr.Tensor([2.0, 3.0])])
    Tensor([1., 2., 3.])
    """
    xs = tuple(xs)
    if not xs:
        raise OpError(
            "concatenate: got an empty sequence; pass a list of at least one "
            "tensor, e.g. concatenate([a, b], axis=0)"
        )
    nd = np.ndim(xs[0])
    if nd == 0:
        raise ShapeError(
            "concatenate: zero-dimensional tensors cannot be concatenated; use stack()"
        )
    return apply(Concatenate, *xs, axis=check_axis(axis, nd, "concatenate"))


def stack(xs: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.stack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])]).shape
    (2, 2)
    """
    xs = tuple(xs)
    if not xs:
        raise OpError(
            "stack: got an empty sequence; pass a list of at least one tensor, "
            "e.g. stack([a, b], axis=0)"
        )
    nd = np.ndim(xs[0]) + 1
    axis = check_axis(axis, nd, "stack")
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis)
