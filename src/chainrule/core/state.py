"""Global switches read by dispatch and the backward engine.

One small object with plain attributes: the hot path reads ``STATE.x`` once per op, which is
cheaper than thread-locals or context variables. Like NumPy's error state, these switches are
process-wide (not per thread).
"""

from __future__ import annotations


class _State:
    __slots__ = ("grad_enabled", "raw", "clock", "last_write", "extras", "fwd_levels", "observers",
                 "anomaly", "record_source")

    def __init__(self) -> None:
        self.grad_enabled = True   # record a graph for ops whose inputs require grad
        self.raw = False           # inside a first-order rule: ops map arrays to arrays directly
        self.clock = 0             # increases on every recorded node and every in-place write
        self.last_write = 0        # clock value of the latest in-place write
        self.extras = False        # any of the slower features below is on
        self.fwd_levels: list = []  # active forward-mode (JVP) levels, innermost last
        self.observers: list = []  # callables told of every op (tracing, debugging)
        self.anomaly = False       # check every forward and backward value for NaN/inf
        self.record_source = 0     # >0: remember the user's source line of every node

    def refresh(self) -> None:
        """Recompute ``extras`` after a switch changed (kept in one place on purpose)."""
        self.extras = bool(self.fwd_levels or self.observers or self.anomaly
                           or self.record_source)


STATE = _State()
