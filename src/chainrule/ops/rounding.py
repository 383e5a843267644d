"""Rounding: floor, ceil, trunc, rint and round (``around``), with NumPy's names.

Each is piecewise constant, so its derivative is 0 wherever it exists (everywhere but the
jumps, a set of measure zero). They are differentiable primitives whose VJP and JVP are 0,
as in PyTorch: ``floor(x).sum().backward()`` gives ``x.grad`` of zeros, and ``x -
floor(x)`` (the fractional part) has gradient 1. The zero rules are plain arrays, so a
recorded backward pass records nothing for them (their second derivative is 0 too).

Values and dtypes are NumPy's (integer inputs stay integral where NumPy keeps them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, apply
from ..core.lecture import Lecture
from ._batching import from_derivative

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike

__all__ = ["around", "ceil", "floor", "rint", "round", "trunc"]


def _zero(g: Any, out: Any, x: Any, **params: Any) -> Any:
    # g ∘ 0: a constant array (not g * 0, which would turn an inf or NaN upstream into NaN)
    return np.zeros(np.shape(g), dtype=g.dtype)


def _away_from(
    rng: np.random.Generator, shape: tuple[int, ...], jumps_at: float, scale: float = 1.0
) -> np.ndarray:
    """Samples in (-3, 3)/scale at least 0.1/scale from the jumps (k + jumps_at)/scale."""
    x = rng.uniform(-3.0, 3.0, shape)
    frac = (x - jumps_at) - np.floor(x - jumps_at)  # distance past the last jump
    x = np.where(frac < 0.1, x + 0.15, np.where(frac > 0.9, x - 0.15, x))
    return np.asarray(x / scale, dtype=np.float64)


def _rounding(opname: str, forward: Any, jumps_at: float, doc: str) -> type[Primitive]:
    def samples(rng: np.random.Generator) -> Any:
        for shape in ((), (4,), (2, 3)):
            yield (_away_from(rng, shape, jumps_at),), {}

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(_zero)
    return type(
        opname.capitalize(),
        (Primitive,),
        {
            "__doc__": doc,
            "__module__": __name__,
            "name": opname,
            "kind": "unary",
            "smooth": False,
            "forward": staticmethod(forward),
            "vjp": vjp,
            "jvp": jvp,
            "jvp_batched": jvp_batched,
            "vjp_batched": vjp_batched,
            "samples": staticmethod(samples),
            "lecture": Lecture(
                f"{opname}({{0}})",
                ("0 (piecewise constant)",),
                symbol=opname,
                gate=f"{opname} is piecewise constant: the gradient is 0 (it passes nothing back)",
            ),
        },
    )


# Four near-identical ops from one template (the jumps: at integers, or half-integers).
Floor = _rounding("floor", np.floor, 0.0, "z = ⌊x⌋ (largest integer ≤ x): zero gradient.")
Ceil = _rounding("ceil", np.ceil, 0.0, "z = ⌈x⌉ (smallest integer ≥ x): zero gradient.")
Trunc = _rounding("trunc", np.trunc, 0.0, "z = x rounded towards 0: zero gradient.")
Rint = _rounding(
    "rint", np.rint, 0.5, "z = x rounded to the nearest integer (halves to even): zero gradient."
)


class Round(Primitive):
    """z = x rounded to ``decimals`` decimals (halves to even, as ``np.round``): zero gradient."""

    name = "round"
    smooth = False  # its samples keep away from the jumps at (k + ½)·10^-decimals

    def forward(x: Any, *, decimals: Any = 0) -> Any:
        if decimals and np.result_type(x) == np.bool_:
            # NumPy refuses bools here; a bool is 0 or 1, which rounds to itself (decimals
            # > 0) or to 0 (decimals < 0), as the same values in floating point do
            return np.array(x, copy=True) if decimals > 0 else np.zeros_like(x)
        if decimals == 0 and np.result_type(x).kind == "f":
            return np.rint(x)  # the same halves-to-even values; a ufunc, 10x cheaper per call
        return np.round(x, decimals)

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(_zero)
    lecture = Lecture(
        "round({0}, {decimals})",
        ("0 (piecewise constant)",),
        symbol="round",
        gate="round is piecewise constant: the gradient is 0 (it passes nothing back)",
    )

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, decimals in (((), 0), ((4,), 0), ((2, 3), 1), ((3,), 2), ((2, 2), -1)):
            scale = 10.0**decimals
            yield (_away_from(rng, shape, 0.5, scale),), {"decimals": decimals}


def floor(x: TensorLike) -> Tensor:
    """Elementwise floor (``np.floor``); its gradient is 0.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([-1.5, 0.2, 2.7], requires_grad=True)
    >>> y = cr.floor(x)
    >>> y
    Tensor([-2.,  0.,  2.], op=floor)
    >>> (x - y).sum().backward()           # the fractional part has gradient 1
    >>> x.grad
    Tensor([1., 1., 1.])
    """
    return apply(Floor, x)


def ceil(x: TensorLike) -> Tensor:
    """Elementwise ceiling (``np.ceil``); its gradient is 0.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ceil(cr.Tensor([-1.5, 0.2, 2.0]))
    Tensor([-1.,  1.,  2.])
    """
    return apply(Ceil, x)


def trunc(x: TensorLike) -> Tensor:
    """Elementwise rounding towards zero (``np.trunc``); its gradient is 0.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.trunc(cr.Tensor([-1.5, 0.2, 2.7]))
    Tensor([-1.,  0.,  2.])
    """
    return apply(Trunc, x)


def rint(x: TensorLike) -> Tensor:
    """Elementwise rounding to the nearest integer, halves to even (``np.rint``); gradient 0.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.rint(cr.Tensor([0.5, 1.5, 2.6]))
    Tensor([0., 2., 3.])
    """
    return apply(Rint, x)


def round(x: TensorLike, decimals: int = 0) -> Tensor:  # noqa: A001 - the NumPy name
    """Round to ``decimals`` decimals, halves to even (``np.round``); its gradient is 0.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.round(cr.Tensor([0.5, 1.5, 1.2345]), 2)
    Tensor([0.5 , 1.5 , 1.23])
    """
    return apply(Round, x, decimals=int(decimals))


around = round  # NumPy's other name
