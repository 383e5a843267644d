"""What an op's forward keeps for its own backward, found again by the output's identity.

An op may offer ``keeps(*args, **params) -> (out, kept)`` beside its forward (see
:class:`chainrule.core.Primitive`): the forward that also returns an intermediate its
gradient needs (a cross-entropy's softmax, a solve's LU factors). When
:func:`chainrule.core.apply` records a node of such an op, it runs ``keeps`` and remembers
``kept`` here beside the output array; a VJP rule in a first-order pass receives that very
array as ``out`` and gets the value back with :func:`recall` (None: not kept, recompute).
An entry goes when its output array is freed. Generated code (:mod:`chainrule.jit`) pairs
``keeps`` with the gradient op's ``reuses`` instead, without this table.
"""

from __future__ import annotations

import weakref
from typing import Any

from .state import _get

__all__ = ["recall", "remember"]

_KEPT: dict[int, tuple[Any, Any]] = {}  # id(out) -> (weakref to out, kept value)


def remember(out: Any, value: Any) -> None:
    """Keep ``value`` for as long as the array ``out`` lives."""
    key = id(out)

    def forget(ref: Any) -> None:
        hit = _KEPT.get(key)
        if hit is not None and hit[0] is ref:
            del _KEPT[key]

    _KEPT[key] = (weakref.ref(out, forget), value)


def recall(out: Any) -> Any:
    """The value kept beside the array ``out`` by its op's forward, or None.

    Called from a VJP rule: unless the running backward pass retains the graph, the entry
    is dropped now, as the node's saved values are after the pass (a loss tensor kept for
    later must not keep, say, a softmax alive).
    """
    key = id(out)
    hit = _KEPT.get(key)
    if hit is None or hit[0]() is not out:
        return None
    st = _get(None)
    if st is None or not st.retain_graph:
        del _KEPT[key]
    return hit[1]
