"""chainrule: NumPy-native automatic differentiation, built on the computation graph.

Examples
--------
>>> import chainrule as cr
>>> x, y, z = (cr.Tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
>>> f = (x + y) * z
>>> f.backward()
>>> float(f), float(x.grad), float(y.grad), float(z.grad)
(-12.0, -4.0, -4.0, 3.0)
"""

from __future__ import annotations

from .core import (
    AnomalyError,
    BackwardError,
    ChainruleError,
    GradientError,
    InplaceError,
    NotFoundError,
    OpError,
    Primitive,
    RowSparse,
    ShapeError,
    Tensor,
    as_tensor,
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    record_source,
    set_grad_enabled,
)
from .io import CheckpointError, load, save
from .ops import *  # noqa: F403 - the op functions are the public API
from .ops import __all__ as _ops_all
from .ops.custom import Operation
from .viz import explain  # importing viz also binds Tensor.explain

__version__ = "0.1.0"

_SUBPACKAGES = ("compile", "data", "nn", "optim", "testing", "transforms")


def __getattr__(name: str):  # PEP 562: `cr.nn` etc. without importing them eagerly
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "manual_seed":  # the one seedable default generator lives in nn.init
        return importlib.import_module(f"{__name__}.nn.init").manual_seed
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def tensor(data, requires_grad: bool = False, *, dtype=None, name: str | None = None) -> Tensor:
    """Create a Tensor (the same as ``Tensor(...)``, in the NumPy/PyTorch spelling).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1, 2]).dtype
    dtype('int64')
    """
    return Tensor(data, requires_grad, dtype=dtype, name=name)


__all__ = [
    "AnomalyError", "BackwardError", "ChainruleError", "GradientError", "InplaceError",
    "CheckpointError", "NotFoundError", "OpError", "Operation", "Primitive", "RowSparse",
    "ShapeError", "Tensor",
    "as_tensor", "detect_anomaly", "enable_grad", "explain", "is_anomaly_enabled",
    "is_grad_enabled", "load",
    "no_grad", "record_source", "save", "set_grad_enabled", "tensor",
    *_ops_all,
]
