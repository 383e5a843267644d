"""Arithmetic primitives: add, sub, mul, div, neg, pow.

Each class holds the op's NumPy forward, its VJP rules (one per argument: given the
upstream gradient ``g``, the downstream gradient) and its JVP rules (given an argument's
tangent, the output's tangent). Broadcasting is undone by the engine, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, Tensor, apply, upstream
from ..core.lecture import Lecture
from ._batching import from_derivative
from .elementwise import log
from .select import values_of, where

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike


class Add(Primitive):
    """z = a + b. The add gate *distributes*: both inputs receive the upstream gradient."""

    name = "add"
    broadcasts = True
    kind = "binary"

    forward = np.add  # a ufunc: no Python frame on the hot path

    # dz/da = dz/db = 1: pass the gradient on
    vjp, jvp, jvp_batched, vjp_batched = from_derivative(upstream, upstream)
    lecture = Lecture(
        "{0} + {1}",
        ("{dz}", "{dz}"),
        numeric=True,
        symbol="+",
        gate="add gate distributes: every input receives the upstream gradient unchanged",
    )


def add(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise ``a + b`` with broadcasting.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.add(cr.Tensor([1.0, 2.0]), 1.0)
    Tensor([2., 3.])
    """
    return apply(Add, a, b)


class Sub(Primitive):
    """z = a - b: the gradient flows to ``a`` unchanged and to ``b`` negated."""

    name = "sub"
    broadcasts = True
    kind = "binary"
    rejects_bool = True  # as NumPy: bool - bool is an error (use ^ or logical_xor)

    forward = np.subtract  # a ufunc: no Python frame on the hot path

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(upstream, lambda g, out, a, b: -g)
    lecture = Lecture(
        "{0} − {1}",
        ("{dz}", "−{dz}"),
        numeric=True,
        symbol="−",
        gate="sub gate distributes: the first input receives the upstream "
        "gradient, the subtracted one receives it negated",
    )


def sub(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise ``a - b`` with broadcasting.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sub(cr.Tensor([1.0, 2.0]), 1.0)
    Tensor([0., 1.])
    """
    return apply(Sub, a, b)


class Mul(Primitive):
    """z = a * b. The mul gate *swaps*: dz/da = b and dz/db = a."""

    name = "mul"
    broadcasts = True
    kind = "binary"

    forward = np.multiply  # a ufunc: no Python frame on the hot path

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, a, b: g * b, lambda g, out, a, b: g * a
    )
    lecture = Lecture(
        "{0} · {1}",
        ("{dz} · {1}", "{dz} · {0}"),
        numeric=True,
        symbol="×",
        gate="mul gate swaps: each input receives the upstream gradient times the other input",
    )


def mul(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise ``a * b`` with broadcasting (the Hadamard product).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.mul(cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0]))
    Tensor([3., 8.])
    """
    return apply(Mul, a, b)


class Div(Primitive):
    """z = a / b: dz/da = 1/b, dz/db = -a/b² = -z/b."""

    name = "div"
    broadcasts = True
    kind = "binary"
    domain = (0.5, 2.0)  # keep the sweep away from division by zero

    forward = np.true_divide  # a ufunc: no Python frame on the hot path

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, a, b: g / b, lambda g, out, a, b: -g * out / b
    )
    lecture = Lecture("{0} / {1}", ("{dz} / {1}", "−{dz} · {z} / {1}"), numeric=True, symbol="÷")


