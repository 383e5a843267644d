"""Narrate a backward pass: every node, its local rule, and the numbers that flowed.

:func:`explain` runs backpropagation from an output (on its own, without touching the
leaves' ``.grad``) and returns an :class:`Explanation`: one :class:`Step` per node, in the
order the backward pass visits them (reverse topological order: the output first, the
leaves last). Each step holds the op and its formula, the input and output shapes, the
forward value, the upstream gradient, the local rule in lecture notation (``dx = dz · y``)
with the gate pattern it follows (add distributes, mul swaps, max routes), the gradients
sent to each input, and, for a value used in several places, how the contributions were
summed (``y: 2 from q (add), 3 from t2 (maximum); total 5``).

The same steps render as plain text (``str()``), Markdown, HTML (also in Jupyter) and, if
the optional ``rich`` package is installed, a rich console rendering. Numbers are written by
:mod:`chainrule.viz.numbers`: in full for small tensors, as summary statistics for large
ones.

Notation: for an output f and a node v, ``dv`` means ∂f/∂v, the gradient of f with
respect to v ("upstream" at v). A rule ``dx = dq · y`` says what v's node sends to its
input x ("downstream").

Examples
--------
>>> import chainrule as cr
>>> from chainrule.viz import explain
>>> x, y, z = (cr.Tensor(v, requires_grad=True, name=n)
...            for v, n in ((-2.0, "x"), (5.0, "y"), (-4.0, "z")))
>>> q = x + y
>>> q.name = "q"
>>> ex = explain(q * z)
>>> [s.name for s in ex.steps]
['f', 'q', 'x', 'y', 'z']
>>> float(ex.step("q").upstream), float(ex.grad("x"))
(-4.0, -4.0)
>>> print(ex.step("f").downstream[0].text("f"))
∂f/∂q = df · z = 1 · (-4) = -4
>>> x.grad is None          # the user's .grad was not touched
True
"""

from __future__ import annotations

import html
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import ChainruleError, NotFoundError, Tensor
from . import expr as _expr
from .catalog import TENSOR_FUNCTIONS
from .numbers import format_array, format_number, format_shape
from .rules import FANOUT_GATE, GENERIC_RULE, rule_for, template_fields
from .trace import Trace, record

__all__ = [
    "Contribution",
    "Downstream",
    "Explanation",
    "InputRef",
    "Step",
    "TENSOR_FUNCTIONS",
    "explain",
    "explain_expression",
]

FORMATS = ("text", "markdown", "html", "rich")
_FORMAT_ALIASES = {"md": "markdown", "txt": "text", "htm": "html"}


# ---------------------------------------------------------------------- the structured steps
@dataclass(frozen=True)
class InputRef:
    """One argument of an op: a node of the graph, or a constant (no gradient)."""

    name: str
    shape: tuple[int, ...]
    constant: bool


@dataclass(frozen=True)
class Contribution:
    """A gradient a node received from one of its consumers (``source``, an op ``op``)."""

    source: str
    op: str
    arg: int
    grad: np.ndarray


@dataclass(frozen=True)
class Downstream:
    """What an op node sent to one of its inputs.

    Attributes
    ----------
    arg : int
        Argument index.
    name : str
        The input's name.
    rule : str
        The right-hand side of the local rule in names, e.g. ``"df · z"``.
    grad : ndarray
        The gradient sent (already summed over broadcast axes).
    local : float or None
        ∂node/∂input for one-element nodes (from the op's VJP rule), else None.
    numeric : str or None
        ``rule`` with the numbers put in, for scalar nodes of arithmetic rules.
    partial : bool
        The input also receives gradients from other nodes (they are summed there).
    """

    arg: int
    name: str
    rule: str
    grad: np.ndarray
    local: float | None = None
    numeric: str | None = None
    partial: bool = False
    precision: int = 4
    max_elements: int = 12

    def text(self, output: str) -> str:
        """``∂f/∂x = dq · y = 2 · 3 = 6`` (``+=`` where other paths add to it)."""
        result = format_array(self.grad, self.precision, self.max_elements)
        parts = [f"∂{output}/∂{self.name}", self.rule]
        if self.numeric:
            parts.append(self.numeric)
        parts.append(result)
        kept = _chain(parts)
        return kept[0] + (" += " if self.partial else " = ") + " = ".join(kept[1:])


