"""Every primitive of chainrule, its function, and the Tensor operators bound to them.

Importing this package registers all primitives in :data:`chainrule.core.REGISTRY`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.tensor import Tensor, install_methods
from . import fused  # noqa: F401 - registers the fused layer/loss primitives
from . import toolbox as _toolbox
from .arithmetic import add, div, mul, neg, pow, sub
from .arrange import flip, pad, roll, take_along_axis
from .cast import astype
from .contract import einsum, tensordot
from .cumulative import cumprod, cumsum, prod
from .decomp import diagonal, trace  # also registers the linear-algebra primitives
from .elementwise import abs, elu, exp, leaky_relu, log, relu, sigmoid, sign, sqrt, tanh
from .functions import log_softmax, mean, softmax
from .index import embedding, gather, getitem, scatter_add, take
from .linalg import matmul
from .numpy_protocol import array_function, array_ufunc, floor_divide, remainder
from .ordering import argmax, argmin, argsort, sort
from .reduce import logsumexp, max, min, sum
from .rounding import around, ceil, floor, rint, round, trunc
from .select import eq, ge, gt, le, lt, maximum, minimum, ne, where
from .shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    permute,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
)
from .toolbox import *  # noqa: F403 - NumPy's array functions, composed from the primitives
from .toolbox import clip, repeat, std, var  # clip: tensor bounds too
from .trig import (
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    cos,
    cosh,
    expm1,
    hypot,
    log1p,
    log2,
    log10,
    logaddexp,
    sin,
    sinh,
    tan,
)

__all__ = [
    "abs",
    "add",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "astype",
    "broadcast_to",
    "clip",
    "concatenate",
    "cos",
    "cosh",
    "div",
    "elu",
    "embedding",
    "eq",
    "exp",
    "expand_dims",
    "expm1",
    "floor_divide",
    "gather",
    "ge",
    "getitem",
    "gt",
    "hypot",
    "le",
    "leaky_relu",
    "log",
    "log10",
    "log1p",
    "log2",
    "log_softmax",
    "logaddexp",
    "logsumexp",
    "lt",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "ne",
    "neg",
    "permute",
    "pow",
    "relu",
    "remainder",
    "reshape",
    "scatter_add",
    "sigmoid",
    "sign",
    "sin",
    "sinh",
    "softmax",
    "sqrt",
    "squeeze",
    "stack",
    "sub",
    "sum",
    "swapaxes",
    "take",
    "tan",
    "tanh",
    "transpose",
    "where",
    # the array toolbox (issue #11)
    "argmax",
    "argmin",
    "argsort",
    "around",
    "ceil",
    "cumprod",
    "cumsum",
    "einsum",
    "flip",
    "floor",
    "pad",
    "prod",
    "rint",
    "roll",
    "round",
    "sort",
    "take_along_axis",
    "tensordot",
    "trunc",
    # linear algebra (issue #11; the rest is in chainrule.linalg)
    "diagonal",
    "trace",
]
__all__ += [n for n in _toolbox.__all__ if n not in __all__]  # composed NumPy functions


def _swap(fn: Any) -> Any:
    return lambda self, other: fn(other, self)


def _transpose_method(self: Tensor, *axes: Any) -> Tensor:
    if len(axes) == 1 and isinstance(axes[0], tuple | list):
        axes = tuple(axes[0])
    return transpose(self, axes or None)


install_methods(
    {
        "__add__": add,
        "__radd__": _swap(add),
        "__sub__": sub,
        "__rsub__": _swap(sub),
        "__mul__": mul,
        "__rmul__": _swap(mul),
        "__truediv__": div,
        "__rtruediv__": _swap(div),
        "__pow__": pow,
        "__rpow__": lambda self, other: pow(np.asarray(other), self),
        "__matmul__": matmul,
        "__rmatmul__": _swap(matmul),
        "__neg__": neg,
        "__pos__": lambda self: self,
        "__abs__": abs,
        "__lt__": lt,
        "__le__": le,
        "__gt__": gt,
        "__ge__": ge,
        "__eq__": eq,
        "__ne__": ne,
        "__getitem__": getitem,
        "__iter__": lambda self: (self[i] for i in range(len(self))),
        "sum": sum,
        "mean": mean,
        "max": max,
        "min": min,
        "logsumexp": logsumexp,
        "reshape": reshape,
        "transpose": _transpose_method,
        "permute": permute,
        "swapaxes": swapaxes,
        "squeeze": squeeze,
        "expand_dims": expand_dims,
        "broadcast_to": broadcast_to,
        "astype": astype,
        "trace": trace,
        "diagonal": diagonal,
        "exp": exp,
        "log": log,
        "sqrt": sqrt,
        "tanh": tanh,
        "sigmoid": sigmoid,
        "relu": relu,
        "abs": abs,
        "clip": clip,
        "softmax": softmax,
        "log_softmax": log_softmax,
        "__mod__": remainder,
        "__rmod__": _swap(remainder),
        "__floordiv__": floor_divide,
        "__rfloordiv__": _swap(floor_divide),
        "__divmod__": lambda self, other: (floor_divide(self, other), remainder(self, other)),
        "__rdivmod__": lambda self, other: (floor_divide(other, self), remainder(other, self)),
        "ravel": lambda self: reshape(self, -1),
        "flatten": lambda self: reshape(self, -1),
        "var": var,
        "std": std,
        "repeat": repeat,
        "prod": prod,
        "cumsum": cumsum,
        "cumprod": cumprod,
        "sort": sort,
        "argsort": argsort,
        "argmax": argmax,
        "argmin": argmin,
        "round": round,
        "flip": flip,
        # NumPy's functions on tensors (np.exp(t), np.sum(t), ndarray + t): see numpy_protocol
        "__array_ufunc__": array_ufunc,
        "__array_function__": array_function,
        "T": property(lambda self: transpose(self)),
        "mT": property(lambda self: swapaxes(self, -1, -2)),
    }
)
