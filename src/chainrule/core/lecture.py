"""Lecture notation of a primitive: how explanations, pictures and formulas write the op.

Every primitive carries a :class:`Lecture` as its ``lecture`` class attribute, beside its
forward, VJP and JVP (see :mod:`chainrule.core.primitive`). :mod:`chainrule.viz` reads it
from there (``chainrule explain``, :func:`chainrule.viz.explain`, :func:`chainrule.viz.draw`,
the expression language and the interactive page), so teaching chainrule a new op
touches one file: the op's own. The core never imports viz: this is plain data.

Templates use ``{0}``, ``{1}``, ... for the arguments' names, ``{z}`` for the output's name,
``{dz}`` for its upstream gradient, ``{args}`` for all arguments (variadic ops), ``{arg}``
for the argument at hand (``each_grad``), ``{op}`` for the op's name, the op's keyword
parameters by name, ``{reduce}`` (``", axis=(0,)"`` for reductions, ``""`` for a full one)
and any derived field that ``fields`` adds. The text is documentation, not code that runs:
the numbers in an explanation always come from the op's own VJP rules.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.core import REGISTRY
>>> REGISTRY["mul"].lecture.grads
('{dz} · {1}', '{dz} · {0}')
>>> REGISTRY["sigmoid"].lecture.symbol, REGISTRY["sigmoid"].lecture.expr_name
('σ', 'sigmoid')
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Lecture", "GENERIC", "FANOUT_GATE", "lecture_of", "check_lecture"]


@dataclass(frozen=True)
class Lecture:
    """The lecture-notation description of one primitive.

    Attributes
    ----------
    formula : str
        The forward computation, e.g. ``"{0} · {1}"`` (shown as ``z = x · y``).
    grads : tuple of (str or None)
        Per argument, the right-hand side of ``d<arg> = ...``, e.g. mul: ``"{dz} · {1}"``
        (the *mul gate swaps* its inputs); None for an argument without gradient (an index,
        a condition).
    gate : str or None
        The gate pattern in words, when the op follows one (add distributes, mul swaps, max
        routes, a fused layer's rules...).
    numeric : bool
        The rule is plain arithmetic on the values: for one-element nodes the numbers can be
        put in place of the names (``dq = df · z = 1 · (-4) = -4``).
    each_grad : str or None
        Variadic ops (concatenate): one template for every argument, with ``{arg}``.
    symbol : str or None
        The label of the op's node in a picture (``+ × max σ @``); may use template fields
        (``"x^{exponent}"``). None: the op's name.
    expr_name : str or None
        The function name in the expression language of ``chainrule explain`` (``"sigmoid"``
        makes ``sigmoid(x)`` typeable); None keeps the op out of the language. The op is
        called with the positional arguments typed (as many as it has VJP rules, or
        ``expr_arity``) and its parameters' defaults; a lowercase ASCII identifier.
    expr_arity : int or None
        Number of arguments in the expression language (default: the number of VJP rules).
    fields : callable or None
        ``fields(params) -> dict`` of derived template fields computed from the op's
        parameters (numbers are written by the renderer, strings are used as they are).
    """

    formula: str
    grads: tuple[str | None, ...] = ()
    gate: str | None = None
    numeric: bool = False
    each_grad: str | None = None
    symbol: str | None = None
    expr_name: str | None = None
    expr_arity: int | None = None
    fields: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.formula, str) or not self.formula:
            raise TypeError("Lecture: formula must be a non-empty str")
        if not isinstance(self.grads, tuple):
            raise TypeError("Lecture: grads must be a tuple (one template or None per argument)")
        name = self.expr_name
        if name is not None and not (
            name.isascii()
            and name.isidentifier()
            and not name.startswith("_")
            and name == name.lower()
            and not keyword.iskeyword(name)
        ):
            raise ValueError(
                f"Lecture: expr_name {name!r} must be a lowercase ASCII identifier, not "
                f"starting with '_' and not a Python keyword"
            )

    def grad_template(self, i: int) -> str | None:
        """The template of ``d<arg i>``: ``grads[i]``, else ``each_grad`` (None: no text)."""
        if i < len(self.grads) and self.grads[i]:
            return self.grads[i]
        return self.each_grad


#: Used for an op that carries no lecture text (a user's primitive): its VJP still gives
#: the numbers.
GENERIC = Lecture("{op}({args})", each_grad="{dz} · ∂{z}/∂{arg} (the VJP rule of {op})")

#: The pattern of a value used several times (the lecture's *copy gate*).
FANOUT_GATE = "fan-out (copy gate): a value used in several places sums the gradients it receives"


def lecture_of(op: Any) -> Lecture:
    """The op's :class:`Lecture`, or :data:`GENERIC` when it carries none.

    Examples
    --------
    >>> from chainrule.core import REGISTRY
    >>> lecture_of(REGISTRY["add"]).gate.startswith("add gate distributes")
    True
    >>> lecture_of(object()) is GENERIC
    True
    """
    lec = getattr(op, "lecture", None)
    return lec if isinstance(lec, Lecture) else GENERIC


def check_lecture(op: Any) -> list[str]:
    """Problems with a primitive's lecture text (empty when complete).

    Complete means: a :class:`Lecture`, and for a differentiable op a gradient template for
    every argument that has a VJP rule (or ``each_grad`` for a variadic op).

    Examples
    --------
    >>> from chainrule.core import REGISTRY
    >>> check_lecture(REGISTRY["matmul"])
    []
    """
    lec = getattr(op, "lecture", None)
    name = getattr(op, "name", repr(op))
    if not isinstance(lec, Lecture):
        return [f"{name}: no `lecture = Lecture(...)` (formula, rules, gate, symbol)"]
    problems = []
    if getattr(op, "differentiable", True):
        if getattr(op, "variadic", False):
            if not lec.each_grad:
                problems.append(f"{name}: a variadic op needs `each_grad`")
        else:
            for i, rule in enumerate(getattr(op, "vjp", ()) or ()):
                if rule is not None and lec.grad_template(i) is None:
                    problems.append(f"{name}: no gradient template for argument {i}")
    return problems
