"""The engine: Tensor, the dispatch front door, the backward engine and mode switches.

The core knows no specific op: primitives live in :mod:`chainrule.ops`.
"""

from .dispatch import apply
from .engine import accumulate_grads, backward, fix_gradient, sum_to_shape
from .errors import (
    AnomalyError,
    BackwardError,
    ChainruleError,
    GradientError,
    InplaceError,
    NotFoundError,
    OpError,
    ShapeError,
)
from .forward import active_levels, forward_level, is_tracked
from .graph import Node, is_freed, walk
from .modes import (
    concretizing,
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    note_random,
    observing,
    raw_mode,
    record_source,
    set_grad_enabled,
)
from .primitive import REGISTRY, Primitive, upstream
from .sparse import RowSparse
from .tensor import Tensor, as_tensor

__all__ = [
    "REGISTRY",
    "AnomalyError",
    "BackwardError",
    "ChainruleError",
    "GradientError",
    "InplaceError",
    "Node",
    "NotFoundError",
    "OpError",
    "Primitive",
    "RowSparse",
    "ShapeError",
    "Tensor",
    "active_levels",
    "apply",
    "as_tensor",
    "accumulate_grads",
    "backward",
    "concretizing",
    "detect_anomaly",
    "enable_grad",
    "fix_gradient",
    "forward_level",
    "is_anomaly_enabled",
    "is_freed",
    "is_grad_enabled",
    "is_tracked",
    "no_grad",
    "note_random",
    "observing",
    "raw_mode",
    "record_source",
    "set_grad_enabled",
    "sum_to_shape",
    "upstream",
    "walk",
]
