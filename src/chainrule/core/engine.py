"""The reverse-mode engine: backpropagation over the recorded graph.

Seed the output with dL/d(out) (1 for a scalar), then visit nodes in reverse topological
order, each exactly once, by popping the largest ``_seq`` from a heap (a node's inputs are
always older than the node). At each node: [downstream grad] = rule(upstream grad, saved
values); contributions to a value used in several places are **summed** before that value's
node is visited. No recursion, so a chain of any length works.

In a first-order pass the rules run on plain NumPy arrays (raw mode), which costs
about what hand-written NumPy costs. With ``create_graph=True`` they run on Tensors and are
themselves recorded, so the gradient can be differentiated again.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .dispatch import format_frame
from .errors import AnomalyError, BackwardError, InplaceError, ShapeError
from .primitive import upstream
from .sparse import RowSparse
from .state import WRITES, state
from .tensor import Tensor, version


def sum_to_shape(g: Any, shape: tuple[int, ...]) -> Any:
    """Undo NumPy broadcasting: sum ``g`` down to ``shape`` (works on arrays and Tensors).

    This is the one place in chainrule where broadcasting is undone.
    """
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead or g.shape != shape:
        g = g.reshape(shape)
    return g


def _broadcastable(src: tuple[int, ...], dst: tuple[int, ...]) -> bool:
    if len(src) > len(dst):
        return False
    return all(s == d or s == 1 for s, d in zip(src[::-1], dst[::-1], strict=False))


def _arg_label(op: Any, i: int, a: Tensor) -> str:
    label = f"argument {i}"
    if a.name:
        label += f" ({a.name!r})"
    return label


def _fix_grad(op: Any, i: int, a: Tensor, gi: Any, raw: bool) -> Any:
    """Check (and for broadcasting ops, reduce) a rule's gradient for input ``a``."""
    if raw:
        if type(gi) is not np.ndarray:
            if isinstance(gi, RowSparse):
                return _check_sparse(op, i, a, gi)
            gi = np.asarray(gi)
    elif not isinstance(gi, Tensor):
        gi = Tensor(gi)
    shape = a.data.shape
    if gi.shape != shape:
        if op.broadcasts and _broadcastable(shape, gi.shape):
            gi = sum_to_shape(gi, shape)
        else:
            raise ShapeError(
                f"the VJP rule of {op.name!r} returned a gradient of shape {tuple(gi.shape)} "
                f"for {_arg_label(op, i, a)}, whose shape is {shape}: a gradient must have "
                f"the shape of what it differentiates. Fix the rule (sum over broadcast "
                f"axes, or set `broadcasts = True` on the primitive)."
            )
    if gi.dtype != a.data.dtype:
        gi = gi.astype(a.data.dtype)
    return gi


def fix_gradient(op: Any, i: int, a: Tensor, g: Any) -> Any:
    """The engine's checks on what a rule returned for argument ``i`` (Tensor ``a``), in a
    recorded pass: a Tensor of ``a``'s shape (broadcasting undone for ``broadcasts`` ops,
    else a ShapeError naming the op) and dtype. For interpreters that run the rules
    themselves (:mod:`chainrule.jit`), so the checks stay in one place."""
    return _fix_grad(op, i, a, g, False)


def _check_sparse(op: Any, i: int, a: Tensor, gi: RowSparse) -> Any:
    if gi.shape != a.data.shape:
        raise ShapeError(
            f"the VJP rule of {op.name!r} returned a row-sparse gradient of shape {gi.shape} "
            f"for {_arg_label(op, i, a)}, whose shape is {a.data.shape}"
        )
    if gi.dtype != a.data.dtype:
        gi = gi.astype(a.data.dtype)
    if a._op is not None:  # a recorded table: the rules of its own op need a dense gradient
        return gi.to_dense()
    return gi


