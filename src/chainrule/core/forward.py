"""Forward-mode machinery: tangents carried alongside the forward pass.

A :class:`ForwardLevel` gives tensors tangents. While a level is active, dispatch calls
:func:`propagate_tangents` after every op, which sums the op's per-argument JVP rules over
the arguments that carry a tangent. A tangent is stored *on its primal* (the tensor's
``_tangents`` slot, keyed by level), so it is freed together with the primal: nothing is
recorded for reverse mode and a level holds no tensor alive, so memory stays flat in the
length of the program. When the level closes, the tangents it left on surviving tensors
are removed.

Levels nest (``jvp`` of ``jvp``): tangents of level *k* are computed with levels *k* and
deeper switched off, so an inner derivative is never confused with an outer one, while
outer levels keep tracking the tangent computation itself. Levels are visited outermost
first, so that the op's output already carries its outer tangents when an inner level's
rule reads it (see :func:`propagate_tangents`).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .state import state
from .tensor import Tensor


class ForwardLevel:
    """One forward-mode pass: ``tangent(t)`` is dt/d(direction), or None if not tracked."""

    __slots__ = ("carriers", "__weakref__")

    def __init__(self) -> None:
        # weak references to the tensors given a tangent, to clear them when the level closes
        self.carriers: list[weakref.ref] = []

    def set(self, t: Tensor, tangent: Tensor) -> None:
        """Give ``t`` the tangent ``tangent`` at this level (no checks: see :meth:`seed`)."""
        d = t._tangents
        if d is None:
            t._tangents = d = {}
        elif self in d:
            d[self] = tangent
            return
        d[self] = tangent
        self.carriers.append(weakref.ref(t))

    def close(self) -> None:
        """Remove this level's tangents from every tensor still alive."""
        for r in self.carriers:
            t = r()
            if t is not None and t._tangents is not None:
                t._tangents.pop(self, None)
                if not t._tangents:
                    t._tangents = None
        self.carriers.clear()

    def seed(self, t: Tensor, tangent: Any) -> None:
        tan = tangent if isinstance(tangent, Tensor) else Tensor(np.asarray(tangent))
        if tan.shape != t.shape:
            from .errors import ShapeError

            raise ShapeError(
                f"tangent of shape {tan.shape} for a primal of shape {t.shape}: "
                f"a tangent must have its primal's shape"
            )
        if tan.dtype != t.dtype:
            tan = (
                Tensor._wrap(tan.data.astype(t.dtype))
                if not tan.requires_grad
                else tan.astype(t.dtype)
            )
        self.set(t, tan)

    def tangent(self, t: Any) -> Tensor | None:
        """The tangent of ``t`` at this level, or None (also for non-tensors)."""
        d = t._tangents if isinstance(t, Tensor) else None
        return None if d is None else d.get(self)


@contextmanager
def forward_level() -> Iterator[ForwardLevel]:
    """Open a forward-mode level (in this thread) for the duration of a ``with`` block."""
    level = ForwardLevel()
    st = state()
    st.fwd_levels.append(level)
    st.refresh()
    try:
        yield level
    finally:
        st.fwd_levels.remove(level)
        st.refresh()
        level.close()


def active_levels() -> tuple[ForwardLevel, ...]:
    """The forward-mode levels open in this thread, outermost first."""
    return tuple(state().fwd_levels)


def is_tracked(x: Any) -> bool:
    """Whether any open forward-mode level gives ``x`` a tangent."""
    return (
        isinstance(x, Tensor)
        and bool(x._tangents)
        and any(level.tangent(x) is not None for level in state().fwd_levels)
    )


def propagate_tangents(op: Any, args: tuple, params: dict, t: Tensor) -> None:
    """Give ``t`` (the output of ``op``) its tangent at every open level, outermost first.

    Level *k*'s tangent is computed by the op's JVP rules with only the levels outside it
    (``levels[:k]``) switched on, so those outer levels differentiate the tangent
    computation itself. The order matters: a rule may read the op's output ``out`` (exp,
    tanh, div, ...), and ``out`` depends on the primal. Visiting the outer levels first
    gives ``t`` its outer tangents *before* the inner rule reads it, so the outer levels see
    ``d out`` too (``jvp`` of ``jvp`` of ``exp`` is ``exp``, not 0). Visiting innermost
    first would make ``out`` look constant to every outer level.
    """
    st = state()
    levels = st.fwd_levels
    if not op.differentiable:
        return
    for k in range(len(levels)):
        level = levels[k]
        tans = [level.tangent(a) for a in args]
        if not any(x is not None for x in tans):
            continue
        st.fwd_levels = levels[:k]
        st.refresh()
        try:
            tangent = _tangent_of(op, args, params, t, tans, k)
        finally:
            st.fwd_levels = levels
            st.refresh()
        if tangent is not None:
            level.set(t, tangent)


def _tangent_of(op: Any, args: tuple, params: dict, t: Tensor, tans: list, k: int) -> Any:
    st = state()
    # Plain arrays are enough when nothing can watch the tangent computation: no outer
    # forward level, and no reverse-mode recording that could reach it.
    raw = k == 0 and not (
        st.grad_enabled
        and (t.requires_grad or any(x is not None and x.requires_grad for x in tans))
    )
    if raw:
        vals = [a.data if isinstance(a, Tensor) else a for a in args]
        out: Any = t.data
        st.raw = True
    else:
        vals = list(args)
        out = t
    total = None
    try:
        for i, tan in enumerate(tans):
            if tan is None:
                continue
            x = tan.data if raw else tan
            rule = op.jvp_rule(i)
            if rule is None:
                continue
            r = rule(x, out, *vals, **params)
            if r is None:
                continue
            total = r if total is None else total + r
    finally:
        st.raw = False
    if total is None:
        return None
    shape = t.data.shape
    if raw:
        total = np.asarray(total)
        if total.shape != shape:
            total = np.broadcast_to(total, shape).copy()
        if total.dtype != t.data.dtype:
            total = total.astype(t.data.dtype)
        return Tensor._wrap(total)
    if not isinstance(total, Tensor):
        total = Tensor(total)
    if total.shape != shape:
        total = total.broadcast_to(shape)
    if total.dtype != t.data.dtype:
        total = total.astype(t.data.dtype)
    return total
