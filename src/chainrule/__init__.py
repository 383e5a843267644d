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

import numpy as np

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
from .core.interop import from_dlpack
from .core.typing import TensorLike
from .io import CheckpointError, load, save
from .ops import *  # noqa: F403 - the op functions are the public API
from .ops import __all__ as _ops_all
from .ops.custom import Operation
from .ops.numpy_protocol import NumpyFunctionError
from .viz import explain  # importing viz also binds Tensor.explain

__version__ = "0.1.0"

_SUBPACKAGES = ("data", "jit", "linalg", "nn", "optim", "testing", "transforms")


def __getattr__(name: str):  # PEP 562: `cr.nn` etc. without importing them eagerly
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "compile":  # the function; its machinery lives in chainrule.jit
        return importlib.import_module(f"{__name__}.jit").compile
    if name == "manual_seed":  # the one seedable default generator lives in nn.init
        return importlib.import_module(f"{__name__}.nn.init").manual_seed
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def tensor(data, requires_grad: bool = False, *, dtype=None, name: str | None = None) -> Tensor:
    """Create a Tensor (the same as ``Tensor(...)``, in the NumPy/PyTorch spelling).

    A (nested) list or tuple holding tensors is *stacked* with chainrule ops, so gradients
    flow back to the tensors in it (``Tensor([t, u])`` would copy their values instead):
    ``cr.tensor([x, 2 * x])`` is ``cr.stack([x, 2 * x])``. Numbers and arrays beside them
    become constants. With ``requires_grad=True`` the result is a new leaf unless it
    already requires grad; ``dtype`` casts with the (differentiable) cast op.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1, 2]).dtype
    dtype('int64')
    >>> x = cr.Tensor(3.0, requires_grad=True)
    >>> y = cr.tensor([x, x * x, 1.0])
    >>> y.sum().backward()
    >>> y, float(x.grad)
    (Tensor([3., 9., 1.], op=concatenate), 7.0)
    """
    stacked = _stack_nested(data)
    if not isinstance(stacked, Tensor):
        return Tensor(data, requires_grad, dtype=dtype, name=name)
    t = stacked
    if dtype is not None and t.data.dtype != dtype:
        t = t.astype(dtype)
    if requires_grad and not t.requires_grad:
        t = Tensor(t.data, True, name=name)
    elif name is not None:
        t.name = name
    return t


def _stack_nested(data):
    """``data`` with every list/tuple that holds a Tensor stacked into one (else as is)."""
    if isinstance(data, Tensor) or not isinstance(data, list | tuple):
        return data
    items = [_stack_nested(d) for d in data]
    if not any(isinstance(d, Tensor) for d in items):
        return data
    dt = next(d.data.dtype for d in items if isinstance(d, Tensor))
    # Python numbers take the tensors' dtype where NumPy would (1.0 beside float32: float32)
    from .ops.shape import stack

    return stack(
        [
            d
            if isinstance(d, Tensor)
            else Tensor(
                np.asarray(d, dtype=np.result_type(dt, d))
                if isinstance(d, int | float | bool)
                else d
            )
            for d in items
        ]
    )


__all__ = [
    "AnomalyError",
    "BackwardError",
    "ChainruleError",
    "GradientError",
    "InplaceError",
    "CheckpointError",
    "NotFoundError",
    "NumpyFunctionError",
    "OpError",
    "Operation",
    "Primitive",
    "RowSparse",
    "ShapeError",
    "Tensor",
    "TensorLike",
    "as_tensor",
    "detect_anomaly",
    "enable_grad",
    "explain",
    "from_dlpack",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "load",
    "no_grad",
    "record_source",
    "save",
    "set_grad_enabled",
    "tensor",
    *_ops_all,
]
