"""Rearranging ops: flip, roll, pad and take_along_axis, with NumPy's names and axes.

They move values without changing them, so each VJP moves the gradient back: ``flip``
flips it again, ``roll`` rolls it back, ``pad`` cuts the padding off (constant mode) or
scatter-adds every copy back to its source (edge, reflect, symmetric, wrap: a value copied
into the border receives the gradients of all its copies), and ``take_along_axis``
scatter-adds into the positions that were read (an index read twice receives the sum).
Every rule is written with chainrule ops, so higher derivatives come for free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, Tensor, apply
from ..core.errors import OpError, ShapeError
from ..core.lecture import Lecture
from .index import scatter_add
from .reduce import normalize_axes
from .shape import check_axis, reshape

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..core.typing import Axis, TensorLike

__all__ = ["flip", "pad", "roll", "take_along_axis"]


def _batch_axes(axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(a + 1 for a in axes)  # a batched value carries a leading batch axis


# ---------------------------------------------------------------------- flip
class Flip(Primitive):
    """z = x reversed along ``axes``: the gradient is reversed back."""

    name = "flip"
    lecture = Lecture(
        "flip({0}, {axes})",
        ("{dz} flipped back along the same axes",),
        symbol="flip",
        gate="flip moves values: the gradient is flipped back",
    )
    views = True  # np.flip returns a view of its input

    def forward(x: Any, *, axes: Any) -> Any:
        return np.flip(x, axes)

    vjp = (lambda g, out, x, *, axes: flip(g, axes),)
    jvp = (lambda t, out, x, *, axes: flip(t, axes),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return np.flip(tans[0], _batch_axes(params["axes"]))

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return np.flip(g, _batch_axes(params["axes"]))

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, axes in (
            ((4,), (0,)),
            ((2, 3), (1,)),
            ((2, 3), (0, 1)),
            ((2, 3, 4), (0, 2)),
            ((), ()),
            ((3, 0), (1,)),
        ):
            yield (rng.normal(size=shape),), {"axes": axes}


def flip(x: TensorLike, axis: Axis = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (None: every axis), as ``np.flip``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.flip(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    Tensor([[2., 1.],
            [4., 3.]])
    """
    nd = np.ndim(x)
    axes = normalize_axes(axis, nd, "flip")
    return apply(Flip, x, axes=tuple(range(nd)) if axes is None else axes)