def _as_seed(root: Tensor, g: Any, create_graph: bool) -> Any:
    if g is None:
        if root.data.size != 1:
            raise BackwardError(
                f"backward() on a tensor of shape {root.shape} needs `grad`, an array of "
                f"that shape holding dL/d(output) (it is seeded with 1 only for a "
                f"one-element output). For the sum of the outputs use y.sum().backward()."
            )
        g = np.ones_like(root.data)
    else:
        g = np.array(g.data if isinstance(g, Tensor) else g, dtype=root.data.dtype, copy=True)
        if g.shape != root.data.shape:
            raise BackwardError(
                f"backward(grad=...) got grad of shape {g.shape} for an output of shape "
                f"{root.shape}; they must match"
            )
    return Tensor._wrap(g) if create_graph else g


def backward(
    roots: Sequence[Tensor],
    grads: Sequence[Any] | None = None,
    *,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
    observer: Callable[..., None] | None = None,
    constants: Sequence[Tensor] | None = None,
) -> list[Any] | None:
    """Backpropagate from ``roots``.

    Parameters
    ----------
    roots : sequence of Tensor
        Outputs to differentiate (their contributions are summed).
    grads : sequence, optional
        dL/d(root) for each root; ``None`` entries are seeded with 1 (one-element roots only).
    retain_graph : bool, optional
        Keep the graph for another backward pass (default: ``create_graph``).
    create_graph : bool
        Record the backward pass so gradients can be differentiated again.
    inputs : sequence of Tensor, optional
        Return the gradients of these tensors (``None`` where no path leads) instead of
        accumulating into leaves' ``.grad``.
    observer : callable, optional
        Called as ``observer(t, g, contributions)`` after each node ``t`` is visited, with
        ``g`` = dL/dt and ``contributions`` a list of ``(i, grad)`` per input: used by
        :mod:`chainrule.viz` to narrate the pass.
    constants : sequence of Tensor, optional
        Tensors this pass treats as constants: no gradient is sent to them (nor through
        them into their own graph). With ``create_graph=True`` the recorded result still
        depends on them wherever a rule reads them (``vjp``'s pullback of a cotangent).

    Returns
    -------
    list or None
        The gradients of ``inputs`` when given.
    """
    st = state()
    if retain_graph is None:
        retain_graph = create_graph
    raw = not create_graph
    # Interior nodes waiting for their turn: pending[seq] = [node, summed gradient], and a
    # heap of -seq to pop the newest first. Leaves collect theirs in `leaves` (by id).
    pending: dict[int, list[Any]] = {}
    heap: list[int] = []
    leaves: dict[int, list[Any]] = {}
    wanted = {id(t): j for j, t in enumerate(inputs)} if inputs is not None else None
    found: list[Any] = [None] * len(inputs) if inputs is not None else []
    heappush, heappop, ndarray = heapq.heappush, heapq.heappop, np.ndarray

    def send(a: Tensor, gi: Any) -> None:
        # Deliver a seed: leaves collect theirs, interior nodes wait in the heap until every
        # consumer (all newer nodes) has contributed. The loop below inlines the same steps.
        if a._op is None:
            slot = leaves.get(id(a))
            if slot is None:
                leaves[id(a)] = [a, gi]
            else:
                slot[1] = slot[1] + gi
        else:
            entry = pending.get(a._seq)
            if entry is None:
                pending[a._seq] = [a, gi]
                heappush(heap, -a._seq)
            else:
                entry[1] = entry[1] + gi

    for j, root in enumerate(roots):
        if not isinstance(root, Tensor) or not root.requires_grad:
            raise BackwardError(
                "backward() called on a tensor that does not require grad: nothing that "
                "produced it was recorded. Create inputs with requires_grad=True (and check "
                "you are not inside no_grad())."
            )
        send(root, _as_seed(root, grads[j] if grads is not None else None, create_graph))

    saved_raw, saved_enabled, saved_retain = st.raw, st.grad_enabled, st.retain_graph
    st.raw = raw
    st.grad_enabled = True
    st.retain_graph = retain_graph  # rules of ops holding their own saved data read it
    anomaly = st.anomaly
    # the rarely used features share one flag, so the common pass tests a single local
    stop = {id(c) for c in constants} if constants else None
    slow = anomaly or observer is not None or wanted is not None or stop is not None
    # Post-accumulate-grad hooks: only when some tensor has one (one test otherwise), count
    # each hooked leaf's edges so that its .grad is set, and its hooks run, once its last
    # consumer has been visited (Tensor.register_post_accumulate_grad_hook).
    countdown = _count_hooked_edges(roots) if _ACC_HOOKS and inputs is None else None
    seen: set[int] = set()
    # In-place writes made before this pass; rules never write in place, so one read does.
    last_write = WRITES.last
    try:
        # `held` short-cuts the heap for chains: while the heap is empty, the one interior
        # node that has received a gradient is necessarily the next to visit, so it is kept
        # in a local ([node, grad]) instead of going through the dict and the heap.
        held = None
        while True:
            if held is not None:
                t, g = held
                held = None
            elif heap:
                t, g = pending.pop(-heappop(heap))
            else:
                break
            op = t._op
            ins = t._inputs
            if ins is None:
                raise BackwardError(
                    f"trying to backward through the graph a second time: the values saved "
                    f"by {op.name!r} were freed after the first backward(). Pass "
                    f"retain_graph=True to the first call if you need to backpropagate "
                    f"twice (or recompute the forward pass)."
                )
            if last_write > t._seq:  # something was written in place after t was made
                _check_versions(t, ins)
            if t._retain:
                t.grad = _accumulate(t.grad, g, raw)
            contributions: list[Any] | None = None
            if slow:
                if wanted is not None and id(t) in wanted:
                    found[wanted[id(t)]] = g
                if observer is not None:
                    contributions = []
            params = t._params
            if raw:
                vals = t._saved
                out = t.data
            else:
                vals = ins
                out = t
            rules = op.vjp
            variadic = op.variadic
            n = len(ins)
            i = -1
            for a in ins:  # (a counter is cheaper than enumerate() on this hot path)
                i += 1
                if not (isinstance(a, Tensor) and a.requires_grad):
                    continue
                if variadic:
                    gi = rules(i, g, out, *vals, **params)
                else:
                    rule = rules[i]
                    if rule is None:
                        continue
                    if rule is upstream:  # dx = dz: nothing to call
                        gi = g
                    # common arities spelled out: unpacking *vals costs as much as the call
                    elif params:
                        gi = rule(g, out, *vals, **params)
                    elif n == 2:
                        gi = rule(g, out, vals[0], vals[1])
                    elif n == 1:
                        gi = rule(g, out, vals[0])
                    else:
                        gi = rule(g, out, *vals)
                if gi is None:
                    continue
                # fast path: a raw array of the right shape and dtype needs no fixing
                # (dtypes of built-in types are shared objects, so `is` decides; any other
                # case, including every row-sparse gradient, goes through _fix_grad)
                ad = a.data
                if not (
                    raw and type(gi) is ndarray and gi.shape == ad.shape and gi.dtype is ad.dtype
                ):
                    gi = _fix_grad(op, i, a, gi, raw)
                if slow:
                    if stop is not None and id(a) in stop:
                        continue
                    if anomaly:
                        _check_finite_grad(t, i, gi)
                    if contributions is not None:
                        contributions.append((i, gi))
                # send(a, gi), inlined: this loop is the hot path of every backward pass
                if a._op is None:
                    slot = leaves.get(id(a))
                    if slot is None:
                        leaves[id(a)] = [a, gi]
                    else:
                        slot[1] = slot[1] + gi
                elif held is not None and held[0] is a:
                    held[1] = held[1] + gi
                else:
                    if held is not None:  # a second node is waiting now: file both
                        seq = held[0]._seq
                        pending[seq] = held
                        heappush(heap, -seq)
                        held = None
                    seq = a._seq
                    entry = pending.get(seq)
                    if entry is not None:
                        entry[1] = entry[1] + gi
                    elif heap:
                        pending[seq] = [a, gi]
                        heappush(heap, -seq)
                    else:
                        held = [a, gi]
            if countdown is not None:
                for a in ins:
                    left = countdown.get(id(a)) if isinstance(a, Tensor) else None
                    if left is not None:
                        countdown[id(a)] = left - 1
                        if left == 1 and id(a) in leaves:  # its last consumer: final now
                            leaf, leaf_g = leaves.pop(id(a))
                            _finalize(leaf, leaf_g, raw, seen)
            if contributions is not None:  # a list only when there is an observer
                observer(t, g, contributions)  # type: ignore[misc]
            if not retain_graph:
                # free saved values: the graph cannot be walked again
                t._inputs = t._saved = None
    finally:
        st.raw, st.grad_enabled, st.retain_graph = saved_raw, saved_enabled, saved_retain

    if inputs is not None:
        for key, (_, g) in leaves.items():
            # `wanted` is a dict whenever `inputs` is given (set together above)
            if key in wanted:  # type: ignore[operator]
                found[wanted[key]] = g  # type: ignore[index]
        return [Tensor._wrap(_owned(np.asarray(g))) if raw and g is not None else g for g in found]
    for a, g in leaves.values():
        _finalize(a, g, raw, seen)
    return None


