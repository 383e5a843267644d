"""The local gradient rules of the primitives, written the way the lectures write them.

Each entry of :data:`RULES` gives, for one primitive name:

``formula``
    the forward computation, e.g. ``"{0} · {1}"``;
``grads``
    per argument, the right-hand side of ``d<arg> = ...``, e.g. mul: ``"{dz} · {1}"`` (the
    *mul gate swaps* its inputs). ``None`` for an argument without a gradient (an index, a
    condition).
``gate``
    the name of the gate pattern, when the op is one of the lecture's gates (add distributes,
    mul swaps, max routes, ...);
``numeric``
    True when the rule is plain arithmetic on the values, so that for scalar nodes the
    numbers can be put in place of the names (``dq = df · z = 1 · (-4) = -4``).

Templates use ``{0}``, ``{1}``, ... for the arguments' names, ``{z}`` for the output's name,
``{dz}`` for its upstream gradient, and the op's keyword parameters by name (plus a few
derived ones, see :func:`template_fields`). Ops missing from the table get
:data:`GENERIC_RULE`. The table is documentation, not code that runs: the numbers in an
explanation always come from the primitives' own VJP rules.

Examples
--------
>>> from chainrule.viz.rules import RULES, rule_for
>>> RULES["mul"].grads
('{dz} · {1}', '{dz} · {0}')
>>> rule_for("no_such_op") is not None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .numbers import format_number

__all__ = ["Rule", "RULES", "GENERIC_RULE", "FANOUT_GATE", "rule_for", "template_fields",
           "index_text"]


@dataclass(frozen=True)
class Rule:
    """The lecture-notation description of one primitive (see the module docstring)."""

    formula: str
    grads: tuple[str | None, ...] = ()
    gate: str | None = None
    numeric: bool = False
    #: for variadic ops (concatenate): one template for every argument, with ``{arg}``
    each_grad: str | None = None


_ADD = "add gate distributes: every input receives the upstream gradient unchanged"
_SUB = ("sub gate distributes: the first input receives the upstream gradient, the "
        "subtracted one receives it negated")
_MUL = "mul gate swaps: each input receives the upstream gradient times the other input"
_MAX = ("max gate routes: the larger input receives the whole upstream gradient, the other "
        "receives 0 (a tie splits it ½–½)")
_MIN = ("min gate routes: the smaller input receives the whole upstream gradient, the other "
        "receives 0 (a tie splits it ½–½)")
_WHERE = "where routes: each element's gradient goes to the branch that was chosen"
_RELU = "relu routes: the gradient passes where the input was positive and is 0 elsewhere"
_SUM = "sum spreads: every summed element receives the upstream gradient"
_MATMUL = "matmul: dX = dY · Wᵀ and dW = Xᵀ · dY (the shapes say which side to transpose)"
_BROADCAST = "broadcasting copies values, so the gradient sums over the broadcast axes"
_GETITEM = ("getitem scatter-adds: the gradient goes back to the positions that were read "
            "(an index read twice receives the sum)")
_REDUCE_MAX = "max routes: the gradient goes to the maximal element(s), 0 elsewhere"
_REDUCE_MIN = "min routes: the gradient goes to the minimal element(s), 0 elsewhere"

#: The pattern of a value used several times (the lecture's *copy gate*).
FANOUT_GATE = "fan-out (copy gate): a value used in several places sums the gradients it receives"

RULES: dict[str, Rule] = {
    "add": Rule("{0} + {1}", ("{dz}", "{dz}"), _ADD, numeric=True),
    "sub": Rule("{0} − {1}", ("{dz}", "−{dz}"), _SUB, numeric=True),
    "mul": Rule("{0} · {1}", ("{dz} · {1}", "{dz} · {0}"), _MUL, numeric=True),
    "div": Rule("{0} / {1}", ("{dz} / {1}", "−{dz} · {z} / {1}"), numeric=True),
    "neg": Rule("−{0}", ("−{dz}",), numeric=True),
    "pow": Rule("{0} ** {1}", ("{dz} · {1} · {0}^({1} − 1)", "{dz} · {z} · log({0})"),
                numeric=True),
    "pow_scalar": Rule("{0}^{exponent}", ("{dz} · {exponent} · {0}^{exponent_minus_1}",),
                       numeric=True),
    "exp": Rule("exp({0})", ("{dz} · {z}",), numeric=True),
    "log": Rule("log({0})", ("{dz} / {0}",), numeric=True),
    "sqrt": Rule("√{0}", ("{dz} / (2 · {z})",), numeric=True),
    "abs": Rule("|{0}|", ("{dz} · sign({0})",), numeric=True),
    "tanh": Rule("tanh({0})", ("{dz} · (1 − {z}²)",), numeric=True),
    "sigmoid": Rule("σ({0})", ("{dz} · (1 − {z})·{z}",), numeric=True),
    "relu": Rule("relu({0})", ("{dz} · [{0} > 0]",), _RELU, numeric=True),
    "leaky_relu": Rule("leaky_relu({0}, slope={slope})", ("{dz} · ({0} > 0 ? 1 : {slope})",),
                       numeric=True),
    "elu": Rule("elu({0}, alpha={alpha})", ("{dz} · ({0} > 0 ? 1 : {z} + {alpha})",),
                numeric=True),
    "maximum": Rule("max({0}, {1})", ("{dz} · [{0} > {1}]", "{dz} · [{1} > {0}]"), _MAX,
                    numeric=True),
    "minimum": Rule("min({0}, {1})", ("{dz} · [{0} < {1}]", "{dz} · [{1} < {0}]"), _MIN,
                    numeric=True),
    "where": Rule("where({0}, {1}, {2})", (None, "{dz} · [{0}]", "{dz} · [not {0}]"), _WHERE),
    "clip": Rule("clip({0}, {low}, {high})", ("{dz} · [{low} ≤ {0} ≤ {high}]",), numeric=True),
    "matmul": Rule("{0} @ {1}", ("{dz} · {1}ᵀ", "{0}ᵀ · {dz}"), _MATMUL),
    "sum": Rule("sum({0}{reduce})", ("{dz} copied to every summed element of {0}",), _SUM),
    "max": Rule("max({0}{reduce})", ("{dz} at the maximum of {0}, 0 elsewhere",), _REDUCE_MAX),
    "min": Rule("min({0}{reduce})", ("{dz} at the minimum of {0}, 0 elsewhere",), _REDUCE_MIN),
    "logsumexp": Rule("logsumexp({0}{reduce})", ("{dz} · softmax({0})",)),
    "log_softmax": Rule("log_softmax({0}, axis={axis})",
                        ("{dz} − softmax({0}) · Σ{dz} (the sum along the axis)",)),
    "getitem": Rule("{0}[{index}]", ("{dz} scatter-added into zeros shaped like {0}",),
                    _GETITEM),
    "scatter_add": Rule("scatter_add({0}, [{index}], {shape})", ("{dz}[{index}]",)),
    "reshape": Rule("reshape({0}, {shape})", ("{dz} reshaped back to the shape of {0}",)),
    "transpose": Rule("transpose({0}, {axes})", ("{dz} transposed back",)),
    "expand_dims": Rule("expand_dims({0}, {axis})", ("{dz} reshaped back to the shape of {0}",)),
    "squeeze": Rule("squeeze({0}{reduce})", ("{dz} reshaped back to the shape of {0}",)),
    "broadcast_to": Rule("broadcast_to({0}, {shape})",
                         ("{dz} summed over the broadcast axes",), _BROADCAST),
    "concatenate": Rule("concatenate([{args}], axis={axis})",
                        each_grad="the slice of {dz} that {arg} filled"),
    "cast": Rule("{0}.astype({dtype})", ("{dz} cast back to the dtype of {0}",)),
}

#: Used for an op the table does not know: its VJP rule still gives the numbers.
GENERIC_RULE = Rule("{op}({args})", each_grad="{dz} · ∂{z}/∂{arg} (the VJP rule of {op})")


def rule_for(op_name: str) -> Rule:
    """The entry for ``op_name``, or :data:`GENERIC_RULE`.

    Examples
    --------
    >>> rule_for("add").gate.startswith("add gate distributes")
    True
    """
    return RULES.get(op_name, GENERIC_RULE)


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
            text = ("" if i.start is None else str(i.start)) + ":" + (
                "" if i.stop is None else str(i.stop))
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
    return str(value)


def template_fields(op_name: str, params: dict[str, Any], precision: int) -> dict[str, str]:
    """Keyword fields for the templates: the op's parameters, written, plus derived ones.

    Derived fields: ``reduce`` (``", axis=(0,)"`` or ``""`` for a full reduction, with
    ``keepdims``), ``exponent_minus_1`` (for ``pow_scalar``) and ``op``.

    Examples
    --------
    >>> template_fields("pow_scalar", {"exponent": 2}, 4)["exponent_minus_1"]
    '1'
    >>> template_fields("sum", {"axis": (0,), "keepdims": False}, 4)["reduce"]
    ', axis=(0,)'
    """
    fields = {k: _param_text(k, v, precision) for k, v in params.items()}
    fields["op"] = op_name
    axis = params.get("axis")
    reduce = "" if axis is None else f", axis={axis}"
    if params.get("keepdims"):
        reduce += ", keepdims=True"
    fields.setdefault("reduce", reduce)
    if "exponent" in params:
        e = params["exponent"]
        fields["exponent"] = format_number(e, precision)
        fields["exponent_minus_1"] = format_number(e - 1, precision)
        if e - 1 < 0:
            fields["exponent_minus_1"] = f"({fields['exponent_minus_1']})"
    return fields
