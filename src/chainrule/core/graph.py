"""The recorded graph, read-only: one walk and one node view for every interpreter.

Transforms (batched Jacobians), explanations and pictures (:mod:`chainrule.viz`), graph
checks (:mod:`chainrule.testing`) and the tracer all need the same two things: the recorded
nodes under some outputs in an order where every node comes after its inputs, and a way to
read a node (its primitive, inputs, params, value) and to call its rules as the engine
would. This module gives exactly that, so none of them touches a tensor's private slots or
writes its own graph loop.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.core.graph import walk
>>> x = cr.Tensor(2.0, requires_grad=True, name="x")
>>> y = cr.tanh(x * x) + x
>>> [n.op.name for n in walk([y])]
['mul', 'tanh', 'add']
>>> n = walk([y])[-1]
>>> [a.op or a.name for a in n.tensor_inputs()], n.value.shape
(['tanh', 'x'], ())
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .errors import BackwardError
from .tensor import Tensor

__all__ = ["Node", "is_freed", "leaves", "walk"]


class Node:
    """A read-only view of one recorded op: the tensor it produced and how.

    Attributes are read through to the tensor, so a view is cheap and always current.
    """

    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor) -> None:
        if tensor._op is None:
            raise BackwardError("Node: a leaf tensor is not a recorded op")
        self.tensor = tensor

    @property
    def op(self) -> Any:
        """The primitive class."""
        return self.tensor._op

    @property
    def name(self) -> str:
        """The primitive's name."""
        return self.tensor._op.name  # type: ignore[union-attr]  # a Node wraps a non-leaf

    @property
    def inputs(self) -> tuple:
        """The arguments exactly as passed: Tensors, arrays or numbers."""
        ins = self.tensor._inputs
        if ins is None:
            raise _freed_error(self.tensor, "read a node")
        return ins

    @property
    def params(self) -> dict:
        """The keyword parameters (axis, slope, index, ...)."""
        return self.tensor._params  # type: ignore[return-value]  # a non-leaf: a dict

    @property
    def value(self) -> np.ndarray:
        """The op's output array."""
        return self.tensor.data

    @property
    def seq(self) -> int:
        """Creation clock: larger means created later."""
        return self.tensor._seq

    @property
    def source(self) -> tuple[str, int, str] | None:
        """(file, line, function) of the user's line that made it, when recorded."""
        return self.tensor._source

    def input_values(self) -> list[Any]:
        """The arguments with Tensors replaced by their arrays (what the rules read)."""
        return [a.data if isinstance(a, Tensor) else a for a in self.inputs]

    def tensor_inputs(self) -> list[Tensor]:
        """The Tensor arguments, in order (duplicates kept)."""
        return [a for a in self.inputs if isinstance(a, Tensor)]

    def vjp(self, i: int, g: Any) -> Any:
        """Run the VJP rule for argument ``i`` on plain arrays, as a first-order backward does.

        The result is the rule's raw output (for ``broadcasts`` ops possibly the output's
        shape); None when argument ``i`` has no gradient.
        """
        from .modes import raw_mode

        rule = self.op.vjp_rule(i)
        if rule is None:
            return None
        with raw_mode():
            return rule(g, self.value, *self.input_values(), **self.params)

    def __repr__(self) -> str:
        return f"<Node {self.name} #{self.seq} shape={self.value.shape}>"


def is_freed(t: Tensor) -> bool:
    """Whether ``t`` was recorded but a backward pass has since freed its saved values."""
    return t._op is not None and t._inputs is None


def _freed_error(t: Tensor, who: str) -> BackwardError:
    return BackwardError(
        f"{who}: the graph through {t._op.name!r} was freed by an earlier backward() "  # type: ignore[union-attr]
        f"(saved values are released unless retain_graph=True). Call it before backward(), "
        f"pass retain_graph=True to backward(), or recompute the forward pass."
    )


def walk(
    outputs: Iterable[Tensor],
    *,
    stop_at: Sequence[Tensor] = (),
    skip_freed: bool = False,
    who: str = "walk",
) -> list[Node]:
    """The recorded nodes under ``outputs``, inputs before consumers (creation order).

    Iterative (any depth), each node once.

    Parameters
    ----------
    outputs : iterable of Tensor
        Where to start; leaves among them are ignored.
    stop_at : sequence of Tensor
        Tensors not to walk past (treated as leaves even if recorded).
    skip_freed : bool
        Treat nodes freed by an earlier backward() as leaves instead of raising.
    who : str
        Named in the error raised when a node's saved values were freed.

    Raises
    ------
    BackwardError
        When a node on the way was freed by an earlier backward() (unless ``skip_freed``).
    """
    stop = {id(s) for s in stop_at}
    seen: set[int] = set()
    found: list[Tensor] = []
    stack = [o for o in outputs if isinstance(o, Tensor)]
    while stack:
        t = stack.pop()
        key = id(t)
        if key in seen or key in stop or t._op is None:
            continue
        seen.add(key)
        ins = t._inputs
        if ins is None:
            if skip_freed:
                continue
            raise _freed_error(t, who)
        found.append(t)
        for a in ins:
            if isinstance(a, Tensor) and a._op is not None and id(a) not in seen:
                stack.append(a)  # (a recorded tensor always requires grad)
    found.sort(key=_seq)
    return [Node(t) for t in found]


def leaves(outputs: Iterable[Tensor], *, only_requiring_grad: bool = True) -> list[Tensor]:
    """The leaf tensors under ``outputs``, in order of first use by the recorded ops.

    With ``only_requiring_grad`` (the default) constants (leaves that do not require grad)
    are left out: the leaves a backward pass delivers gradients to.
    """
    out: list[Tensor] = [o for o in outputs if isinstance(o, Tensor) and o._op is None]
    seen = {id(o) for o in out}
    for n in walk(outputs, who="leaves"):
        for a in n.inputs:
            if (
                isinstance(a, Tensor)
                and a._op is None
                and id(a) not in seen
                and (a.requires_grad or not only_requiring_grad)
            ):
                seen.add(id(a))
                out.append(a)
    return out


def _seq(t: Tensor) -> int:
    return t._seq
