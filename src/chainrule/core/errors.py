"""Exception classes raised by chainrule.

Every error a user can cause is one of these, so ``except chainrule.ChainruleError`` catches
them all; each also subclasses the matching built-in (``ValueError``, ``TypeError``,
``RuntimeError``) so code written for NumPy keeps working.
"""

from __future__ import annotations


class ChainruleError(Exception):
    """Base class of every chainrule error."""


class ShapeError(ChainruleError, ValueError):
    """Shapes do not fit an op (forward) or a rule returned a gradient of the wrong shape."""


class GradientError(ChainruleError, TypeError):
    """Gradients were asked of something that cannot have them (an integer tensor, say)."""


class BackwardError(ChainruleError, RuntimeError):
    """backward() cannot run: non-scalar output without ``grad``, a freed graph, ..."""


class InplaceError(ChainruleError, RuntimeError):
    """A value backward needs was modified in place, or an in-place op would break the graph."""


class AnomalyError(ChainruleError, FloatingPointError):
    """Raised under ``detect_anomaly()`` when an op first produces NaN or inf."""


class OpError(ChainruleError, ValueError):
    """An op's forward failed for arguments that do not suit it (indices out of range, ...)."""


class NotFoundError(ChainruleError, KeyError):
    """A name that was looked up does not exist (a graph node, a registered primitive, ...)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""
