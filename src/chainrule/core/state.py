"""The switches read by dispatch and the backward engine: one set per thread.

Grad mode, the raw mode used inside first-order rules, forward-mode levels, anomaly checks
and observers belong to the thread that set them (as in PyTorch; NumPy keeps its error
state the same way): one thread evaluating under ``no_grad()`` never stops another from
recording, and a backward pass running its rules on plain arrays in one thread never turns
another thread's forward ops raw. The state lives in a :class:`contextvars.ContextVar`, so
each thread (and each ``contextvars`` context, e.g. an asyncio task started with a fresh
one) gets its own, created on first use with the defaults.

Only two things are shared by every thread: the clock that orders graph nodes and
in-place writes (one increasing sequence, so that a node's inputs are always older than
the node, whichever thread made them) and the stamp of the latest in-place write.

Code outside :mod:`chainrule.core` never edits these objects: it uses the named context
managers of :mod:`chainrule.core.modes` (``no_grad``, ``raw_mode``, ``observing``, ...).
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Callable
from typing import Any


class ThreadState:
    """The switches of one thread (read on every op: plain slots, no properties)."""

    __slots__ = (
        "grad_enabled",
        "raw",
        "extras",
        "fwd_levels",
        "observers",
        "anomaly",
        "record_source",
        "owner",
        "concrete",
        "retain_graph",
    )

    def __init__(self) -> None:
        self.grad_enabled = True  # record a graph for ops whose inputs require grad
        self.raw = False  # inside a first-order rule: ops map arrays to arrays directly
        self.extras = False  # any of the slower features below is on
        self.fwd_levels: list = []  # active forward-mode (JVP) levels, innermost last
        self.observers: list = []  # callables told of every op (tracing, debugging)
        self.anomaly = False  # check every forward and backward value for NaN/inf
        self.record_source = 0  # >0: remember the user's source line of every node
        self.owner = threading.get_ident()
        # called as concrete(tensor, what) before a Tensor becomes a Python value (bool(t),
        # t.item(), ...): tracing refuses
        self.concrete: Callable[[Any, str], None] | None = None
        self.retain_graph = False  # set by the engine during a pass: rules may free saved data

    def refresh(self) -> None:
        """Recompute ``extras`` after a switch changed (kept in one place on purpose)."""
        self.extras = bool(self.fwd_levels or self.observers or self.anomaly or self.record_source)


_VAR: contextvars.ContextVar[ThreadState] = contextvars.ContextVar("chainrule_state")
_get = _VAR.get


def state() -> ThreadState:
    """This thread's switches (created with the defaults on first use).

    A thread that inherited another thread's context (free-threaded Python may copy the
    parent's context into a new thread) gets a fresh state too: the owner check keeps the
    parent's switches from leaking into it.
    """
    st = _get(None)
    if st is None or st.owner != threading.get_ident():
        st = ThreadState()
        _VAR.set(st)
    return st


# The one clock shared by all threads. ``next`` on an itertools.count is a single C call,
# atomic under the GIL, so two threads never draw the same value and values only grow.
tick = itertools.count(1).__next__


class _Writes:
    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = 0  # clock value of the latest in-place write, in any thread


WRITES = _Writes()


def stamp_write() -> int:
    """Draw a clock value for an in-place write and remember it as the latest one."""
    v = tick()
    if v > WRITES.last:  # another thread may have stored a newer stamp meanwhile
        WRITES.last = v
    return v
