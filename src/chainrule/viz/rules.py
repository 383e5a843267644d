"""The local gradient rules of the primitives, written the way the lectures write them.

The rules are not kept here: each primitive carries its lecture notation as ``lecture`` (a
:class:`chainrule.core.lecture.Lecture`: ``formula``, per-argument ``grads`` templates,
``gate``, ``numeric``, ``each_grad``, ``symbol``, ``expr_name``), beside its forward and
VJP/JVP. :data:`RULES` is a live view of them by op name (:mod:`chainrule.viz.catalog`);
this module fills the templates' fields from an op's parameters.

Templates use ``{0}``, ``{1}``, ... for the arguments' names, ``{z}`` for the output's name,
``{dz}`` for its upstream gradient, and the op's keyword parameters by name (plus derived
ones, see :func:`template_fields`). Ops without lecture text get :data:`GENERIC_RULE`. The
text is documentation, not code that runs: the numbers in an explanation always come from
the primitives' own VJP rules.

Examples
--------
>>> from chainrule.viz.rules import RULES, rule_for
>>> RULES["mul"].grads
('{dz} · {1}', '{dz} · {0}')
>>> rule_for("no_such_op") is not None
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.lecture import FANOUT_GATE, GENERIC, Lecture, lecture_of
from .catalog import RULES, lecture_for
from .numbers import format_number

__all__ = [
    "Rule",
    "RULES",
    "GENERIC_RULE",
    "FANOUT_GATE",
    "rule_for",
    "template_fields",
    "index_text",
]

#: The lecture-notation record of one primitive (the same class as the ops carry).
Rule = Lecture
#: Used for an op without lecture text: its VJP rule still gives the numbers.
GENERIC_RULE = GENERIC


def rule_for(op: Any) -> Lecture:
    """The lecture of ``op`` (a primitive class or a registered op's name), or the generic one.

    Examples
    --------
    >>> rule_for("add").gate.startswith("add gate distributes")
    True
    """
    return lecture_for(op) if isinstance(op, str) else lecture_of(op)


def index_text(index: Any) -> str:
    """Write a normalized getitem index the way it is typed: ``1:4, ::2, [0, 2]``.

    Examples
    --------
    >>> import numpy as np
    >>> index_text((slice(1, 4), 2, np.array([0, 2])))
    '1:4, 2, [0, 2]'
    """
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for i in parts:
        if isinstance(i, slice):
            text = (
                ("" if i.start is None else str(i.start))
                + ":"
                + ("" if i.stop is None else str(i.stop))
            )
            if i.step is not None:
                text += f":{i.step}"
            out.append(text)
        elif i is None:
            out.append("None")
        elif i is Ellipsis:
            out.append("...")
        elif isinstance(i, np.ndarray):
            flat = i.reshape(-1)
            body = ", ".join(str(v) for v in flat[:6]) + (", ..." if flat.size > 6 else "")
            out.append(f"[{body}]" if i.ndim <= 1 else f"array{tuple(i.shape)}[{body}]")
        else:
            out.append(str(i))
    return ", ".join(out)


def _param_text(key: str, value: Any, precision: int) -> str:
    if key == "index":
        return index_text(value)
    if value is None:
        return {"low": "−∞", "high": "∞"}.get(key, "None")
    if isinstance(value, float | np.floating) and not isinstance(value, bool):
        return format_number(value, precision)
    if isinstance(value, np.dtype | type):
        return str(np.dtype(value))
    if isinstance(value, np.ndarray):
        return index_text(value)
    return str(value)


def template_fields(op: Any, params: dict[str, Any], precision: int) -> dict[str, str]:
    """Keyword fields for the templates: the op's parameters, written, plus derived ones.

    ``op`` is a primitive class or a registered op's name. Derived fields: ``reduce``
    (``", axis=(0,)"`` or ``""`` for a full reduction, with ``keepdims``), ``op``, and
    whatever the op's ``lecture.fields(params)`` computes (numbers are written with
    ``precision``; a negative one in parentheses, as it sits inside a formula).

    Examples
    --------
    >>> template_fields("pow_scalar", {"exponent": 2}, 4)["exponent_minus_1"]
    '1'
    >>> template_fields("pow_scalar", {"exponent": 0.5}, 4)["exponent_minus_1"]
    '(-0.5000)'
    >>> template_fields("sum", {"axis": (0,), "keepdims": False}, 4)["reduce"]
    ', axis=(0,)'
    """
    lec = rule_for(op)
    fields = {k: _param_text(k, v, precision) for k, v in params.items()}
    fields["op"] = op if isinstance(op, str) else getattr(op, "name", str(op))
    axis = params.get("axis")
    reduce = "" if axis is None else f", axis={axis}"
    if params.get("keepdims"):
        reduce += ", keepdims=True"
    fields.setdefault("reduce", reduce)
    if lec.fields is not None:
        try:
            derived = lec.fields(params)
        except Exception:  # noqa: BLE001 - lecture text must never break an explanation
            derived = {}
        for k, v in derived.items():
            if isinstance(v, str):
                fields[k] = v
            else:
                text = _param_text(k, v, precision)
                fields[k] = f"({text})" if text.startswith("-") else text
    return fields