@dataclass
class Step:
    """One node of the backward pass (see the module docstring for the notation).

    ``kind`` is ``"op"`` or ``"leaf"``. For a leaf, ``op``, ``gate`` and ``rule`` are None
    and ``downstream`` is empty: its ``upstream`` is the final gradient ∂f/∂leaf.
    """

    index: int
    kind: str
    name: str
    op: str | None
    formula: str
    inputs: tuple[InputRef, ...]
    shape: tuple[int, ...]
    value: np.ndarray
    upstream: np.ndarray
    gate: str | None = None
    rule: str | None = None
    local: tuple[str, ...] = ()
    downstream: tuple[Downstream, ...] = ()
    received: tuple[Contribution, ...] = ()
    notes: tuple[str, ...] = ()
    is_output: bool = False

    @property
    def grad(self) -> np.ndarray:
        """dL/d(this node): the same as ``upstream``."""
        return self.upstream

    @property
    def summed(self) -> bool:
        """True when this node's gradient is the sum of several contributions (fan-out)."""
        return len(self.received) > 1

    def sent_to(self, name: str) -> np.ndarray:
        """The gradient this op sent to its input ``name`` (summed if used twice)."""
        grads = [d.grad for d in self.downstream if d.name == name]
        if not grads:
            raise NotFoundError(f"step {self.name!r} sent no gradient to {name!r}")
        return sum(grads[1:], grads[0])


# ---------------------------------------------------------------------- building the steps
def _broadcastable(src: tuple[int, ...], dst: tuple[int, ...]) -> bool:
    return len(src) <= len(dst) and all(
        s == d or s == 1 for s, d in zip(src[::-1], dst[::-1], strict=False)
    )


def _same(a: str, b: str) -> bool:
    """Equal up to a pair of parentheses around a number and the spelling of minus."""

    def norm(t: str) -> str:
        t = t.replace("−", "-")
        return t[1:-1] if t.startswith("(") and t.endswith(")") and "(" not in t[1:] else t

    return norm(a) == norm(b)


def _chain(parts: list[str]) -> list[str]:
    """Drop a step of ``a = b = c`` that only repeats the next one (keeping the last)."""
    return [
        p
        for k, p in enumerate(parts)
        if k == 0 or k == len(parts) - 1 or not _same(p, parts[k + 1])
    ]


