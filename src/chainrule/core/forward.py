"""Forward-mode machinery: tangents carried alongside the forward pass.

A :class:`ForwardLevel` maps tensors to their tangents. While a level is active, dispatch
calls :func:`propagate_tangents` after every op, which sums the op's per-argument JVP rules
over the arguments that carry a tangent. Nothing is recorded for reverse mode, so memory
stays flat in the length of the program.

Levels nest (``jvp`` of ``jvp``): tangents of level *k* are computed with levels *k* and
deeper switched off, so an inner derivative is never confused with an outer one, while
outer levels keep tracking the tangent computation itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .state import STATE
from .tensor import Tensor


class ForwardLevel:
    """One forward-mode pass: ``tangent(t)`` is dt/d(direction), or None if not tracked."""

    __slots__ = ("tangents",)

    def __init__(self) -> None:
        self.tangents: dict[int, tuple[Tensor, Tensor]] = {}

    def seed(self, t: Tensor, tangent: Any) -> None:
        tan = tangent if isinstance(tangent, Tensor) else Tensor(np.asarray(tangent))
        if tan.shape != t.shape:
            from .errors import ShapeError

            raise ShapeError(f"tangent of shape {tan.shape} for a primal of shape {t.shape}: "
                             f"a tangent must have its primal's shape")
        if tan.dtype != t.dtype:
            tan = Tensor._wrap(tan.data.astype(t.dtype)) if not tan.requires_grad \
                else tan.astype(t.dtype)
        self.tangents[id(t)] = (t, tan)

    def tangent(self, t: Any) -> Tensor | None:
        entry = self.tangents.get(id(t))
        return None if entry is None else entry[1]


@contextmanager
def forward_level() -> Iterator[ForwardLevel]:
    """Open a forward-mode level for the duration of a ``with`` block."""
    level = ForwardLevel()
    STATE.fwd_levels.append(level)
    STATE.refresh()
    try:
        yield level
    finally:
        STATE.fwd_levels.remove(level)
        STATE.refresh()


def propagate_tangents(op: Any, args: tuple, params: dict, t: Tensor) -> None:
    st = STATE
    levels = st.fwd_levels
    for k in range(len(levels) - 1, -1, -1):
        level = levels[k]
        tans = [level.tangent(a) if isinstance(a, Tensor) else None for a in args]
        if not any(x is not None for x in tans):
            continue
        if not op.differentiable:
            continue
        st.fwd_levels = levels[:k]
        st.refresh()
        try:
            tangent = _tangent_of(op, args, params, t, tans, k)
        finally:
            st.fwd_levels = levels
            st.refresh()
        if tangent is not None:
            level.tangents[id(t)] = (t, tangent)


def _tangent_of(op: Any, args: tuple, params: dict, t: Tensor, tans: list, k: int) -> Any:
    st = STATE
    # Plain arrays are enough when nothing can watch the tangent computation: no outer
    # forward level, and no reverse-mode recording that could reach it.
    raw = k == 0 and not (st.grad_enabled and (
        t.requires_grad or any(x is not None and x.requires_grad for x in tans)))
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
            if op.variadic:
                r = op.jvp(i, x, out, *vals, **params)
            else:
                rule = op.jvp[i]
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