def accumulate_grads(pairs: Iterable[tuple[Tensor, Any]], arrays: Iterable[Any] = ()) -> None:
    """Accumulate gradients into leaves' ``.grad`` exactly as ``backward()`` finishes.

    ``pairs`` holds (leaf, gradient array or RowSparse) from one first-order pass; each
    ``.grad`` gets its own array (never one shared with another leaf, a view, or one of
    ``arrays``, e.g. the inputs the gradients were computed from) and the leaf's
    post-accumulate-grad hooks run. For code that computes gradients without the engine
    (:meth:`chainrule.jit.Compiled.forward_backward`).
    """
    seen = {id(a) for a in arrays}
    for a, g in pairs:
        _finalize(a, g, True, seen)


def _finalize(a: Tensor, g: Any, raw: bool, seen: set[int]) -> None:
    """Accumulate a leaf's summed gradient into its ``.grad``, then run its hooks."""
    if raw and type(g) is np.ndarray:
        # A rule may pass the same array to several inputs (add's gradient is g for
        # both): give each leaf its own array so that in-place updates of one .grad
        # never touch another.
        if id(g) in seen:
            g = g.copy()
        seen.add(id(g))
    a.grad = _accumulate(a.grad, g, raw)
    if _ACC_HOOKS:
        entry = _ACC_HOOKS.get(id(a))
        if entry is not None:
            for hook in list(entry[1].values()):
                hook(a)