# ---------------------------------------------------------------------- roll
class Roll(Primitive):
    """z = x shifted cyclically by ``shift`` along ``axis``: the gradient is rolled back."""

    name = "roll"
    lecture = Lecture(
        "roll({0}, {shift}, {axis})",
        ("{dz} rolled back by −{shift}",),
        symbol="roll",
        gate="roll moves values: the gradient is rolled back the other way",
    )

    def forward(x: Any, *, shift: Any, axis: Any) -> Any:
        return np.roll(x, shift, axis)

    vjp = (lambda g, out, x, *, shift, axis: roll(g, _negated(shift), axis),)
    jvp = (lambda t, out, x, *, shift, axis: roll(t, shift, axis),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return _roll_batched(tans[0], params["shift"], params["axis"])

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return _roll_batched(g, _negated(params["shift"]), params["axis"])

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, shift, axis in (
            ((5,), 2, (0,)),
            ((2, 3), -1, (1,)),
            ((2, 3), 4, None),
            ((2, 3, 4), (1, -2), (0, 2)),
            ((3, 4), (1, 1), (1, 1)),
        ):
            yield (rng.normal(size=shape),), {"shift": shift, "axis": axis}


def _negated(shift: Any) -> Any:
    return tuple(-s for s in shift) if isinstance(shift, tuple) else -shift


def _roll_batched(t: np.ndarray, shift: Any, axis: Any) -> np.ndarray:
    if axis is None:  # NumPy rolls the flattened array
        return np.roll(t.reshape(t.shape[0], -1), shift, 1).reshape(t.shape)
    return np.roll(t, shift, _batch_axes((axis,) if isinstance(axis, int) else axis))


def roll(x: TensorLike, shift: int | Sequence[int], axis: Axis = None) -> Tensor:
    """Shift elements cyclically along ``axis`` (None: the flattened tensor), as ``np.roll``.

    ``shift`` and ``axis`` may be tuples of the same length (one shift per axis).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.roll(cr.Tensor([1.0, 2.0, 3.0, 4.0]), 1)
    Tensor([4., 1., 2., 3.])
    """
    nd = np.ndim(x)
    if isinstance(shift, list | tuple | np.ndarray):
        shift = tuple(int(s) for s in np.asarray(shift).reshape(-1))
    else:
        shift = int(shift)  # type: ignore[arg-type]  # not a sequence here
    if axis is not None:
        axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
        # not normalize_axes: NumPy allows an axis twice here (the shifts add up)
        axis = tuple(check_axis(a, nd, "roll") for a in axes)
        n_shift = len(shift) if isinstance(shift, tuple) else 1
        if n_shift != 1 and n_shift != len(axis):
            raise ShapeError(
                f"roll: {n_shift} shifts for {len(axis)} axes; give one shift, or one per axis"
            )
        if isinstance(shift, tuple) and len(shift) == 1 and len(axis) == 1:
            shift = shift[0]
    elif isinstance(shift, tuple):
        shift = int(sum(shift))  # all shifts apply to the one flattened axis
    return apply(Roll, x, shift=shift, axis=axis)


# ---------------------------------------------------------------------- pad
_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _source_index(shape: tuple[int, ...], pad_width: tuple, mode: str) -> tuple:
    """``index`` with ``pad(x)[...] == x[index]``: for each axis, the source of each position.

    NumPy pads one axis after the other, each position copying one element of its row, so
    the padded array is ``x`` read at an outer product of per-axis index maps, and NumPy's
    own ``np.pad`` of ``arange(n)`` gives each map.
    """
    # (the ignore: NumPy's stubs take the mode as a Literal; here it is a str checked by pad)
    maps = [
        np.pad(np.arange(n), pw, mode=mode)  # type: ignore[call-overload]
        for n, pw in zip(shape, pad_width, strict=True)
    ]
    return np.ix_(*maps)


def _unpad_index(shape: tuple[int, ...], pad_width: tuple) -> tuple:
    return tuple(slice(b, b + n) for n, (b, _) in zip(shape, pad_width, strict=True))


def _pad_vjp(g: Any, out: Any, x: Any, *, pad_width: Any, mode: str, constant_values: Any) -> Any:
    if mode == "constant":
        return g[_unpad_index(x.shape, pad_width)]
    return scatter_add(g, _source_index(x.shape, pad_width, mode), x.shape)


def _pad_jvp(t: Any, out: Any, x: Any, *, pad_width: Any, mode: str, constant_values: Any) -> Any:
    if mode == "constant":
        return pad(t, pad_width)  # the padding value is a constant: zero tangent there
    return t[_source_index(x.shape, pad_width, mode)]


class Pad(Primitive):
    """z = x with a border of ``pad_width`` along each axis (NumPy's ``np.pad`` modes).

    Constant mode: the gradient is the upstream gradient with the border cut off. Other
    modes copy elements of x into the border, and each receives the gradients of its copies.
    """

    name = "pad"
    lecture = Lecture(
        "pad({0}, {pad_width}, {mode})",
        (
            "{dz} with the border cut off (constant mode), or each border "
            "position's gradient added to the element it copies",
        ),
        symbol="pad",
        gate="pad copies: the gradient of the border goes back to the elements "
        "it copies (none in constant mode)",
    )

    def forward(x: Any, *, pad_width: Any, mode: Any = "constant", constant_values: Any = 0) -> Any:
        if mode == "constant":
            return np.pad(x, pad_width, mode="constant", constant_values=constant_values)
        return np.pad(x, pad_width, mode=mode)

    vjp = (_pad_vjp,)
    jvp = (_pad_jvp,)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        t, pw, mode = tans[0], params["pad_width"], params["mode"]
        if mode == "constant":
            return np.pad(t, ((0, 0),) + pw)
        return t[(slice(None),) + _source_index(np.shape(args[0]), pw, mode)]

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        shape, pw, mode = np.shape(args[0]), params["pad_width"], params["mode"]
        if mode == "constant":
            return g[(slice(None),) + _unpad_index(shape, pw)]
        z = np.zeros((g.shape[0],) + shape, dtype=g.dtype)
        np.add.at(z, (slice(None),) + _source_index(shape, pw, mode), g)
        return z

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        # (an integral fill: NumPy casts it to x's dtype, so 1.5 pads an int array with 1)
        for shape, pw, mode, cv in (
            ((3,), ((1, 2),), "constant", 0.0),
            ((2, 3), ((0, 1), (2, 0)), "constant", -2.0),
            ((2, 3), ((1, 1), (1, 1)), "edge", 0),
            ((4,), ((3, 2),), "reflect", 0),
            ((3, 2), ((2, 1), (1, 3)), "symmetric", 0),
            ((2, 3), ((3, 4), (0, 2)), "wrap", 0),
            ((2, 2, 2), ((1, 0), (0, 1), (1, 1)), "reflect", 0),
        ):
            yield (rng.normal(size=shape),), {"pad_width": pw, "mode": mode, "constant_values": cv}


def pad(
    x: TensorLike,
    pad_width: int | Sequence[Any],
    mode: str = "constant",
    constant_values: float = 0,
) -> Tensor:
    """Pad ``x`` with a border, as ``np.pad``.

    ``pad_width`` is NumPy's: an int (every side of every axis), ``(before, after)`` (every
    axis) or one ``(before, after)`` pair per axis. ``mode`` is "constant" (filled with the
    scalar ``constant_values``), "edge", "reflect", "symmetric" or "wrap".

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.pad(cr.Tensor([1.0, 2.0]), (1, 2))
    Tensor([0., 1., 2., 0., 0.])
    >>> x = cr.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> cr.pad(x, 2, mode="edge").sum().backward()
    >>> x.grad                                   # each end is copied twice more
    Tensor([3., 1., 3.])
    """
    if mode not in _PAD_MODES:
        raise OpError(f"pad: mode {mode!r} is not supported; use one of {_PAD_MODES}")
    nd = np.ndim(x)
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2))
    except (ValueError, TypeError) as exc:
        raise ShapeError(
            f"pad: pad_width {pad_width!r} does not fit a tensor of {nd} "
            f"dimension(s); give an int, a (before, after) pair, or one pair per "
            f"axis"
        ) from exc
    if (widths < 0).any():
        raise ShapeError(f"pad: pad_width {pad_width!r} has negative widths")
    pw = tuple((int(b), int(a)) for b, a in widths)
    if mode == "constant":
        cv = constant_values.data if isinstance(constant_values, Tensor) else constant_values
        if np.ndim(cv) != 0:
            raise OpError(
                "pad: constant_values must be a scalar here (one value for every "
                "side); pad several times for different values per side"
            )
        return apply(Pad, x, pad_width=pw, mode=mode, constant_values=cv)
    return apply(Pad, x, pad_width=pw, mode=mode, constant_values=0)


