"""Tools to trust a gradient: numeric gradient checks and the op registry sweep."""

from .checks import (
    GraphCheckResult,
    OperationCheckResult,
    check_graph,
    check_operation,
    default_tolerances,
)
from .gradcheck import GradcheckError, gradcheck, numeric_jvp, numeric_vjp
from .sweep import SweepFailure, sweep

__all__ = [
    "GradcheckError",
    "GraphCheckResult",
    "OperationCheckResult",
    "SweepFailure",
    "check_graph",
    "check_operation",
    "default_tolerances",
    "gradcheck",
    "numeric_jvp",
    "numeric_vjp",
    "sweep",
]