# Post-accumulate-grad hooks by id of the tensor: {id: (weakref to it, {key: hook})}. The
# weakref's callback drops the entry, so a hook never outlives its tensor (and a new tensor
# that reuses the id never inherits it).
_ACC_HOOKS: dict[int, tuple[Any, dict[int, Callable[[Tensor], None]]]] = {}
_hook_keys = iter(range(1, 1 << 62))


class HookHandle:
    """Returned by :meth:`Tensor.register_post_accumulate_grad_hook`; ``remove()`` undoes it."""

    __slots__ = ("_tid", "_key")

    def __init__(self, tid: int, key: int) -> None:
        self._tid, self._key = tid, key

    def remove(self) -> None:
        entry = _ACC_HOOKS.get(self._tid)
        if entry is not None:
            entry[1].pop(self._key, None)
            if not entry[1]:
                del _ACC_HOOKS[self._tid]


def register_post_accumulate_grad_hook(t: Tensor, hook: Callable[[Tensor], None]) -> HookHandle:
    """Run ``hook(t)`` in every backward pass, right after ``t.grad`` got its final value."""
    if not callable(hook):
        raise BackwardError(
            f"register_post_accumulate_grad_hook needs a callable, got {type(hook).__name__}"
        )
    if t._op is not None or not t.requires_grad:
        raise BackwardError(
            "post-accumulate-grad hooks are for leaf tensors with requires_grad=True (those "
            "whose .grad backward() fills): register it on the parameter, not on a result"
        )
    tid = id(t)
    entry = _ACC_HOOKS.get(tid)
    if entry is None:

        def forget(_: Any) -> None:
            _ACC_HOOKS.pop(tid, None)

        entry = _ACC_HOOKS[tid] = (weakref.ref(t, forget), {})
    key = next(_hook_keys)
    entry[1][key] = hook
    return HookHandle(tid, key)


