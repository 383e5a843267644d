"""Selection and comparison: where, maximum, minimum, clip, and the comparisons.

These are the lectures' *routing* gates: the gradient goes to whichever input was chosen
and the others get zero. Comparisons return bool tensors that record nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, Tensor, apply
from ..core.errors import OpError
from ..core.lecture import Lecture
from ._batching import from_derivative

if TYPE_CHECKING:
    from ..core.typing import TensorLike


def values_of(v: Any) -> Any:
    """The NumPy value of ``v`` (a Tensor's ``.data``, anything else as it is).

    For masks that decide where a gradient goes: they are constants to differentiation, so
    computing them on plain arrays gives the same rule and records nothing.
    """
    return v.data if isinstance(v, Tensor) else v


class Where(Primitive):
    """z = a where cond else b: the gradient is routed to the branch that was taken."""

    name = "where"
    broadcasts = True

    def forward(cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b)

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        None,
        lambda g, out, cond, a, b: where(cond, g, 0.0),
        lambda g, out, cond, a, b: where(cond, 0.0, g),
    )
    lecture = Lecture(
        "where({0}, {1}, {2})",
        (None, "{dz} · [{0}]", "{dz} · [not {0}]"),
        symbol="where",
        gate="where routes: each element's gradient goes to the branch that was chosen",
    )

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for sc, sa, sb in (
            ((), (), ()),
            ((4,), (4,), (4,)),
            ((2, 3), (2, 3), (3,)),
            ((2, 1), (1, 3), (2, 3)),
            ((3,), (), (2, 3)),
        ):
            yield (rng.random(sc) > 0.5, rng.normal(size=sa), rng.normal(size=sb)), {}


def where(cond: TensorLike, a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise choice: ``a`` where ``cond`` is true, else ``b`` (with broadcasting).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.where(cr.Tensor([True, False]), cr.Tensor([1.0, 2.0]), 0.0)
    Tensor([1., 0.])
    """
    return apply(Where, cond, a, b)


def _routed(g: Any, out: Any, mine: Any, other: Any) -> Any:
    """``g`` where ``mine`` is what the output shows, ½g on a tie with ``other``, else 0."""
    if isinstance(out, Tensor):
        # A recorded pass (or a trace being compiled): the masks are ops too, with no
        # branch on the values, so a traced rule holds for every call. x != x marks NaNs.
        won = maximum(eq(mine, out), ne(mine, mine))
        also = maximum(eq(other, out), ne(other, other))
        return where(won, where(also, g * 0.5, g), 0.0)
    m, o, z = values_of(mine), values_of(other), values_of(out)
    won, also = m == z, o == z
    if np.isnan(z).any():
        # NaN propagates through maximum/minimum, so a NaN input is the one the output
        # shows: it gets the gradient (½ each when both are NaN), never a lost gradient.
        won, also = won | (m != m), also | (o != o)
    return where(won, where(also, g * 0.5, g), 0.0)


class Maximum(Primitive):
    """z = max(a, b) elementwise: the *max gate routes* the gradient to the larger input.

    Tie rule: where a == b the gradient is split equally (½ each), as in PyTorch, so the
    result is the average of the two one-sided derivatives. NaN rule: ``np.maximum``
    returns NaN where either input is NaN, and the gradient goes to that NaN input (½ each
    if both are NaN), so it is neither dropped nor sent to the value that was not returned.
    """

    name = "maximum"
    broadcasts = True
    kind = "binary"
    smooth = False

    def forward(a: Any, b: Any) -> Any:
        return np.maximum(a, b)

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, a, b: _routed(g, out, a, b), lambda g, out, a, b: _routed(g, out, b, a)
    )
    lecture = Lecture(
        "max({0}, {1})",
        ("{dz} · [{0} > {1}]", "{dz} · [{1} > {0}]"),
        numeric=True,
        symbol="max",
        expr_name="max",
        gate="max gate routes: the larger input receives the whole upstream "
        "gradient, the other receives 0 (a tie splits it ½–½)",
    )