def div(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise true division ``a / b`` with broadcasting.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.div(cr.Tensor([1.0, 3.0]), 2.0)
    Tensor([0.5, 1.5])
    """
    return apply(Div, a, b)


class Neg(Primitive):
    """z = -a."""

    name = "neg"
    kind = "unary"
    rejects_bool = True  # as NumPy: -bool is an error (use ~ or logical_not)

    forward = np.negative

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, a: -g)
    lecture = Lecture("−{0}", ("−{dz}",), numeric=True, symbol="−x")


def neg(a: TensorLike) -> Tensor:
    """Elementwise negation.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.neg(cr.Tensor([1.0, -2.0]))
    Tensor([-1.,  2.])
    """
    return apply(Neg, a)


def _dpow_dexp(g: Any, out: Any, a: Any) -> Any:
    # d(a**b)/db = a**b * log(a); taken as 0 where a <= 0 (where a**b is only defined
    # for integer b, whose small changes leave the real line), like PyTorch.
    positive = a > 0
    return g * out * where(positive, log(where(positive, a, 1.0)), 0.0)


def _dpow_dbase(g: Any, out: Any, a: Any, b: Any) -> Any:
    # d(a**b)/da = b * a**(b-1). At a = b = 0 that is 0 * 0**-1 = 0 * inf = NaN, but a**0
    # is the constant 1, so the derivative is 0 (as in PyTorch). Changing the exponent to
    # 1 there gives b * a**1 = 0 with finite factors, so higher derivatives stay NaN-free
    # too (a where() on the result would still differentiate the inf branch).
    if isinstance(a, Tensor) or isinstance(b, Tensor):  # recorded or traced: no branch
        from .select import eq

        return g * b * a ** where(eq(a, 0) * eq(b, 0), 1.0, b - 1)
    at_zero = (np.asarray(values_of(a)) == 0) & (np.asarray(values_of(b)) == 0)
    if not at_zero.any():
        return g * b * a ** (b - 1)  # the common case: no extra node
    return g * b * a ** where(at_zero, 1.0, b - 1)


class Pow(Primitive):
    """z = a ** b with a tensor exponent: dz/da = b·a^(b-1), dz/db = z·log(a).

    At a = b = 0 (where z = 1), dz/da is taken as 0 (the derivative of the constant a**0),
    not 0·∞ = NaN; dz/db is 0 wherever a <= 0. Both as in PyTorch.
    """

    name = "pow"
    broadcasts = True
    kind = "binary"
    domain = (0.5, 2.0)

    def forward(a: Any, b: Any) -> Any:
        return np.power(a, b)

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, a, b: _dpow_dbase(g, out, a, b), lambda g, out, a, b: _dpow_dexp(g, out, a)
    )
    lecture = Lecture(
        "{0} ** {1}",
        ("{dz} · {1} · {0}^({1} − 1)", "{dz} · {z} · log({0})"),
        numeric=True,
        symbol="xʸ",
    )


def _dpow_scalar(g: Any, a: Any, p: Any) -> Any:
    # p·a^(p-1), except for p = 0: a**0 is the constant 1, whose derivative is 0 everywhere
    # (p·a^-1 would be 0·inf = NaN at a = 0). This also keeps the second derivative of a**1
    # (and the third of a**2, ...) finite at 0, since each step lowers the exponent by one.
    if p == 0:
        return g * 0.0
    return g * p * a ** (p - 1)


class PowScalar(Primitive):
    """z = a ** p for a constant number p: dz/da = p·a^(p-1) (0 for p = 0, also at a = 0)."""

    name = "pow_scalar"
    kind = "unary"
    domain = (0.5, 2.0)

    def forward(a: Any, *, exponent: Any) -> Any:
        return np.power(a, exponent)

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, a, *, exponent: _dpow_scalar(g, a, exponent)
    )
    lecture = Lecture(
        "{0}^{exponent}",
        ("{dz} · {exponent} · {0}^{exponent_minus_1}",),
        numeric=True,
        symbol="x^{exponent}",
        fields=lambda p: {"exponent_minus_1": p["exponent"] - 1},
    )

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for p in (2, 3, 0.5, -1.5, 1, 0):
            for shape in ((), (3,), (2, 3)):
                yield (rng.uniform(0.5, 2.0, shape),), {"exponent": p}


def pow(a: TensorLike, b: TensorLike) -> Tensor:  # noqa: A001 - mirrors the ** operator
    """Elementwise ``a ** b``; ``b`` may be a number or a tensor.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.pow(cr.Tensor([2.0, 3.0]), 2)
    Tensor([4., 9.])
    """
    if isinstance(b, int | float) and not isinstance(b, bool):
        return apply(PowScalar, a, exponent=b)
    return apply(Pow, a, b)


def _quotient_samples(rng: np.random.Generator) -> Any:
    """(a, b) for floor_divide and remainder: a/b kept 0.2-0.8 away from an integer (no
    jump within a finite difference); b in [1.5, 1.95) or (-1.5, -1.05], whose integer and bool
    versions (sweep.integer_version) are never a zero divisor."""
    for sa, sb in (((2, 3), (2, 3)), ((2, 3), (3,)), ((3,), ())):
        b = np.where(rng.random(sb) < 0.5, rng.uniform(1.5, 1.95, sb), -rng.uniform(1.05, 1.5, sb))
        q = rng.integers(-3, 3, sa) + rng.uniform(0.2, 0.8, sa)
        yield (np.broadcast_to(b, sa) * q, b), {}


class FloorDivide(Primitive):
    """z = a // b (NumPy's floor division): piecewise constant, so it records no gradient."""

    name = "floor_divide"
    differentiable = False
    forward = np.floor_divide
    lecture = Lecture(
        "⌊{0} / {1}⌋",
        (None, None),
        symbol="//",
        gate="floor division is piecewise constant: its derivative is zero where it exists, "
        "so it records no gradient",
    )
    samples = staticmethod(_quotient_samples)


def floor_divide(a: TensorLike, b: TensorLike) -> Tensor:
    """``a // b`` elementwise (NumPy's floor division), as a constant: zero gradient.

    The result is piecewise constant in both arguments, so its derivative is zero wherever
    it exists; the result records nothing (like a comparison).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.floor_divide(cr.Tensor([7.0, -7.0], requires_grad=True), 2.0)
    Tensor([ 3., -4.])
    """
    return apply(FloorDivide, a, b)


class Remainder(Primitive):
    """z = a mod b (NumPy's ``remainder``: the sign of b) = a - b·⌊a/b⌋.

    dz/da = 1 and dz/db = -⌊a/b⌋ wherever a/b is not an integer (the jumps).
    """

    name = "remainder"
    broadcasts = True
    forward = np.remainder

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, a, b: g, lambda g, out, a, b: -g * floor_divide(a, b)
    )
    lecture = Lecture("{0} mod {1}", ("{dz}", "−{dz} · ⌊{0} / {1}⌋"), symbol="mod")
    samples = staticmethod(_quotient_samples)


def remainder(a: TensorLike, b: TensorLike) -> Tensor:
    """``a % b`` elementwise (NumPy's ``remainder``: the sign of ``b``).

    Differentiable as ``a - b · floor(a / b)``: d/da = 1, d/db = -floor(a / b). The value is
    NumPy's own (exactly).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.remainder(cr.Tensor([7.0, -7.0]), 3.0)
    Tensor([1., 2.])
    """
    return apply(Remainder, a, b)