def _wrap_negative(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


def _local_template(grad_template: str) -> str | None:
    """From ``d<arg> = <rhs>`` templates, the local derivative ∂z/∂arg, when it is a factor."""
    if grad_template == "{dz}":
        return "1"
    if grad_template == "−{dz}":
        return "−1"
    for prefix, lead in (("{dz} · ", ""), ("−{dz} · ", "−"), ("{dz} / ", "1 / ")):
        if grad_template.startswith(prefix):
            return lead + grad_template[len(prefix) :]
    return None


def _const_text(a: Any, precision: int, tr: Trace | None = None) -> str:
    given = tr.const_name(a) if tr is not None else None
    if given:
        return given
    if a is None:
        return "0"  # an absent operand (linear without bias)
    if isinstance(a, Tensor) and a.name:
        return a.name
    arr = np.asarray(a.data if isinstance(a, Tensor) else a)
    if arr.dtype.kind in "biuf" and arr.size <= 4:
        return format_array(arr, precision, 4)
    return f"const{format_shape(arr.shape)}"


def _fill(template: str, args: list[str], fields: dict[str, str]) -> str | None:
    try:
        return template.format(*args, **fields)
    except (KeyError, IndexError, ValueError):
        return None


def _is_one(a: Any) -> bool:
    if isinstance(a, Tensor) and a.requires_grad:
        return False
    arr = np.asarray(a.data if isinstance(a, Tensor) else a)
    return arr.size == 1 and arr.dtype.kind in "biuf" and float(arr.reshape(-1)[0]) == 1.0


def _op_name(a: Any) -> str | None:
    return a._op.name if isinstance(a, Tensor) and a._op is not None else None


def _sigmoid_chains(tr: Trace) -> dict[int, tuple[Tensor, Tensor, list[Tensor]]]:
    """Find ``1 / (1 + exp(-s))`` built from scalar gates: neg-node id -> (σ node, s, gates)."""
    found = {}
    for t in tr.ops:
        if t._op.name != "div" or not _is_one(t._inputs[0]):
            continue
        u = t._inputs[1]
        if _op_name(u) != "add":
            continue
        e = (
            u._inputs[1]
            if _is_one(u._inputs[0])
            else u._inputs[0]
            if _is_one(u._inputs[1])
            else None
        )
        if _op_name(e) != "exp" or _op_name(e._inputs[0]) != "neg":
            continue
        n = e._inputs[0]
        s = n._inputs[0]
        if isinstance(s, Tensor) and s.requires_grad:
            found[id(n)] = (t, s, [t, u, e, n])
    return found


class _Builder:
    def __init__(self, tr: Trace, precision: int, max_elements: int) -> None:
        self.tr = tr
        self.p = precision
        self.m = max_elements
        self.out_name = tr.name(tr.output)
        self.sigmoids = _sigmoid_chains(tr)
        self.sigmoid_tops = {id(v[0]): v for v in self.sigmoids.values()}

    def arr(self, a: Any) -> str:
        return format_array(a, self.p, self.m)

    def num(self, a: Any) -> str:
        return _wrap_negative(format_number(np.asarray(a).reshape(-1)[0], self.p))

    def received(self, t: Tensor) -> tuple[Contribution, ...]:
        got = sorted(self.tr.received.get(id(t), []), key=lambda r: (r.consumer._seq, r.arg))
        return tuple(
            Contribution(self.tr.name(r.consumer), r.consumer._op.name, r.arg, r.grad) for r in got
        )

    def op_step(self, index: int, t: Tensor) -> Step:
        tr, p = self.tr, self.p
        op = t._op
        name = tr.name(t)
        rule = rule_for(op)
        fields = template_fields(op, t._params or {}, p)
        for key, v in (t._params or {}).items():  # a parameter array given a name
            if isinstance(v, np.ndarray) and tr.const_name(v):
                fields[key] = tr.const_name(v)
        args = [
            tr.name(a) if isinstance(a, Tensor) and a.requires_grad else _const_text(a, p, tr)
            for a in t._inputs
        ]
        fields.update(z=name, dz=f"d{name}", args=", ".join(args))
        formula = _fill(rule.formula, args, fields) or _fill(GENERIC_RULE.formula, args, fields)
        inputs = tuple(
            InputRef(
                args[i],
                tuple(np.shape(a.data if isinstance(a, Tensor) else a)),
                not (isinstance(a, Tensor) and a.requires_grad),
            )
            for i, a in enumerate(t._inputs)
        )
        value = tr.values[id(t)]
        upstream = tr.upstream[id(t)]
        scalar_node = value.size == 1 and all(
            np.size(a.data if isinstance(a, Tensor) else a) == 1 for a in t._inputs
        )
        nums = None
        if rule.numeric and scalar_node:
            nums = {
                "args": [self.num(a.data if isinstance(a, Tensor) else a) for a in t._inputs],
                "fields": {**fields, "z": self.num(value), "dz": self.num(upstream)},
            }
        local_vals = tr.local.get(id(t), {})
        rules_text, local_text, downs, notes = [], [], [], []
        for i, gi in tr.sent.get(id(t), []):
            a = t._inputs[i]
            template = (
                rule.grads[i]
                if i < len(rule.grads) and rule.grads[i]
                else (rule.each_grad or GENERIC_RULE.each_grad)
            )
            f_i = {**fields, "arg": args[i]}
            rhs = _fill(template, args, f_i) or _fill(GENERIC_RULE.each_grad, args, f_i)
            rules_text.append(f"d{args[i]} = {rhs}")
            numeric = None
            if nums is not None:
                numeric = _fill(template, nums["args"], {**nums["fields"], "arg": args[i]})
            lt = _local_template(template) if rule.numeric else None
            if lt is not None and i in local_vals:
                sym = _fill(lt, args, f_i)
                chain = [f"∂{name}/∂{args[i]}", sym]
                if nums is not None:
                    chain.append(_fill(lt, nums["args"], {**nums["fields"], "arg": args[i]}))
                chain.append(format_number(local_vals[i], p))
                local_text.append(" = ".join(_chain([c for c in chain if c])))
            partial = len(tr.received.get(id(a), [])) > 1
            downs.append(
                Downstream(i, args[i], rhs, gi, local_vals.get(i), numeric, partial, p, self.m)
            )
            if (
                op.broadcasts
                and op.name != "matmul"
                and isinstance(a, Tensor)
                and a.shape != value.shape
                and _broadcastable(a.shape, value.shape)
            ):
                lead = value.ndim - a.ndim
                axes = tuple(range(lead)) + tuple(
                    k + lead for k, n in enumerate(a.shape) if n == 1 and value.shape[k + lead] != 1
                )
                notes.append(
                    f"{args[i]} {format_shape(a.shape)} was broadcast to "
                    f"{format_shape(value.shape)}: its gradient sums over the broadcast axes "
                    f"{axes}"
                )
            if op.name in ("maximum", "minimum") and scalar_node and i == 0:
                b0, b1 = (np.asarray(x.data if isinstance(x, Tensor) else x) for x in t._inputs)
                if float(b0.reshape(-1)[0]) == float(b1.reshape(-1)[0]):
                    notes.append("tie: both inputs are equal, so each receives half")
        notes.extend(self.sigmoid_notes(t))
        return Step(
            index=index,
            kind="op",
            name=name,
            op=op.name,
            formula=f"{name} = {formula}",
            inputs=inputs,
            shape=tuple(value.shape),
            value=value,
            upstream=upstream,
            gate=rule.gate,
            rule=", ".join(rules_text),
            local=tuple(local_text),
            downstream=tuple(downs),
            received=self.received(t),
            notes=tuple(notes),
            is_output=t is tr.output,
        )

    def sigmoid_notes(self, t: Tensor) -> list[str]:
        tr = self.tr
        if id(t) in self.sigmoid_tops:
            top, s, gates = self.sigmoid_tops[id(t)]
            names = ", ".join(f"{tr.name(g)} ({g._op.name})" for g in gates)
            return [
                f"the gates {names} compute the sigmoid σ({tr.name(s)}) = "
                f"1/(1 + e^(−{tr.name(s)})); taken together their local gradient is "
                f"(1 − σ)·σ"
            ]
        if id(t) in self.sigmoids:
            top, s, _ = self.sigmoids[id(t)]
            sig, sname, top_name = tr.values[id(top)], tr.name(s), tr.name(top)
            if sig.size != 1:
                return [
                    f"this completes σ({sname}) = {top_name}: "
                    f"d{sname} = d{top_name} · (1 − {top_name})·{top_name}"
                ]
            sv = format_number(sig.reshape(-1)[0], self.p)
            local = float((1 - sig) * sig)
            ds = tr.upstream[id(top)] * local
            return [
                f"sigmoid gate: this completes σ({sname}) = {top_name} = {sv}, whose local "
                f"gradient is (1 − σ)·σ = (1 − {sv})·{sv} = {format_number(local, self.p)}; "
                f"so ∂{self.out_name}/∂{sname} = d{top_name} · {format_number(local, self.p)}"
                f" = {format_number(np.asarray(ds).reshape(-1)[0], self.p)}"
            ]
        return []

    def leaf_step(self, index: int, t: Tensor) -> Step:
        tr = self.tr
        value = tr.values[id(t)]
        return Step(
            index=index,
            kind="leaf",
            name=tr.name(t),
            op=None,
            formula=f"{tr.name(t)} (leaf)",
            inputs=(),
            shape=tuple(value.shape),
            value=value,
            upstream=tr.upstream[id(t)],
            received=self.received(t),
            is_output=t is tr.output,
        )

    def steps(self) -> list[Step]:
        out = [self.op_step(k + 1, t) for k, t in enumerate(self.tr.ops)]
        n = len(out)
        out += [self.leaf_step(n + k + 1, t) for k, t in enumerate(self.tr.leaves)]
        return out


# ---------------------------------------------------------------------- the document
@dataclass
class _Block:
    kind: str  # "title", "para", "step", "table"
    title: str = ""
    rows: list[tuple[str, list[str]]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    table: list[list[str]] = field(default_factory=list)


_GRAD_LABELS = {"upstream", "downstream", "gradient", "gathered", "local"}


class Explanation:
    """The account of one backward pass (returned by :func:`explain`).

    Attributes
    ----------
    steps : list of Step
        Op nodes in the order backprop visits them, then the leaves.
    output : str
        The output's name.
    seed : ndarray
        dL/d(output) the pass started from.
    format : str
        What ``str()`` gives: ``"text"``, ``"markdown"``, ``"html"`` or ``"rich"``.
    """

    def __init__(
        self,
        steps: list[Step],
        output: str,
        seed: np.ndarray,
        *,
        format: str,
        precision: int,
        max_elements: int,
        title: str | None = None,
        collapse: bool = True,
    ) -> None:
        self.collapse = collapse
        self.steps = steps
        self.output = output
        self.seed = seed
        self.format = format
        self.precision = precision
        self.max_elements = max_elements
        self.title = title

    # ------------------------------------------------------------------ lookups
    @property
    def ops(self) -> list[Step]:
        """The op steps (reverse topological order)."""
        return [s for s in self.steps if s.kind == "op"]

    @property
    def leaves(self) -> list[Step]:
        """The leaf steps: their ``upstream`` is the gradient the pass computed for them."""
        return [s for s in self.steps if s.kind == "leaf"]

    def step(self, name: str) -> Step:
        """The step of the node called ``name``."""
        for s in self.steps:
            if s.name == name:
                return s
        raise NotFoundError(
            f"no node named {name!r}; nodes: {', '.join(s.name for s in self.steps)}"
        )

    def grad(self, name: str) -> np.ndarray:
        """∂output/∂(node ``name``)."""
        return self.step(name).upstream

    # ------------------------------------------------------------------ the document
    def _arr(self, a: Any) -> str:
        return format_array(a, self.precision, self.max_elements)

    def _gathered(self, s: Step) -> str:
        parts = ", ".join(f"{self._arr(c.grad)} from {c.source} ({c.op})" for c in s.received)
        return f"{s.name}: {parts}; total {self._arr(s.upstream)}"

    def repeats(self) -> list[tuple[int, int, int]]:
        """Runs of repeated op steps: ``(start, period, count)`` in :attr:`ops` order.

        ``count >= 3`` consecutive repetitions of the same ``period`` steps (same ops, same
        gate, the same inputs constant or not), found left to right, shortest period first.
        The rendering (with ``collapse=True``) writes the first repetition in full and one
        line per step of the others.
        """
        ops = self.ops
        sig = [(s.op, s.gate, tuple(i.constant for i in s.inputs)) for s in ops]
        runs, i, n = [], 0, len(ops)
        while i < n:
            for p in range(1, min(8, (n - i) // 3) + 1):
                k = 1
                while sig[i + k * p : i + (k + 1) * p] == sig[i : i + p]:
                    k += 1
                if k >= 3:
                    runs.append((i, p, k))
                    i += k * p
                    break
            else:
                i += 1
        return runs

    def _blocks(self) -> list[_Block]:
        f = self.output
        n_ops, n_leaves = len(self.ops), len(self.leaves)
        blocks = [_Block("title", title=self.title or f"Backpropagation through {f}")]
        seed = self._arr(self.seed)
        blocks.append(
            _Block(
                "para",
                title=(
                    f"{n_ops} op{'s' if n_ops != 1 else ''} and {n_leaves} "
                    f"lea{'ves' if n_leaves != 1 else 'f'}, visited from the output back to the "
                    f"leaves (reverse topological order), starting from ∂{f}/∂{f} = {seed}. "
                    f"Notation: dv = ∂{f}/∂v, the gradient of {f} with respect to v."
                ),
            )
        )
        hidden: dict[int, tuple[int, int, int]] = {}
        if self.collapse:
            for start, p, k in self.repeats():
                for q in range(start + p, start + k * p):
                    hidden[q] = (start, p, k)
        for pos, s in enumerate(self.ops):
            if pos in hidden:
                start, p, k = hidden[pos]
                if pos == start + p:  # one block for the repetitions after the first
                    group = self.ops[start + p : start + k * p]
                    unit = " → ".join(x.op or "" for x in self.ops[start : start + p])
                    blocks.append(
                        _Block(
                            "step",
                            title=(
                                f"{group[0].index}–{group[-1].index}. the same {p} step"
                                f"{'s' if p > 1 else ''} ({unit}) {k - 1} more times   [collapsed]"
                            ),
                            rows=[
                                (
                                    x.op or "",
                                    [f"{x.formula}; ∂{f}/∂{x.name} = {self._arr(x.upstream)}"],
                                )
                                for x in group
                            ],
                        )
                    )
                continue
            rows: list[tuple[str, list[str]]] = []
            ins = ", ".join(
                f"{i.name} {format_shape(i.shape)}" + (" const" if i.constant else "")
                for i in s.inputs
            )
            rows.append(("shapes", [f"{ins} → {s.name} {format_shape(s.shape)}"]))
            rows.append(("value", [f"{s.name} = {self._arr(s.value)}"]))
            up = f"∂{f}/∂{s.name} = {self._arr(s.upstream)}"
            rows.append(("upstream", [up + (" (the seed)" if s.is_output else "")]))
            if s.summed:
                rows.append(("gathered", [self._gathered(s), FANOUT_GATE]))
            if s.gate:
                rows.append(("gate", [s.gate]))
            if s.rule:
                rows.append(("local rule", [s.rule]))
            if s.local:
                rows.append(("local", list(s.local)))
            if s.downstream:
                rows.append(("downstream", [d.text(f) for d in s.downstream]))
            if s.notes:
                rows.append(("note", list(s.notes)))
            blocks.append(_Block("step", title=f"{s.index}. {s.formula}   [{s.op}]", rows=rows))
        if self.leaves:
            blocks.append(
                _Block(
                    "para",
                    title=(
                        f"Leaves (inputs and parameters): their gradients ∂{f}/∂leaf are the "
                        f"result of the pass."
                    ),
                )
            )
            table = []
            for s in self.leaves:
                table.append(
                    [
                        s.name,
                        format_shape(s.shape),
                        self._arr(s.value),
                        self._arr(s.upstream),
                        self._gathered(s)
                        if s.summed
                        else (
                            f"from {s.received[0].source} ({s.received[0].op})"
                            if s.received
                            else "(the output itself)"
                        ),
                    ]
                )
            blocks.append(
                _Block(
                    "table",
                    header=["leaf", "shape", "value", f"∂{f}/∂leaf", "contributions"],
                    table=table,
                )
            )
            fanned = [s.name for s in self.leaves if s.summed]
            if fanned:
                blocks.append(
                    _Block("para", title=(f"{', '.join(fanned)} fed several gates: {FANOUT_GATE}."))
                )
        return blocks

    # ------------------------------------------------------------------ renderers
    def to_text(self) -> str:
        """Plain text (Unicode, no colours): what ``str()`` gives for ``format="text"``."""
        lines: list[str] = []
        for b in self._blocks():
            if b.kind == "title":
                lines += [b.title, "=" * len(b.title)]
            elif b.kind == "para":
                lines += ["", b.title]
            elif b.kind == "step":
                lines += ["", b.title]
                width = max(len(label) for label, _ in b.rows)
                for label, texts in b.rows:
                    for k, t in enumerate(texts):
                        lines.append(f"    {(label if k == 0 else ''):<{width}}  {t}")
            else:
                cols = [b.header] + b.table
                widths = [max(len(r[c]) for r in cols) for c in range(len(b.header))]
                lines.append("")
                for k, r in enumerate(cols):
                    lines.append(
                        "    "
                        + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                    )
                    if k == 0:
                        lines.append("    " + "  ".join("-" * w for w in widths))
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown: a section and a table per step, a table of leaves."""

        def cell(t: str) -> str:
            return t.replace("|", "\\|")

        out: list[str] = []
        for b in self._blocks():
            if b.kind == "title":
                out.append(f"## {b.title}")
            elif b.kind == "para":
                out.append(b.title)
            elif b.kind == "step":
                head, _, op = b.title.partition("   ")
                number, _, formula = head.partition(" ")
                out.append(f"### {number} `{formula}` {op}")
                rows = ["| | |", "|---|---|"]
                rows += [
                    f"| **{label}** | {'<br>'.join(cell(t) for t in texts)} |"
                    for label, texts in b.rows
                ]
                out.append("\n".join(rows))
            else:
                rows = [
                    "| " + " | ".join(cell(h) for h in b.header) + " |",
                    "|" + "---|" * len(b.header),
                ]
                rows += ["| " + " | ".join(cell(v) for v in r) + " |" for r in b.table]
                out.append("\n".join(rows))
        return "\n\n".join(out) + "\n"

    def to_html(self) -> str:
        """A self-contained HTML fragment (inline styles only); gradients are in red."""
        e = html.escape
        red = ' style="color:#cf222e"'
        td = ' style="text-align:left;vertical-align:top;padding:2px 8px"'
        out = ['<div class="chainrule-explain" style="font-family:sans-serif">']
        for b in self._blocks():
            if b.kind == "title":
                out.append(f"<h3>{e(b.title)}</h3>")
            elif b.kind == "para":
                out.append(f"<p>{e(b.title)}</p>")
            elif b.kind == "step":
                head, _, op = b.title.partition("   ")
                number, _, formula = head.partition(" ")
                out.append(f"<h4>{e(number)} <code>{e(formula)}</code> {e(op)}</h4>")
                out.append("<table>")
                for label, texts in b.rows:
                    color = red if label in _GRAD_LABELS else ""
                    body = "<br>".join(e(t) for t in texts)
                    out.append(
                        f"<tr><th{td}>{e(label)}</th><td{td}><span{color}>{body}</span></td></tr>"
                    )
                out.append("</table>")
            else:
                out.append("<table>")
                out.append("<tr>" + "".join(f"<th{td}>{e(h)}</th>" for h in b.header) + "</tr>")
                for r in b.table:
                    cells = [f"<td{td}>{e(v)}</td>" for v in r]
                    cells[3] = f"<td{td}><span{red}>{e(r[3])}</span></td>"
                    out.append("<tr>" + "".join(cells) + "</tr>")
                out.append("</table>")
        out.append("</div>")
        return "\n".join(out) + "\n"

    def to_rich(self) -> Any:
        """A ``rich`` renderable (requires the optional ``rich`` package)."""
        try:
            from rich.console import Group
            from rich.table import Table
            from rich.text import Text
        except ImportError as exc:
            raise ChainruleError(
                "format='rich' needs the optional 'rich' package (pip install rich); "
                "the plain text format needs nothing"
            ) from exc
        parts: list[Any] = []
        for b in self._blocks():
            if b.kind == "title":
                parts.append(Text(b.title, style="bold"))
            elif b.kind == "para":
                parts.append(Text(b.title))
            elif b.kind == "step":
                t = Table(
                    title=b.title, title_justify="left", show_header=False, box=None, padding=(0, 1)
                )
                t.add_column(style="bold")
                t.add_column()
                for label, texts in b.rows:
                    style = "red" if label in _GRAD_LABELS else None
                    t.add_row(label, Text("\n".join(texts), style=style or ""))
                parts.append(t)
            else:
                t = Table(*b.header)
                for r in b.table:
                    t.add_row(*r)
                parts.append(t)
        return Group(*parts)

    def __rich__(self) -> Any:
        return self.to_rich()

    def render(self, format: str | None = None) -> str:  # noqa: A002 - the public keyword
        """The explanation as a string in ``format`` (default: this explanation's format)."""
        fmt = _check_format(format or self.format)
        if fmt == "markdown":
            return self.to_markdown()
        if fmt == "html":
            return self.to_html()
        if fmt == "rich":
            from rich.console import Console

            buf = io.StringIO()
            Console(file=buf, force_terminal=True, width=110).print(self.to_rich())
            return buf.getvalue()
        return self.to_text()

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return self.to_text()

    def to_page(self, path: Any = None) -> Any:
        """The interactive step-through page of this pass (:mod:`chainrule.viz.page`).

        Returns a :class:`~chainrule.viz.page.Page`; with ``path`` it is also written there.
        """
        from .page import Page, page_data, render_page

        data = page_data(self)
        result = Page(render_page(data), data)
        if path is not None:
            result.save(path)
        return result

    def _repr_html_(self) -> str:
        """Jupyter: the interactive page (step through the pass), or the HTML fragment."""
        if getattr(self, "_trace", None) is None:
            return self.to_html()
        return self.to_page()._repr_html_()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _check_format(format: str) -> str:  # noqa: A002
    fmt = _FORMAT_ALIASES.get(format, format)
    if fmt not in FORMATS:
        raise ChainruleError(
            f"unknown explanation format {format!r}; use one of {', '.join(FORMATS)} "
            f"(or 'md' for markdown)"
        )
    return fmt


def explain(
    output: Tensor,
    *,
    format: str = "text",  # noqa: A002 - the natural name for users
    max_elements: int = 12,
    precision: int = 4,
    grad: Any = None,
    title: str | None = None,
    names: Any = None,
    collapse: bool = True,
) -> Explanation:
    """Backpropagate from ``output`` and explain every step, with the numbers.

    The backward pass runs with ``retain_graph=True`` and returns the gradients to the
    explanation instead of accumulating them: the leaves' ``.grad`` (and ``.grad`` of
    tensors marked ``retain_grad()``) are left exactly as they were, and ``output``'s graph
    can still be backpropagated afterwards. The graph must still exist: call ``explain()``
    before a ``backward()`` that frees it (or use ``backward(retain_graph=True)``).

    Parameters
    ----------
    output : Tensor
        The tensor to differentiate; it must have been computed from tensors that require
        grad.
    format : {"text", "markdown", "html", "rich"}
        What ``str(explanation)`` gives; the other formats stay available through
        ``to_text()``, ``to_markdown()`` and ``to_html()``. ``"rich"`` needs the optional
        ``rich`` package; without it the text format is used, with a warning.
    max_elements : int
        Tensors with more elements are summarised (shape, mean, std, min, max).
    precision : int
        Decimals of non-integer numbers (2 reproduces the lecture figures: ``0.73``).
    grad : array_like, optional
        dL/d(output). Default: 1 for a one-element output; for a larger output, ones (the
        explanation of ``output.sum()``).
    title : str, optional
        Heading of the explanation.
    names : module or mapping, optional
        Display names: a module names its parameters ``model.<path>`` (``model.0.weight``);
        a mapping ``{"model": model, "X": X, "y": y}`` names modules' parameters
        (``<name>.<path>``), tensors, and constant inputs such as a batch (a NumPy array,
        recognised by identity). They win over ``Tensor.name``.
    collapse : bool
        In the rendering, write a run of three or more repetitions of the same steps (same
        ops, same rules: e.g. one embedding lookup per feature) as its first repetition in
        full and one line per other repetition. ``.steps`` always holds every step.

    Returns
    -------
    Explanation
        ``.steps`` holds the structured data; ``str()`` the rendering.

    Raises
    ------
    BackwardError
        If ``output`` records no graph, or the graph was freed.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor(3.0, requires_grad=True, name="x")
    >>> ex = (x * x).explain(precision=2)
    >>> ex.step("x").received[0].grad, float(ex.grad("x"))
    (array(3.), 6.0)
    >>> "x: 3 from f (mul), 3 from f (mul); total 6" in str(ex)
    True
    """
    fmt = _check_format(format)
    if fmt == "rich":
        try:
            import rich  # noqa: F401
        except ImportError:
            warnings.warn(
                "format='rich' needs the optional 'rich' package (pip install rich);"
                " using plain text",
                RuntimeWarning,
                stacklevel=2,
            )
            fmt = "text"
    if max_elements < 1 or precision < 0:
        raise ChainruleError(
            f"explain: max_elements must be >= 1 and precision >= 0, got {max_elements} "
            f"and {precision}"
        )
    tr = record(output, grad, names)
    steps = _Builder(tr, precision, max_elements).steps()
    ex = Explanation(
        steps,
        tr.name(tr.output),
        tr.seed,
        format=fmt,
        precision=precision,
        max_elements=max_elements,
        title=title,
        collapse=collapse,
    )
    ex._trace = tr  # for to_page(): the graph's structure (the tensors are kept alive)
    return ex


def explain_expression(
    expression: str,
    values: Mapping[str, Any],
    *,
    format: str = "text",  # noqa: A002
    max_elements: int = 12,
    precision: int = 4,
) -> tuple[Explanation, Tensor]:
    """Parse a formula safely, evaluate it on chainrule tensors and explain its backward pass.

    The formula is read by :mod:`chainrule.viz.expr` (never ``eval``): numbers, variables,
    ``+ - * / **``, parentheses and the functions exp, log, sqrt, abs, sigmoid, tanh, relu,
    max (elementwise maximum) and min. Each variable becomes a float64 tensor named after
    it, requiring grad.

    Parameters
    ----------
    expression : str
        E.g. ``"(x + y) * max(y, z)"``.
    values : Mapping[str, array_like]
        A value for every variable of the expression (extra names are ignored).
    format, max_elements, precision
        As for :func:`explain`.

    Returns
    -------
    (Explanation, Tensor)
        The explanation and the output tensor (named after nothing, shown as ``f``), whose
        graph is kept, e.g. for :func:`chainrule.viz.draw`.

    Raises
    ------
    ExpressionError
        For a malformed expression, a missing value (all missing names are listed, with the
        column of the first), or an error while evaluating; ``.column`` points at the
        offending place.

    Examples
    --------
    >>> ex, f = explain_expression("(x + y) * max(y, z)", {"x": 1, "y": 2, "z": 0})
    >>> float(f), float(ex.grad("y")), float(ex.grad("z"))
    (6.0, 5.0, 0.0)
    """
    tree = _expr.parse(expression)
    names = _expr.variables(tree)
    if not names:
        raise _expr.ExpressionError(
            "the expression has no variables to differentiate",
            expression,
            1,
            "use a name such as x",
        )
    missing = [n for n in names if n not in values]
    if missing:
        column = _first_column(tree, missing[0])
        raise _expr.ExpressionError(
            f"no value given for {', '.join(repr(n) for n in missing)}",
            expression,
            column,
            f"given: {', '.join(values) or 'none'}",
        )
    env = {
        n: Tensor(np.asarray(values[n], dtype=np.float64), requires_grad=True, name=n)
        for n in names
    }
    with np.errstate(all="ignore"):  # inf/nan are shown in the explanation, not warned
        out = _expr.evaluate(tree, env, TENSOR_FUNCTIONS, text=expression)
        title = f"Backpropagation through f = {_expr.to_source(tree)} at " + ", ".join(
            f"{n} = {format_array(env[n].data, precision, max_elements)}" for n in names
        )
        ex = explain(
            out, format=format, max_elements=max_elements, precision=precision, title=title
        )
    return ex, out


def _first_column(tree: _expr.Node, name: str) -> int:
    stack = [tree]
    best = None
    while stack:
        node = stack.pop()
        if isinstance(node, _expr.Var) and node.name == name:
            best = node.column if best is None else min(best, node.column)
        else:
            stack.extend(_expr._children(node))
    return best or 1