def _count_hooked_edges(roots: Sequence[Tensor]) -> dict[int, int] | None:
    """For each hooked leaf in the graph of ``roots``: how many node inputs it is."""
    counts: dict[int, int] = {}
    todo = [r for r in roots if r._op is not None]
    visited = {id(r) for r in todo}
    while todo:
        t = todo.pop()
        for a in t._inputs or ():
            if not (isinstance(a, Tensor) and a.requires_grad):
                continue
            if a._op is None:
                if id(a) in _ACC_HOOKS:
                    counts[id(a)] = counts.get(id(a), 0) + 1
            elif id(a) not in visited:
                visited.add(id(a))
                todo.append(a)
    return counts or None


def _accumulate(old: Any, g: Any, raw: bool) -> Any:
    """The new ``.grad``: ``g``, or ``old + g``; never a view that aliases other arrays."""
    if isinstance(g, RowSparse):
        # Row-sparse gradients (embedding lookups, first-order only) stay sparse in .grad so
        # optimisers can update only the rows that were used.
        if old is None:
            return RowSparse(g.indices, _owned(g.values), g.shape)
        return old + g if isinstance(old, RowSparse) else Tensor._wrap(old.data + g)
    if not raw:  # recorded pass: keep the sum in the graph
        if old is None:
            return g
        return (old.to_dense() if isinstance(old, RowSparse) else old) + g
    if old is None:
        return Tensor._wrap(_owned(g))  # e.g. a read-only broadcast view becomes an array
    return Tensor._wrap(old.data + g)  # RowSparse.data is its dense form


def _owned(g: np.ndarray) -> np.ndarray:
    if g.base is not None or not g.flags.writeable:
        return g.copy()
    return g


def _check_versions(t: Tensor, ins: tuple) -> None:
    # t is a graph node, so t._op is a primitive (the ignores below: not None)
    stamp = t._seq
    if version(t) > stamp:
        raise InplaceError(
            f"the output of {t._op.name!r} (shape {t.shape}) was modified in place after it "  # type: ignore[union-attr]
            f"was computed, but its backward rule needs the original value. Clone before "
            f"modifying, or modify a detached copy."
        )
    for i, a in enumerate(ins):
        if isinstance(a, Tensor) and version(a) > stamp:
            who = f" ({a.name!r})" if a.name else ""
            raise InplaceError(
                f"argument {i}{who} of {t._op.name!r} (shape {a.shape}) was modified in place "  # type: ignore[union-attr]
                f"after {t._op.name!r} used it, so its saved value is stale and the gradient "  # type: ignore[union-attr]
                f"would be wrong. Modify a copy, or recompute the forward pass after the change."
            )


def _check_finite_grad(t: Tensor, i: int, gi: Any) -> None:
    data = gi if isinstance(gi, np.ndarray) else gi.data
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise AnomalyError(
            f"the backward rule of {t._op.name!r} produced a non-finite gradient for its "  # type: ignore[union-attr]  # a node
            f"argument {i} (shape {data.shape}); that op was created at "
            f"{format_frame(t._source)}"
        )
