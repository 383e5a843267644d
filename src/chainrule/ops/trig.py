"""Trigonometric, hyperbolic and other elementwise functions, with NumPy's names.

sin, cos, tan, arcsin, arccos, arctan, sinh, cosh, arcsinh, arccosh, arctanh, log1p,
expm1, log2, log10 (unary), and arctan2, hypot, logaddexp (binary, broadcasting). Each is
a primitive declared from its derivative (:func:`~chainrule.ops._batching.from_derivative`:
one rule per argument serves as VJP, JVP and batched rules), written with chainrule ops so
that it can be differentiated again, and carries its lecture notation. The registry sweep
checks them all (first and second order, forward and reverse, and the nested transforms);
``np.sin(t)`` etc. on a tensor run these ops (:mod:`chainrule.ops.numpy_protocol`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..core import Primitive, apply
from ..core.lecture import Lecture
from ._batching import from_derivative
from .elementwise import exp, sqrt

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike

__all__ = [
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "cos",
    "cosh",
    "expm1",
    "hypot",
    "log1p",
    "log2",
    "log10",
    "logaddexp",
    "sin",
    "sinh",
    "tan",
]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


class Sin(Primitive):
    """z = sin(x): dz/dx = cos(x)."""

    name = "sin"
    kind = "unary"

    forward = np.sin

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * cos(x))
    lecture = Lecture("sin({0})", ("{dz} · cos({0})",), numeric=True, symbol="sin", expr_name="sin")


def sin(x: TensorLike) -> Tensor:
    """Elementwise sine (``np.sin``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sin(cr.Tensor([0.0]))
    Tensor([0.])
    """
    return apply(Sin, x)


class Cos(Primitive):
    """z = cos(x): dz/dx = −sin(x)."""

    name = "cos"
    kind = "unary"

    forward = np.cos

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: -g * sin(x))
    lecture = Lecture(
        "cos({0})", ("−{dz} · sin({0})",), numeric=True, symbol="cos", expr_name="cos"
    )


def cos(x: TensorLike) -> Tensor:
    """Elementwise cosine (``np.cos``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cos(cr.Tensor([0.0]))
    Tensor([1.])
    """
    return apply(Cos, x)


class Tan(Primitive):
    """z = tan(x): dz/dx = 1 + z²."""

    name = "tan"
    kind = "unary"
    domain = (-1.2, 1.2)

    forward = np.tan

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g + g * out * out)
    lecture = Lecture(
        "tan({0})", ("{dz} · (1 + {z}²)",), numeric=True, symbol="tan", expr_name="tan"
    )


def tan(x: TensorLike) -> Tensor:
    """Elementwise tangent (``np.tan``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tan(cr.Tensor([0.0]))
    Tensor([0.])
    """
    return apply(Tan, x)


class ArcSin(Primitive):
    """z = arcsin(x): dz/dx = 1/√(1 − x²)."""

    name = "arcsin"
    kind = "unary"
    domain = (-0.9, 0.9)

    forward = np.arcsin

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / sqrt(1 - x * x))
    lecture = Lecture(
        "arcsin({0})", ("{dz} / √(1 − {0}²)",), numeric=True, symbol="arcsin", expr_name="arcsin"
    )


def arcsin(x: TensorLike) -> Tensor:
    """Elementwise inverse sine (``np.arcsin``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.arcsin(cr.Tensor([1.0]))
    Tensor([1.5708])
    """
    return apply(ArcSin, x)


class ArcCos(Primitive):
    """z = arccos(x): dz/dx = −1/√(1 − x²)."""

    name = "arccos"
    kind = "unary"
    domain = (-0.9, 0.9)

    forward = np.arccos

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: -g / sqrt(1 - x * x))
    lecture = Lecture(
        "arccos({0})", ("−{dz} / √(1 − {0}²)",), numeric=True, symbol="arccos", expr_name="arccos"
    )


def arccos(x: TensorLike) -> Tensor:
    """Elementwise inverse cosine (``np.arccos``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.arccos(cr.Tensor([1.0]))
    Tensor([0.])
    """
    return apply(ArcCos, x)


class ArcTan(Primitive):
    """z = arctan(x): dz/dx = 1/(1 + x²)."""

    name = "arctan"
    kind = "unary"

    forward = np.arctan

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / (1 + x * x))
    lecture = Lecture(
        "arctan({0})", ("{dz} / (1 + {0}²)",), numeric=True, symbol="arctan", expr_name="arctan"
    )


def arctan(x: TensorLike) -> Tensor:
    """Elementwise inverse tangent (``np.arctan``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.arctan(cr.Tensor([1.0]))
    Tensor([0.7854])
    """
    return apply(ArcTan, x)


class Sinh(Primitive):
    """z = sinh(x): dz/dx = cosh(x)."""

    name = "sinh"
    kind = "unary"

    forward = np.sinh

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * cosh(x))
    lecture = Lecture(
        "sinh({0})", ("{dz} · cosh({0})",), numeric=True, symbol="sinh", expr_name="sinh"
    )


def sinh(x: TensorLike) -> Tensor:
    """Elementwise hyperbolic sine (``np.sinh``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sinh(cr.Tensor([0.0]))
    Tensor([0.])
    """
    return apply(Sinh, x)


class Cosh(Primitive):
    """z = cosh(x): dz/dx = sinh(x)."""

    name = "cosh"
    kind = "unary"

    forward = np.cosh

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * sinh(x))
    lecture = Lecture(
        "cosh({0})", ("{dz} · sinh({0})",), numeric=True, symbol="cosh", expr_name="cosh"
    )


def cosh(x: TensorLike) -> Tensor:
    """Elementwise hyperbolic cosine (``np.cosh``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cosh(cr.Tensor([0.0]))
    Tensor([1.])
    """
    return apply(Cosh, x)


class ArcSinh(Primitive):
    """z = arcsinh(x): dz/dx = 1/√(x² + 1)."""

    name = "arcsinh"
    kind = "unary"

    forward = np.arcsinh

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / sqrt(x * x + 1))
    lecture = Lecture(
        "arcsinh({0})", ("{dz} / √({0}² + 1)",), numeric=True, symbol="arcsinh", expr_name="arcsinh"
    )


def arcsinh(x: TensorLike) -> Tensor:
    """Elementwise inverse hyperbolic sine (``np.arcsinh``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.arcsinh(cr.Tensor([0.0]))
    Tensor([0.])
    """
    return apply(ArcSinh, x)


class ArcCosh(Primitive):
    """z = arccosh(x) (x ≥ 1): dz/dx = 1/√(x² − 1)."""

    name = "arccosh"
    kind = "unary"
    domain = (1.2, 3.0)

    forward = np.arccosh

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / sqrt(x * x - 1))
    lecture = Lecture(
        "arccosh({0})", ("{dz} / √({0}² − 1)",), numeric=True, symbol="arccosh", expr_name="arccosh"
    )


def arccosh(x: TensorLike) -> Tensor:
    """Elementwise inverse hyperbolic cosine (``np.arccosh``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.arccosh(cr.Tensor([1.0]))
    Tensor([0.])
    """
    return apply(ArcCosh, x)


class ArcTanh(Primitive):
    """z = arctanh(x) (|x| < 1): dz/dx = 1/(1 − x²)."""

    name = "arctanh"
    kind = "unary"
    domain = (-0.8, 0.8)

    forward = np.arctanh

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / (1 - x * x))
    lecture = Lecture(
        "arctanh({0})", ("{dz} / (1 − {0}²)",), numeric=True, symbol="arctanh", expr_name="arctanh"
    )


def arctanh(x: TensorLike) -> Tensor:
    """Elementwise inverse hyperbolic tangent (``np.arctanh``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.arctanh(cr.Tensor([0.0]))
    Tensor([0.])
    """
    return apply(ArcTanh, x)


class Log1p(Primitive):
    """z = log(1 + x), accurate for small x: dz/dx = 1/(1 + x)."""

    name = "log1p"
    kind = "unary"
    domain = (-0.5, 2.0)

    forward = np.log1p

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / (x + 1))
    lecture = Lecture(
        "log1p({0})", ("{dz} / (1 + {0})",), numeric=True, symbol="log1p", expr_name="log1p"
    )


def log1p(x: TensorLike) -> Tensor:
    """Elementwise log(1 + x), accurate near 0 (``np.log1p``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.log1p(cr.Tensor([0.0]))
    Tensor([0.])
    """
    return apply(Log1p, x)


class Expm1(Primitive):
    """z = eˣ − 1, accurate for small x: dz/dx = eˣ = z + 1."""

    name = "expm1"
    kind = "unary"

    forward = np.expm1

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * out + g)
    lecture = Lecture(
        "expm1({0})", ("{dz} · ({z} + 1)",), numeric=True, symbol="expm1", expr_name="expm1"
    )


def expm1(x: TensorLike) -> Tensor:
    """Elementwise exp(x) - 1, accurate near 0 (``np.expm1``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.expm1(cr.Tensor([0.0]))
    Tensor([0.])
    """
    return apply(Expm1, x)


class Log2(Primitive):
    """z = log₂(x): dz/dx = 1/(x ln 2)."""

    name = "log2"
    kind = "unary"
    domain = (0.2, 3.0)

    forward = np.log2

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / (x * _LN2))
    lecture = Lecture(
        "log2({0})", ("{dz} / ({0} · ln 2)",), numeric=True, symbol="log2", expr_name="log2"
    )


def log2(x: TensorLike) -> Tensor:
    """Elementwise base-2 logarithm (``np.log2``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.log2(cr.Tensor([8.0]))
    Tensor([3.])
    """
    return apply(Log2, x)


class Log10(Primitive):
    """z = log₁₀(x): dz/dx = 1/(x ln 10)."""

    name = "log10"
    kind = "unary"
    domain = (0.2, 3.0)

    forward = np.log10

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g / (x * _LN10))
    lecture = Lecture(
        "log10({0})", ("{dz} / ({0} · ln 10)",), numeric=True, symbol="log10", expr_name="log10"
    )


def log10(x: TensorLike) -> Tensor:
    """Elementwise base-10 logarithm (``np.log10``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.log10(cr.Tensor([100.0]))
    Tensor([2.])
    """
    return apply(Log10, x)


class ArcTan2(Primitive):
    """z = arctan2(y, x), the angle of the point (x, y): dz/dy = x/(x² + y²),
    dz/dx = −y/(x² + y²)."""

    name = "arctan2"
    kind = "binary"
    broadcasts = True
    domain = (0.3, 2.0)  # away from the origin, where the angle is undefined

    forward = np.arctan2

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, y, x: g * x / (x * x + y * y), lambda g, out, y, x: -g * y / (x * x + y * y)
    )
    lecture = Lecture(
        "arctan2({0}, {1})",
        ("{dz} · {1} / ({0}² + {1}²)", "−{dz} · {0} / ({0}² + {1}²)"),
        numeric=True,
        symbol="arctan2",
        expr_name="arctan2",
    )


def arctan2(y: TensorLike, x: TensorLike) -> Tensor:
    """Elementwise angle of the point ``(x, y)`` in radians (``np.arctan2``), broadcasting.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.arctan2(cr.Tensor([1.0]), cr.Tensor([1.0]))
    Tensor([0.7854])
    """
    return apply(ArcTan2, y, x)


class Hypot(Primitive):
    """z = √(a² + b²), without overflow: dz/da = a/z, dz/db = b/z."""

    name = "hypot"
    kind = "binary"
    broadcasts = True
    domain = (0.3, 2.0)  # away from the origin, where the gradient is undefined

    forward = np.hypot

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, a, b: g * a / out, lambda g, out, a, b: g * b / out
    )
    lecture = Lecture(
        "hypot({0}, {1})",
        ("{dz} · {0} / {z}", "{dz} · {1} / {z}"),
        numeric=True,
        symbol="hypot",
        expr_name="hypot",
    )


def hypot(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise ``sqrt(a**2 + b**2)`` computed without overflow (``np.hypot``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.hypot(cr.Tensor([3.0]), cr.Tensor([4.0]))
    Tensor([5.])
    """
    return apply(Hypot, a, b)


class LogAddExp(Primitive):
    """z = log(eᵃ + eᵇ), stable for large values: dz/da = e^(a − z), dz/db = e^(b − z)
    (the two softmax weights)."""

    name = "logaddexp"
    kind = "binary"
    broadcasts = True

    forward = np.logaddexp

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(
        lambda g, out, a, b: g * exp(a - out), lambda g, out, a, b: g * exp(b - out)
    )
    lecture = Lecture(
        "logaddexp({0}, {1})",
        ("{dz} · exp({0} − {z})", "{dz} · exp({1} − {z})"),
        numeric=True,
        symbol="logaddexp",
        expr_name="logaddexp",
    )


def logaddexp(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise ``log(exp(a) + exp(b))`` without overflow (``np.logaddexp``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.logaddexp(cr.Tensor([0.0]), cr.Tensor([0.0]))
    Tensor([0.6931])
    """
    return apply(LogAddExp, a, b)
