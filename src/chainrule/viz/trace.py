"""Record one backward pass, node by node, without touching anyone's ``.grad``.

:func:`record` walks the graph under an output, names every node, then runs the engine's
backward pass with an observer (see :func:`chainrule.core.engine.backward`): after each node
is visited the observer keeps its upstream gradient and what it sent to each input. The pass
runs with ``retain_graph=True`` (the graph stays usable: the user can still call
``backward()`` afterwards) and with ``inputs=`` set to the leaves, so the gradients are
returned to us instead of being accumulated into the leaves' ``.grad``. Retained ``.grad``
of non-leaf tensors (``retain_grad()``), which the engine fills in any case, are put back
as they were.

:mod:`chainrule.viz.explain` turns a :class:`Trace` into prose, :mod:`chainrule.viz.draw`
into a picture.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.viz.trace import record
>>> x = cr.Tensor(3.0, requires_grad=True, name="x")
>>> tr = record(x * x)
>>> tr.names[id(tr.output)], float(tr.grad(x))
('f', 6.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import BackwardError, Tensor
from ..core.engine import backward as _engine_backward
from ..core.graph import Node, walk
from ..core.graph import leaves as graph_leaves

__all__ = ["Trace", "Received", "record"]


@dataclass(frozen=True)
class Received:
    """One gradient contribution: ``consumer`` sent ``grad`` to its argument ``arg``."""

    consumer: Tensor
    arg: int
    grad: np.ndarray


@dataclass
class Trace:
    """Everything one backward pass computed, keyed by ``id(tensor)``.

    Attributes
    ----------
    output : Tensor
    seed : ndarray
        dL/d(output) the pass started from.
    ops : list of Tensor
        Op nodes in the order the backward pass visited them (reverse topological).
    leaves : list of Tensor
        Tensors requiring grad that no recorded op produced, in order of first use.
    names : dict
        A unique display name per node: ``Tensor.name`` where given (a repeated name gets
        ``#2``, ``#3``...), else ``f`` for the output, ``t1, t2, ...`` for intermediate
        nodes in forward order and ``v1, v2, ...`` for leaves.
    values, upstream : dict
        Each node's forward value (a copy) and dL/d(node) (summed over all its uses).
    sent : dict
        Per op node, the ``(argument index, gradient)`` pairs its VJP rules produced.
    received : dict
        Per node, the :class:`Received` contributions it got from its consumers.
    local : dict
        Per op node with a one-element output, ``{argument index: ∂node/∂argument}`` for
        its one-element arguments (the local derivative, from the op's VJP rule with an
        upstream gradient of 1).
    """

    output: Tensor
    seed: np.ndarray
    ops: list[Tensor] = field(default_factory=list)
    leaves: list[Tensor] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    values: dict[int, np.ndarray] = field(default_factory=dict)
    upstream: dict[int, np.ndarray] = field(default_factory=dict)
    sent: dict[int, list[tuple[int, np.ndarray]]] = field(default_factory=dict)
    received: dict[int, list[Received]] = field(default_factory=dict)
    local: dict[int, dict[int, float]] = field(default_factory=dict)
    const_names: dict[int, str] = field(default_factory=dict)
    const_arrays: list[tuple[str, np.ndarray]] = field(default_factory=list)

    def name(self, t: Tensor) -> str:
        """The display name of node ``t``."""
        return self.names[id(t)]

    def const_name(self, a: Any) -> str | None:
        """The name given (``names=``) to a constant input (an array or a Tensor), if any."""
        if id(a) in self.const_names:
            return self.const_names[id(a)]
        if isinstance(a, Tensor):
            a = a.data
            if id(a) in self.const_names:
                return self.const_names[id(a)]
        if isinstance(a, np.ndarray) and self.const_arrays:
            # a converted copy (e.g. targets cast to intp): recognised by equal contents
            for name, arr in self.const_arrays:
                if (
                    arr.shape == a.shape
                    and arr.dtype.kind == a.dtype.kind
                    and np.array_equal(arr, a)
                ):
                    return name
        return None

    def grad(self, t: Tensor) -> np.ndarray:
        """dL/dt for a node of the graph."""
        return self.upstream[id(t)]

    @property
    def forward_ops(self) -> list[Tensor]:
        """Op nodes in the order they were computed."""
        return sorted(self.ops, key=lambda t: t._seq)


def _collect(output: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    """All op nodes (forward order) and leaves (order of first use) under ``output``."""
    try:
        nodes = walk([output])
    except BackwardError as exc:
        raise BackwardError(
            "cannot explain: the graph under this output was freed by a backward() "
            "without retain_graph=True. Call explain()/draw() before backward(), or use "
            "backward(retain_graph=True), or recompute the forward pass."
        ) from exc
    return [n.tensor for n in nodes], graph_leaves([output])


def resolve_names(names: Any) -> tuple[dict[int, str], dict[int, str]]:
    """Read the ``names=`` argument of explain/draw/page.

    ``names`` is a module (its parameters are named ``model.<path>``, e.g.
    ``model.0.weight``), or a mapping from a name to a Tensor, a NumPy array (a constant
    input such as a batch) or a module (its parameters named ``<name>.<path>``), or None.
    Returns ``({id(tensor): name}, {id(array or tensor): name})``: the second also names
    constants, by the identity of the array passed in.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import nn
    >>> m = nn.Linear(2, 3, rng=np.random.default_rng(0))
    >>> tensors, _ = resolve_names({"net": m})
    >>> sorted(tensors.values())
    ['net.bias', 'net.weight']
    """
    tensors: dict[int, str] = {}
    consts: dict[int, str] = {}
    if names is None:
        return tensors, consts
    if hasattr(names, "named_parameters") and callable(names.named_parameters):
        names = {"model": names}
    if not isinstance(names, Mapping):
        raise BackwardError(
            f"names= takes a module or a mapping from names to tensors, arrays or modules, "
            f"got {type(names).__name__}"
        )
    for key, obj in names.items():
        key = str(key)
        if hasattr(obj, "named_parameters") and callable(obj.named_parameters):
            for pname, p in obj.named_parameters():
                tensors.setdefault(id(p), f"{key}.{pname}")
        elif isinstance(obj, Tensor):
            tensors[id(obj)] = key
            consts[id(obj)] = key
            consts.setdefault(id(obj.data), key)
        elif isinstance(obj, np.ndarray):
            consts[id(obj)] = key
        else:
            raise BackwardError(
                f"names=: {key!r} names a {type(obj).__name__}; give a Tensor, a NumPy "
                f"array or a module"
            )
    return tensors, consts


def _named_arrays(names: Any) -> list[tuple[str, np.ndarray]]:
    if not isinstance(names, Mapping):
        return []
    return [
        (str(k), v.data if isinstance(v, Tensor) else v)
        for k, v in names.items()
        if isinstance(v, np.ndarray | Tensor)
    ]


def _assign_names(
    output: Tensor, ops: list[Tensor], leaves: list[Tensor], given: dict[int, str] | None = None
) -> dict[int, str]:
    nodes = leaves + ops
    given = given or {}
    wanted = {t.name for t in nodes if t.name} | {given[id(t)] for t in nodes if id(t) in given}
    taken: set[str] = set()
    names: dict[int, str] = {}

    def claim(base: str) -> str:
        name, k = base, 2
        while name in taken:
            name = f"{base}#{k}"
            k += 1
        taken.add(name)
        return name

    for t in nodes:  # names given to explain() first, then Tensor.name, then automatic
        if id(t) in given:
            names[id(t)] = claim(given[id(t)])
    for t in nodes:
        if t.name and id(t) not in names:
            names[id(t)] = claim(t.name)

    def auto(prefix: str, counter: list[int]) -> str:
        while True:
            counter[0] += 1
            candidate = f"{prefix}{counter[0]}"
            if candidate not in taken and candidate not in wanted:
                return claim(candidate)

    if id(output) not in names:
        names[id(output)] = claim("f" if "f" not in wanted else "out")
    leaf_counter, op_counter = [0], [0]
    for t in leaves:
        if id(t) not in names:
            names[id(t)] = auto("v", leaf_counter)
    for t in ops:
        if id(t) not in names:
            names[id(t)] = auto("t", op_counter)
    return names


def _local_derivatives(t: Tensor) -> dict[int, float]:
    """∂t/∂argument for one-element nodes, from the op's own VJP rule with g = 1."""
    out: dict[int, float] = {}
    if t.data.size != 1:
        return out
    node = Node(t)
    one = np.ones_like(t.data)
    for i, a in enumerate(node.inputs):
        if not (isinstance(a, Tensor) and a.requires_grad and a.data.size == 1):
            continue
        try:
            gi = node.vjp(i, one)
            if gi is None:
                continue
            gi = np.asarray(gi.data if isinstance(gi, Tensor) else gi)
            out[i] = float(gi.sum())  # a broadcast rule may return the output's shape
        except Exception:  # noqa: BLE001 - an explanation must not fail on a quirky rule
            continue
    return out


def record(output: Tensor, grad: Any = None, names: Any = None) -> Trace:
    """Run a backward pass from ``output`` and keep every intermediate gradient.

    Parameters
    ----------
    output : Tensor
        A tensor produced by recorded ops (it must require grad).
    grad : array_like, optional
        dL/d(output). Default: 1 for a one-element output, else ones (that is, the
        explanation of ``output.sum()``).
    names : module or mapping, optional
        Display names for parameters, inputs and constants (see :func:`resolve_names`).

    Returns
    -------
    Trace

    Raises
    ------
    BackwardError
        If ``output`` records nothing, or its graph was freed by an earlier backward().
    """
    if not isinstance(output, Tensor):
        raise BackwardError(
            f"explain()/draw() take a chainrule Tensor, got {type(output).__name__}"
        )
    if not output.requires_grad:
        raise BackwardError(
            "cannot explain a tensor that does not require grad: no operation that produced "
            "it was recorded. Create the inputs with requires_grad=True (outside no_grad()) "
            "before computing it."
        )
    if grad is None:
        seed = np.ones_like(output.data)
    else:
        seed = np.array(
            grad.data if isinstance(grad, Tensor) else grad, dtype=output.data.dtype, copy=True
        )
        if seed.shape != output.shape:
            raise BackwardError(
                f"explain(grad=...) got a gradient of shape {seed.shape} for an output of "
                f"shape {output.shape}; they must match"
            )
    given, consts = resolve_names(names)
    ops, leaves = _collect(output)
    tr = Trace(
        output=output,
        seed=seed,
        leaves=leaves,
        const_names=consts,
        const_arrays=_named_arrays(names),
    )
    tr.names = _assign_names(output, ops, leaves, given)
    for t in leaves + ops:
        tr.values[id(t)] = np.array(t.data, copy=True)
        tr.received[id(t)] = []

    def observer(t: Tensor, g: Any, contributions: list[tuple[int, Any]]) -> None:
        tr.ops.append(t)
        tr.upstream[id(t)] = np.asarray(g)
        pairs = [(i, np.asarray(gi)) for i, gi in contributions]
        tr.sent[id(t)] = pairs
        for i, gi in pairs:
            tr.received[id(t._inputs[i])].append(Received(t, i, gi))
        local = _local_derivatives(t)
        if local:
            tr.local[id(t)] = local

    # The engine stores into .grad of non-leaves marked retain_grad() even with inputs=:
    # remember those and put them back, so explaining leaves the user's state as it was.
    retained = [(t, t.grad) for t in ops if t._retain]
    try:
        found = _engine_backward(
            [output], [seed], retain_graph=True, inputs=leaves, observer=observer
        )
    finally:
        for t, g in retained:
            t.grad = g
    for leaf, g in zip(leaves, found or [], strict=False):
        tr.upstream[id(leaf)] = np.asarray(g.data) if g is not None else np.zeros_like(leaf.data)
    return tr
