"""Batched interpreters: push a whole batch of tangents or cotangents through a graph at once.

A batched value carries a leading batch axis, shape ``(B,) + value.shape``. Pushing an
identity matrix through the recorded graph in one pass gives all columns (forward) or rows
(reverse) of a Jacobian, at the cost of one pass of matrix-sized operations. The primitives'
own rules are not batch-aware in general (a reshape to ``x.shape``, an axis number, a 1-d
matmul all break), so each primitive carries batched rules of its own, ``jvp_batched`` and
``vjp_batched`` (protocol in :mod:`chainrule.core.primitive`). These interpreters read the
graph only through :mod:`chainrule.core.graph` and know no specific op; a node whose op
has no batched rule, or whose rule refuses a case, raises :class:`Unbatchable` and the
caller falls back to one pass per row or column.

Used by :func:`chainrule.transforms.jacobian` and :func:`chainrule.transforms.linearize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import Tensor, raw_mode
from ..core.errors import ChainruleError
from ..core.graph import Node, walk

__all__ = [
    "Unbatchable",
    "batched_jvp",
    "batched_vjp",
    "dependent_nodes",
    "has_batched_rule",
    "has_external",
]


class Unbatchable(ChainruleError):
    """An operation in the graph has no batched rule, or refused a case (triggers a fallback)."""


def dependent_nodes(outs: Sequence[Tensor], xs: Sequence[Tensor]) -> list[Node]:
    """Recorded nodes on a path from ``xs`` to ``outs``, in creation (topological) order."""
    dep = {id(x) for x in xs}
    nodes = []
    for n in walk(outs, stop_at=xs, who="jacobian"):
        if any(isinstance(a, Tensor) and id(a) in dep for a in n.inputs):
            dep.add(id(n.tensor))
            nodes.append(n)
    return nodes


def has_external(nodes: Sequence[Node], xs: Sequence[Tensor]) -> bool:
    """Whether the Jacobian depends on a tensor (other than xs) that requires grad."""
    dep = {id(x) for x in xs} | {id(n.tensor) for n in nodes}
    return any(
        isinstance(a, Tensor) and a.requires_grad and id(a) not in dep
        for n in nodes
        for a in n.inputs
    )


def has_batched_rule(op: type) -> bool:
    """Whether a batch can be pushed through primitive ``op`` in one pass.

    That is, whether ``op`` defines both ``jvp_batched`` and ``vjp_batched`` (see
    :mod:`chainrule.core.primitive`).
    """
    return (
        getattr(op, "jvp_batched", None) is not None
        and getattr(op, "vjp_batched", None) is not None
    )


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting on a batched gradient: (B,)+S -> (B,)+shape."""
    b = g.shape[0]
    core = g.shape[1:]
    if core == shape:
        return g
    if len(core) < len(shape):
        g = g.reshape((b,) + (1,) * (len(shape) - len(core)) + core)
        core = g.shape[1:]
    lead = len(core) - len(shape)
    axes = tuple(range(1, 1 + lead)) + tuple(
        1 + lead + k for k, n in enumerate(shape) if n == 1 and core[lead + k] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if g.shape[1:] != shape:
        g = np.broadcast_to(g.reshape((b,) + g.shape[1 + lead :]), (b,) + shape)
    return g


def _no_rule(n: Node) -> Unbatchable:
    return Unbatchable(f"{n.name!r} has no batched rule")


def batched_jvp(
    nodes: Sequence[Node],
    outs: Sequence[Tensor],
    xs: Sequence[Tensor],
    seeds: Sequence[np.ndarray | None],
    dry_run: bool = False,
) -> list[Any]:
    """Push batched tangents ``seeds`` ((B,)+x.shape per x, or None) through ``nodes``.

    Returns the batched tangent of each output ((B,)+out.shape), or None for an output the
    seeded inputs do not reach. Raises :class:`Unbatchable` for an op without batched rule
    (with ``dry_run=True``, only checks that every node has one).
    """
    if dry_run:
        for n in nodes:
            if getattr(n.op, "jvp_batched", None) is None:
                raise _no_rule(n)
        return []
    tan: dict[int, np.ndarray] = {}
    b = None
    for x, s in zip(xs, seeds, strict=True):
        if s is not None:
            tan[id(x)] = s
            b = s.shape[0]
    try:
        with raw_mode():  # rules see plain arrays: ops inside them run on NumPy directly
            for n in nodes:
                ins = n.inputs
                tans = [tan.get(id(a)) if isinstance(a, Tensor) else None for a in ins]
                if all(v is None for v in tans):
                    continue
                jvp_rule = getattr(n.op, "jvp_batched", None)
                if jvp_rule is None:
                    raise _no_rule(n)
                out = n.value
                r = jvp_rule(tans, out, n.input_values(), n.params)
                if r is None:
                    continue
                r = np.asarray(r)
                if r.ndim != out.ndim + 1 or r.shape[0] != b:
                    raise Unbatchable(f"batched rule of {n.name!r} gave shape {r.shape}")
                if r.shape[1:] != out.shape:
                    r = np.broadcast_to(r, (b,) + out.shape)
                if r.dtype != out.dtype:
                    r = r.astype(out.dtype)
                tan[id(n.tensor)] = r
    except (ValueError, IndexError, TypeError) as exc:  # a rule that does not batch
        raise Unbatchable(str(exc)) from exc
    return [tan.get(id(o)) for o in outs]


def batched_vjp(
    nodes: Sequence[Node], out: Tensor, xs: Sequence[Tensor], seed: np.ndarray
) -> list[Any]:
    """Pull the batched cotangent ``seed`` ((B,)+out.shape) back to each x ((B,)+x.shape)."""
    b = seed.shape[0]
    dep = {id(n.tensor) for n in nodes}
    want = {id(x): k for k, x in enumerate(xs)}
    res: list[Any] = [None] * len(xs)
    if id(out) in want:  # the output is an input itself (f = identity)
        res[want[id(out)]] = seed
    pending: dict[int, np.ndarray] = {id(out): seed}
    try:
        with raw_mode():
            for n in reversed(nodes):
                g = pending.pop(id(n.tensor), None)
                if g is None:
                    continue
                vjp_rule = getattr(n.op, "vjp_batched", None)
                if vjp_rule is None:
                    raise _no_rule(n)
                ins = n.inputs
                vals = n.input_values()
                for i, a in enumerate(ins):
                    if not isinstance(a, Tensor):
                        continue
                    key = id(a)
                    if key not in dep and key not in want:
                        continue
                    gi = vjp_rule(i, g, n.value, vals, n.params)
                    if gi is None:
                        continue
                    gi = np.asarray(gi)
                    if gi.ndim < 1 or gi.shape[0] != b:
                        raise Unbatchable(f"batched rule of {n.name!r} gave shape {gi.shape}")
                    gi = _sum_to(gi, a.shape)
                    if gi.dtype != a.data.dtype:
                        gi = gi.astype(a.data.dtype)
                    if key in want:
                        k = want[key]
                        res[k] = gi if res[k] is None else res[k] + gi
                    else:
                        pending[key] = gi if key not in pending else pending[key] + gi
    except (ValueError, IndexError, TypeError) as exc:
        raise Unbatchable(str(exc)) from exc
    return res