def maximum(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise maximum; the gradient goes to the larger input (split evenly on ties).

    NaN propagates (as ``np.maximum``) and the gradient goes to the NaN input.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.maximum(cr.Tensor([1.0, 5.0]), 3.0)
    Tensor([3., 5.])
    """
    return apply(Maximum, a, b)


class Minimum(Primitive):
    """z = min(a, b) elementwise: routes the gradient to the smaller input (½ each on ties).

    NaN propagates (as ``np.minimum``) and the gradient goes to the NaN input, as in
    :class:`Maximum`.
    """

    name = "minimum"
    broadcasts = True
    kind = "binary"
    smooth = False

    def forward(a: Any, b: Any) -> Any:
        return np.minimum(a, b)

    # the routing only asks which input the output shows: max's rules
    vjp, jvp, jvp_batched, vjp_batched = from_derivative(*Maximum.vjp)
    lecture = Lecture(
        "min({0}, {1})",
        ("{dz} · [{0} < {1}]", "{dz} · [{1} < {0}]"),
        numeric=True,
        symbol="min",
        expr_name="min",
        gate="min gate routes: the smaller input receives the whole upstream "
        "gradient, the other receives 0 (a tie splits it ½–½)",
    )


def minimum(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise minimum; the gradient goes to the smaller input (split evenly on ties).

    NaN propagates (as ``np.minimum``) and the gradient goes to the NaN input.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.minimum(cr.Tensor([1.0, 5.0]), 3.0)
    Tensor([1., 3.])
    """
    return apply(Minimum, a, b)


def _clip_rule(g: Any, x: Any, low: Any, high: Any) -> Any:
    # Inside [low, high] (bounds included, like PyTorch's clamp) the gradient passes.
    if low is not None:
        g = where(x < low, 0.0, g)
    if high is not None:
        g = where(x > high, 0.0, g)
    return g


class Clip(Primitive):
    """z = min(max(x, low), high) with constant bounds: gradient 1 inside, 0 outside."""

    name = "clip"
    smooth = False

    def forward(x: Any, *, low: float | None = None, high: float | None = None) -> Any:
        return np.clip(x, low, high)

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, x, *, low=None, high=None: _clip_rule(g, x, low, high)
    )
    lecture = Lecture(
        "clip({0}, {low}, {high})",
        ("{dz} · [{low} ≤ {0} ≤ {high}]",),
        numeric=True,
        symbol="clip",
        gate="clip routes: the gradient passes inside [low, high] and is 0 outside",
    )

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for low, high in ((-0.5, 0.5), (None, 0.3), (-0.3, None)):
            for shape in ((), (5,), (2, 3)):
                x = rng.uniform(-2, 2, shape)
                # keep samples off the kinks so finite differences are meaningful
                for bound in (low, high):
                    if bound is not None:
                        x = np.where(np.abs(x - bound) < 0.05, x + 0.1, x)
                yield (x,), {"low": low, "high": high}


def clip(x: TensorLike, low: float | None = None, high: float | None = None) -> Tensor:
    """Limit values to ``[low, high]`` (either bound may be None).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.clip(cr.Tensor([-2.0, 0.5, 2.0]), -1.0, 1.0)
    Tensor([-1. ,  0.5,  1. ])
    """
    if low is None and high is None:
        raise OpError(
            "clip: both bounds are None, so there is nothing to clip; give `low`, "
            "`high` or both (None leaves that side open)"
        )
    return apply(Clip, x, low=low, high=high)


def _comparison(opname: str, ufunc: Any, symbol: str) -> tuple[type, Any]:
    cls = type(
        opname.capitalize(),
        (Primitive,),
        {
            "__doc__": f"z = a {symbol} b elementwise, a bool tensor; records no gradient.",
            "name": opname,
            "differentiable": False,
            "forward": staticmethod(ufunc),
            "__module__": __name__,
            "lecture": Lecture(
                f"{{0}} {symbol} {{1}}",
                (None, None),
                symbol=symbol,
                gate="a comparison gives bools: it records no gradient",
            ),
        },
    )

    def fn(a: Any, b: Any) -> Any:
        return apply(cls, a, b)

    fn.__name__ = opname
    fn.__doc__ = f"Elementwise ``a {symbol} b`` as a bool tensor (not differentiable)."
    return cls, fn


# Six near-identical ops: generated from one template rather than written six times.
Less, lt = _comparison("lt", np.less, "<")
LessEqual, le = _comparison("le", np.less_equal, "<=")
Greater, gt = _comparison("gt", np.greater, ">")
GreaterEqual, ge = _comparison("ge", np.greater_equal, ">=")
Equal, eq = _comparison("eq", np.equal, "==")
NotEqual, ne = _comparison("ne", np.not_equal, "!=")