# ---------------------------------------------------------------------- take_along_axis
def _along_index(indices: np.ndarray, shape: tuple[int, ...], axis: int) -> tuple:
    """The fancy index with ``x[index] == np.take_along_axis(x, indices, axis)``."""
    nd = len(shape)
    index = []
    for d in range(nd):
        if d == axis:
            index.append(indices)
        else:
            view = [1] * nd
            view[d] = shape[d]
            index.append(np.arange(shape[d]).reshape(view))
    return tuple(index)


class TakeAlongAxis(Primitive):
    """z = x picked along ``axis`` by ``indices``: the gradient is scatter-added back."""

    name = "take_along_axis"
    lecture = Lecture(
        "take_along_axis({0}, indices, {axis})",
        ("{dz} scatter-added to the positions that were read",),
        symbol="take",
        gate="take_along_axis scatter-adds: the gradient goes back to the "
        "positions that were read (an index read twice receives the sum)",
    )

    def forward(x: Any, *, indices: Any, axis: Any) -> Any:
        return np.take_along_axis(x, indices, axis)

    vjp = (
        lambda g, out, x, *, indices, axis: scatter_add(
            g, _along_index(indices, x.shape, axis), x.shape
        ),
    )
    jvp = (lambda t, out, x, *, indices, axis: take_along_axis(t, indices, axis),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        index = _along_index(params["indices"], np.shape(args[0]), params["axis"])
        return tans[0][(slice(None),) + index]

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        shape = np.shape(args[0])
        z = np.zeros((g.shape[0],) + shape, dtype=g.dtype)
        np.add.at(z, (slice(None),) + _along_index(params["indices"], shape, params["axis"]), g)
        return z

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        yield (rng.normal(size=(5,)),), {"indices": np.array([4, 0, 0, -1]), "axis": 0}
        yield (rng.normal(size=(3, 4)),), {"indices": rng.integers(0, 4, (3, 2)), "axis": 1}
        yield (rng.normal(size=(3, 4)),), {"indices": rng.integers(0, 3, (5, 4)), "axis": 0}
        yield (rng.normal(size=(2, 3, 4)),), {"indices": rng.integers(0, 3, (2, 2, 1)), "axis": 1}


def take_along_axis(arr: TensorLike, indices: TensorLike, axis: int | None = -1) -> Tensor:
    """Pick values along ``axis`` by integer ``indices`` (``np.take_along_axis``).

    ``indices`` has as many dimensions as ``arr`` (broadcasting against it on the other
    axes); ``axis=None`` reads the flattened ``arr`` with 1-d ``indices``. The gradient is
    scatter-added back (torch.gather's).

    Examples
    --------
    >>> import chainrule as cr
    >>> import numpy as np
    >>> x = cr.Tensor([[10.0, 30.0, 20.0], [60.0, 40.0, 50.0]])
    >>> cr.take_along_axis(x, np.argsort(x.data, axis=1), axis=1)   # sorted rows
    Tensor([[10., 20., 30.],
            [40., 50., 60.]])
    """
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype.kind not in "iu":
        raise OpError(f"take_along_axis: indices must be integers, got dtype {idx.dtype}")
    if axis is None:
        if idx.ndim != 1:
            raise ShapeError(
                f"take_along_axis: with axis=None, indices must be 1-d, got shape {idx.shape}"
            )
        arr, axis = reshape(arr, -1), 0
    nd = np.ndim(arr)
    if idx.ndim != nd:
        raise ShapeError(
            f"take_along_axis: indices must have as many dimensions as arr "
            f"({nd}), got shape {idx.shape}; add length-1 axes "
            f"(np.expand_dims) where it should broadcast"
        )
    return apply(TakeAlongAxis, arr, indices=idx, axis=check_axis(axis, nd, "take_along_axis"))
