"""The engine: Tensor, the dispatch front door, the backward engine and mode switches.

The core knows no specific op: primitives live in :mod:`chainrule.ops`.
"""

from .dispatch import apply
from .engine import backward, sum_to_shape
from .errors import (
    AnomalyError,
    BackwardError,
    ChainruleError,
    GradientError,
    InplaceError,
    OpError,
    ShapeError,
)
from .modes import (
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    record_source,
    set_grad_enabled,
)
from .primitive import REGISTRY, Primitive
from .sparse import RowSparse
from .state import STATE
from .tensor import Tensor, as_tensor

__all__ = [
    "REGISTRY", "STATE", "AnomalyError", "BackwardError", "ChainruleError", "GradientError",
    "InplaceError", "OpError", "Primitive", "RowSparse", "ShapeError", "Tensor", "apply",
    "as_tensor", "backward", "detect_anomaly", "enable_grad", "is_grad_enabled", "no_grad",
    "record_source", "set_grad_enabled", "sum_to_shape",
]
