"""Elementwise functions: exp, log, sqrt, abs, sign, tanh, sigmoid, relu, leaky_relu, elu.

The local gradient of an elementwise op is diagonal, so its VJP is a Hadamard product:
dx = dz ∘ f'(x). Several rules reuse the forward output ``out`` (tanh, sigmoid, exp) instead
of recomputing from ``x``. Each op is declared from its derivative
(:func:`~chainrule.ops._batching.from_derivative`: one rule serves as VJP and JVP) and
carries its lecture notation (:class:`~chainrule.core.lecture.Lecture`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, apply
from ..core.lecture import Lecture
from ._batching import from_derivative
from ._dtypes import as_floating
from .rounding import _zero as _zero_rule
from .select import where

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike


class Exp(Primitive):
    """z = exp(x): dz/dx = z."""

    name = "exp"
    kind = "unary"

    forward = np.exp

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * out)
    lecture = Lecture("exp({0})", ("{dz} · {z}",), numeric=True, symbol="exp", expr_name="exp")


def exp(x: TensorLike) -> Tensor:
    """Elementwise e**x.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.exp(cr.Tensor([0.0]))
    Tensor([1.])
    """
    return apply(Exp, x)


class Log(Primitive):
    """z = log(x) (natural): dz/dx = 1/x."""

    name = "log"
    kind = "unary"
    domain = (0.2, 3.0)

    forward = np.log

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / x)
    lecture = Lecture("log({0})", ("{dz} / {0}",), numeric=True, symbol="log", expr_name="log")


def log(x: TensorLike) -> Tensor:
    """Elementwise natural logarithm.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.log(cr.Tensor([1.0]))
    Tensor([0.])
    """
    return apply(Log, x)


class Sqrt(Primitive):
    """z = √x: dz/dx = 1/(2z)."""

    name = "sqrt"
    kind = "unary"
    domain = (0.2, 3.0)

    forward = np.sqrt

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * 0.5 / out)
    lecture = Lecture("√{0}", ("{dz} / (2 · {z})",), numeric=True, symbol="√", expr_name="sqrt")


def sqrt(x: TensorLike) -> Tensor:
    """Elementwise square root.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sqrt(cr.Tensor([4.0]))
    Tensor([2.])
    """
    return apply(Sqrt, x)


class Sign(Primitive):
    """z = sign(x) ∈ {-1, 0, 1}: piecewise constant, so its gradient is 0 (as floor's)."""

    name = "sign"
    kind = "unary"
    smooth = False  # samples keep away from the jump at 0
    rejects_bool = True  # as NumPy: np.sign has no bool loop

    forward = np.sign
    vjp, jvp, jvp_batched, vjp_batched = from_derivative(_zero_rule)
    lecture = Lecture(
        "sign({0})",
        ("0 (piecewise constant)",),
        symbol="sign",
        gate="sign is piecewise constant: the gradient is 0 (it passes nothing back)",
    )


def sign(x: TensorLike) -> Tensor:
    """Elementwise sign (-1, 0 or 1); its gradient is 0 (as PyTorch's), like floor's.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sign(cr.Tensor([-2.0, 0.0, 3.0]))
    Tensor([-1.,  0.,  1.])
    """
    return apply(Sign, x)


class Abs(Primitive):
    """z = |x|: dz/dx = sign(x), taken as 0 at x = 0 (like PyTorch)."""

    name = "abs"
    kind = "unary"
    smooth = False

    forward = np.abs

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * sign(x))
    lecture = Lecture("|{0}|", ("{dz} · sign({0})",), numeric=True, symbol="|x|", expr_name="abs")


def abs(x: TensorLike) -> Tensor:  # noqa: A001 - the NumPy name
    """Elementwise absolute value.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.abs(cr.Tensor([-2.0, 3.0]))
    Tensor([2., 3.])
    """
    return apply(Abs, x)


class Tanh(Primitive):
    """z = tanh(x): dz/dx = 1 - z²."""

    name = "tanh"
    kind = "unary"

    forward = np.tanh

    # g·(1 − z²) written as g − (g·z)·z: three array operations and no Python scalar
    # (a scalar operand costs NumPy a conversion on every call)
    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g - g * out * out)
    lecture = Lecture(
        "tanh({0})", ("{dz} · (1 − {z}²)",), numeric=True, symbol="tanh", expr_name="tanh"
    )


def tanh(x: TensorLike) -> Tensor:
    """Elementwise hyperbolic tangent.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tanh(cr.Tensor([0.0]))
    Tensor([0.])
    """
    return apply(Tanh, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows: for x >= 0 use 1/(1+e^-x), for x < 0
    # use e^x/(1+e^x); both share e = exp(-|x|).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)  # type: ignore[no-any-return, unused-ignore]


class Sigmoid(Primitive):
    """z = σ(x) = 1/(1+e^-x), stable for large |x|: dz/dx = (1 - z)·z.

    Integer and bool inputs are computed in floating point, in the dtype ``np.exp`` would
    give them (int64 -> float64, bool -> float16).
    """

    name = "sigmoid"
    kind = "unary"
    domain = (-4.0, 4.0)

    def forward(x: Any) -> Any:
        x = as_floating(x)  # casting the result back to an integer dtype would give 0 or 1
        return _sigmoid(x).astype(x.dtype, copy=False)  # NumPy < 2 widens float32 here

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * (1 - out) * out)
    lecture = Lecture(
        "σ({0})", ("{dz} · (1 − {z})·{z}",), numeric=True, symbol="σ", expr_name="sigmoid"
    )


def sigmoid(x: TensorLike) -> Tensor:
    """Elementwise logistic sigmoid, computed without overflow for any x.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sigmoid(cr.Tensor([0.0, -1000.0]))
    Tensor([0.5, 0. ])
    """
    return apply(Sigmoid, x)


class Relu(Primitive):
    """z = max(x, 0): the gradient passes where x > 0 and is 0 elsewhere (also at 0)."""

    name = "relu"
    kind = "unary"
    smooth = False

    def forward(x: Any) -> Any:
        return np.maximum(x, 0)

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * (x > 0))
    lecture = Lecture(
        "relu({0})",
        ("{dz} · [{0} > 0]",),
        numeric=True,
        symbol="relu",
        expr_name="relu",
        gate="relu routes: the gradient passes where the input was positive and is 0 elsewhere",
    )


def relu(x: TensorLike) -> Tensor:
    """Rectified linear unit, max(x, 0).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.relu(cr.Tensor([-1.0, 2.0]))
    Tensor([0., 2.])
    """
    return apply(Relu, x)


class LeakyRelu(Primitive):
    """z = x for x > 0, slope·x otherwise."""

    name = "leaky_relu"
    kind = "unary"
    smooth = False

    def forward(x: Any, *, slope: float = 0.01) -> Any:
        return np.where(x > 0, x, x * slope)

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, x, *, slope=0.01: where(x > 0, g, g * slope)
    )
    lecture = Lecture(
        "leaky_relu({0}, slope={slope})",
        ("{dz} · ({0} > 0 ? 1 : {slope})",),
        numeric=True,
        symbol="leaky relu",
    )

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for slope in (0.01, 0.1, 0.3):
            for shape in ((), (4,), (2, 3)):
                x = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
                yield (x,), {"slope": slope}


def leaky_relu(x: TensorLike, slope: float = 0.01) -> Tensor:
    """Leaky ReLU: x for x > 0, ``slope * x`` otherwise.

    The default slope is PyTorch's 0.01; the CS231n lecture notes use 0.1 (pass
    ``slope=0.1``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.leaky_relu(cr.Tensor([-10.0, 2.0]), slope=0.1)
    Tensor([-1.,  2.])
    """
    return apply(LeakyRelu, x, slope=slope)


class Elu(Primitive):
    """z = x for x > 0, alpha·(eˣ - 1) otherwise: dz/dx = 1 or z + alpha."""

    name = "elu"
    kind = "unary"
    smooth = False

    def forward(x: Any, *, alpha: float = 1.0) -> Any:
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, x, *, alpha=1.0: where(x > 0, g, g * (out + alpha))
    )
    lecture = Lecture(
        "elu({0}, alpha={alpha})",
        ("{dz} · ({0} > 0 ? 1 : {z} + {alpha})",),
        numeric=True,
        symbol="elu",
    )

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for alpha in (1.0, 0.5):
            for shape in ((), (4,), (2, 3)):
                x = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
                yield (x,), {"alpha": alpha}


def elu(x: TensorLike, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit: x for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.elu(cr.Tensor([0.0, 1.0]))
    Tensor([0., 1.])
    """
    return apply(Elu, x, alpha=alpha)
