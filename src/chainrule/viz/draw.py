"""Draw a computation graph like the lecture figures: values above, gradients below.

:func:`draw` runs a backward pass from an output (see :mod:`chainrule.viz.trace`; the
leaves' ``.grad`` are not touched) and writes the graph as Graphviz DOT text: one node per
gate (labelled with its symbol, ``+ × max σ @ ...``, and its tensor's name), one node per
leaf (its name, value and final gradient), and one edge per use of a value, labelled with
the value (green, above) and the gradient that flowed back along that edge (red, below).
A value used twice has two edges, each with its own share of the gradient; its node shows
their sum. The output gets an edge to a last node carrying the seed gradient (1).

Large graphs are collapsed by this rule (while more than ``max_nodes`` op nodes would be
drawn): list the op nodes in the order they were computed and give each a signature (op,
parameters, output shape, and for each input: a leaf of some shape, a constant, or the op
node *k positions earlier*). The longest run of K >= 3 consecutive repetitions of a block
of P signatures (a repeated layer: same ops, same shapes, same wiring) is found; the first
and last repetitions are drawn in full and the K - 2 in between become a single box
("×18 [matmul → add → tanh]"), together with the leaves used only inside it (their
weights). Repeat until the graph is small enough or nothing repeats.

Without the ``dot`` program (Graphviz, a system package) the DOT text is still produced;
asked for an image, :func:`draw` writes a ``.dot`` file instead and warns with the exact
``dot -Tsvg ... -o ...`` command that renders it.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.viz import draw
>>> x = cr.Tensor(-2.0, requires_grad=True, name="x")
>>> y = cr.Tensor(5.0, requires_grad=True, name="y")
>>> d = draw(x * y)
>>> d.source.splitlines()[0]
'digraph chainrule {'
>>> '<font color="#1a7f37">-2.00</font><br/><font color="#cf222e">5.00</font>' in d.source
True
"""

from __future__ import annotations

import html
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core import ChainruleError, Tensor
from . import render as _render
from .catalog import SYMBOLS as _SYMBOLS
from .numbers import format_array, format_number, format_shape
from .rules import rule_for, template_fields
from .trace import Trace, record

__all__ = ["CollapsedGroup", "Drawing", "GraphvizMissingWarning", "SYMBOLS", "draw"]

VALUE_COLOR = "#1a7f37"  # green, like the lecture figures' forward values
GRAD_COLOR = "#cf222e"  # red, for gradients

#: How each op is labelled in a picture: ``lecture.symbol`` of each primitive (a live view,
#: :mod:`chainrule.viz.catalog`); ops without one show their name.
SYMBOLS = _SYMBOLS

_SUFFIX_FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".pdf": "pdf"}


class GraphvizMissingWarning(UserWarning):
    """An image was asked for but Graphviz's ``dot`` is not installed: DOT was written."""


@dataclass(frozen=True)
class CollapsedGroup:
    """A run of repeated layers drawn as one box.

    Attributes
    ----------
    node_id : str
        Its node's name in the DOT source.
    unit : tuple of str
        The op names of one repetition, in forward order.
    repeats : int
        How many repetitions the box stands for.
    ops : int
        Op nodes hidden in the box (``repeats * len(unit)``).
    leaves : int
        Leaves hidden with it (used only inside the box, e.g. the layers' weights).
    first, last : str
        Names of the first and last hidden op node.
    """

    node_id: str
    unit: tuple[str, ...]
    repeats: int
    ops: int
    leaves: int
    first: str
    last: str


@dataclass
class Drawing:
    """A drawn graph (returned by :func:`draw`).

    Attributes
    ----------
    source : str
        The Graphviz DOT text.
    path : Path or None
        The file written (a ``.dot`` file when an image was asked for without Graphviz).
    format : str or None
        Format of the file written: ``"svg"``, ``"png"``, ``"pdf"`` or ``"dot"``.
    rendered : bool
        Whether ``dot`` produced an image file.
    command : str or None
        When an image could not be rendered: the command that renders the .dot file.
    groups : list of CollapsedGroup
        Repeated layers collapsed into boxes (empty for small graphs).
    nodes : int
        Op nodes of the graph (before collapsing).
    """

    source: str
    path: Path | None = None
    format: str | None = None
    rendered: bool = False
    command: str | None = None
    groups: list[CollapsedGroup] = field(default_factory=list)
    nodes: int = 0

    def render(self, fmt: str = "svg") -> bytes:
        """The picture as ``fmt`` bytes (needs Graphviz's ``dot``)."""
        return _render.render(self.source, fmt)

    def save(self, path: str | os.PathLike[str], format: str | None = None) -> Path:  # noqa: A002
        """Write the graph to ``path`` (see :func:`draw` for formats and the no-Graphviz case).

        Returns the path written and updates ``path``, ``format``, ``rendered`` and
        ``command``.
        """
        target = Path(path)
        fmt = format or _SUFFIX_FORMATS.get(target.suffix.lower())
        if fmt is None:
            raise ChainruleError(
                f"draw: cannot tell the format of {str(target)!r} from its suffix; use one of "
                f"{', '.join(_SUFFIX_FORMATS)} or pass format="
            )
        fmt = fmt.lower()
        if fmt in ("dot", "gv"):
            target.write_text(self.source, encoding="utf-8")
            self.path, self.format, self.rendered, self.command = target, "dot", False, None
            return target
        if fmt not in _render.RENDER_FORMATS:
            raise ChainruleError(
                f"draw: unknown format {fmt!r}; use dot, {', '.join(_render.RENDER_FORMATS)}"
            )
        if _render.find_dot() is None:
            dot_path = target.with_suffix(".dot")
            dot_path.write_text(self.source, encoding="utf-8")
            cmd = _render.render_command(dot_path, target, fmt)
            warnings.warn(
                f"Graphviz's `dot` program was not found, so {str(target)!r} was not rendered; "
                f"wrote the graph to {str(dot_path)!r} instead. Render it with `{cmd}` "
                f"({_render.INSTALL_HINT}).",
                GraphvizMissingWarning,
                stacklevel=3,
            )
            self.path, self.format, self.rendered, self.command = dot_path, "dot", False, cmd
            return dot_path
        target.write_bytes(_render.render(self.source, fmt))
        self.path, self.format, self.rendered, self.command = target, fmt, True, None
        return target

    def _repr_svg_(self) -> str | None:
        if _render.find_dot() is None:
            return None
        return self.render("svg").decode("utf-8")

    def _repr_html_(self) -> str | None:
        if _render.find_dot() is not None:
            return None  # Jupyter then shows the SVG
        hint = html.escape(_render.INSTALL_HINT)
        return (
            f"<p>Graphviz's <code>dot</code> is not installed ({hint}); the graph in "
            f"DOT:</p><pre>{html.escape(self.source)}</pre>"
        )

    def __str__(self) -> str:
        return self.source


def symbol(op: Any, params: dict[str, Any], precision: int = 2) -> str:
    """The label of an op's node: its ``lecture.symbol`` with the parameters filled in.

    Examples
    --------
    >>> from chainrule.core import REGISTRY
    >>> symbol(REGISTRY["mul"], {}), symbol(REGISTRY["pow_scalar"], {"exponent": 3})
    ('×', 'x^3')
    """
    sym = rule_for(op).symbol
    if not sym:
        return op.name
    try:
        return sym.format(**template_fields(op, params, precision))
    except (KeyError, IndexError, ValueError):
        return sym


# ---------------------------------------------------------------------- collapsing
def _param_key(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return ("array", v.shape, v.dtype.str)
    if isinstance(v, tuple | list):
        return tuple(_param_key(x) for x in v)
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    if isinstance(v, int | float | str | bool | type(None)):
        return v
    return repr(v)[:80]


def _signatures(ops: list[Tensor]) -> list[int]:
    pos = {id(t): k for k, t in enumerate(ops)}
    table: dict[Any, int] = {}
    out = []
    for k, t in enumerate(ops):
        ins = []
        for a in t._inputs:
            if isinstance(a, Tensor) and id(a) in pos:
                ins.append(("node", k - pos[id(a)]))
            elif isinstance(a, Tensor) and a.requires_grad:
                ins.append(("leaf", a.shape, a.dtype.str))
            else:
                ins.append(("const", np.shape(a.data if isinstance(a, Tensor) else a)))
        key = (
            t._op.name,
            tuple(sorted((n, _param_key(v)) for n, v in (t._params or {}).items())),
            t.shape,
            tuple(ins),
        )
        out.append(table.setdefault(key, len(table)))
    return out


def _find_runs(
    sig: list[int], names: list[str], max_nodes: int, max_period: int = 128
) -> list[tuple[int, int, int]]:
    """``(start, period, count)`` of each collapsed block: ``count`` repetitions of a unit of
    ``period`` op nodes starting at ``start`` (forward order), chosen greedily, largest first.
    """
    n = len(sig)
    blocked = [False] * n
    hidden_total = 0
    runs = []
    while n - hidden_total > max_nodes:
        best: tuple[int, int, int] | None = None
        best_hidden = 0
        for p in range(1, min(n // 3, max_period) + 1):
            i = 0
            while i + p < n:
                if blocked[i] or blocked[i + p] or sig[i] != sig[i + p]:
                    i += 1
                    continue
                j = i
                while j + p < n and not blocked[j] and not blocked[j + p] and sig[j] == sig[j + p]:
                    j += 1
                # sig[i:j+p] repeats with period p: k whole units from i
                k = (j - i + p) // p
                if k >= 3 and (k - 2) * p > best_hidden:
                    best, best_hidden = (i, p, j + p), (k - 2) * p
                i = j + 1
        if best is None:
            break
        i, p, end = best
        # Any rotation of the unit repeats as well; start it where the graph's first op
        # name reappears (a layer usually begins like the network does: matmul, not add).
        # Something of the first unit stays shown before the box, a whole unit after it.
        start = i + p
        for q in range(i + p, i, -1):
            if names[q] == names[0]:
                start = q
                break
        count = (end - start) // p - 1
        for q in range(start, start + count * p):
            blocked[q] = True
        hidden_total += count * p
        runs.append((start, p, count))
    return runs


# ---------------------------------------------------------------------- DOT writing
def _q(text: str) -> str:
    """A double-quoted DOT string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _h(text: str) -> str:
    """Text for an HTML-like DOT label."""
    return html.escape(text, quote=False)


class _Writer:
    def __init__(self, tr: Trace, precision: int, max_nodes: int, title: str | None) -> None:
        self.tr = tr
        self.p = precision
        self.max_nodes = max_nodes
        self.title = title
        self.lines: list[str] = []
        self.groups: list[CollapsedGroup] = []

    def short(self, a: np.ndarray, grad: bool) -> str:
        if a.size <= 4:
            return format_array(a, self.p, 4, fixed=True)
        if grad:
            norm = float(np.linalg.norm(a.astype(np.float64)))
            return f"‖g‖ {format_number(norm, self.p, fixed=True)}"
        return f"{format_shape(a.shape)} μ {format_number(float(np.mean(a)), self.p, fixed=True)}"

    def pair(self, value: np.ndarray, grad: np.ndarray | None) -> str:
        top = f'<font color="{VALUE_COLOR}">{_h(self.short(value, False))}</font>'
        if grad is None:
            return top
        return top + f'<br/><font color="{GRAD_COLOR}">{_h(self.short(grad, True))}</font>'

    def full(self, a: np.ndarray | None) -> str:
        return "none" if a is None else format_array(a, 6, 4)

    def write(self) -> str:
        tr = self.tr
        ops = tr.forward_ops
        pos = {id(t): k for k, t in enumerate(ops)}
        runs = (
            _find_runs(_signatures(ops), [t._op.name for t in ops], self.max_nodes)
            if len(ops) > self.max_nodes
            else []
        )
        group_of: dict[int, int] = {}
        for g, (start, p, count) in enumerate(runs):
            for q in range(start, start + count * p):
                group_of[q] = g

        def node_of(t: Tensor) -> str:
            if id(t) in pos:
                k = pos[id(t)]
                return f"group{group_of[k] + 1}" if k in group_of else f"n{k}"
            return f"leaf{leaf_index[id(t)]}"

        leaf_index = {id(t): j for j, t in enumerate(tr.leaves)}
        # Leaves used only inside one collapsed box are hidden with it.
        consumers: dict[int, set[str]] = {id(t): set() for t in tr.leaves}
        for t in ops:
            for a in t._inputs:
                if isinstance(a, Tensor) and id(a) in consumers:
                    consumers[id(a)].add(node_of(t))
        hidden_leaves = {
            lid
            for lid, users in consumers.items()
            if len(users) == 1 and next(iter(users)).startswith("group")
        }
        sent = {id(t): dict(pairs) for t, pairs in ((t, tr.sent.get(id(t), [])) for t in ops)}

        out_name = tr.name(tr.output)
        title = self.title or (f"{out_name}: values (green) above, gradients (red) below")
        L = self.lines
        L.append("digraph chainrule {")
        L.append(
            f'  graph [rankdir=LR, fontname="Helvetica", fontsize=12, nodesep=0.35, '
            f"ranksep=0.55, labelloc=t, label=<{_h(title)}>];"
        )
        L.append('  node [fontname="Helvetica", fontsize=11];')
        L.append('  edge [fontname="Helvetica", fontsize=10, arrowsize=0.7];')
        for j, t in enumerate(tr.leaves):
            if id(t) in hidden_leaves:
                continue
            name = tr.name(t)
            label = f"<b>{_h(name)}</b><br/>" + self.pair(tr.values[id(t)], tr.grad(t))
            tip = (
                f"{name} = {self.full(tr.values[id(t)])}; d{out_name}/d{name} = "
                f"{self.full(tr.grad(t))}"
            )
            L.append(
                f"  leaf{j} [id={_q('leaf:' + name)}, shape=box, style=rounded, "
                f'color="#888888", label=<{label}>, tooltip={_q(tip)}];'
            )
        for k, t in enumerate(ops):
            if k in group_of:
                continue
            name, op = tr.name(t), t._op.name
            sym = symbol(t._op, t._params or {}, self.p)
            label = f'<b>{_h(sym)}</b><br/><font point-size="9">{_h(name)}</font>'
            tip = (
                f"{name} = {op}(...) = {self.full(tr.values[id(t)])}; "
                f"d{out_name}/d{name} = {self.full(tr.grad(t))}"
            )
            L.append(
                f"  n{k} [id={_q('op:' + name)}, shape=ellipse, label=<{label}>, "
                f"tooltip={_q(tip)}];"
            )
        for g, (start, p, count) in enumerate(runs):
            first, last = ops[start], ops[start + count * p - 1]
            unit = tuple(ops[start + q]._op.name for q in range(p))
            n_leaves = sum(
                1 for lid in hidden_leaves if next(iter(consumers[lid])) == f"group{g + 1}"
            )
            grp = CollapsedGroup(
                f"group{g + 1}", unit, count, count * p, n_leaves, tr.name(first), tr.name(last)
            )
            self.groups.append(grp)
            label = (
                f"<b>×{count}</b> [{_h(' → '.join(unit))}]<br/>"
                f'<font point-size="9">{_h(grp.first)} … {_h(grp.last)}: {grp.ops} ops, '
                f"{n_leaves} leaves hidden</font>"
            )
            L.append(
                f"  group{g + 1} [id={_q('group:' + str(g + 1))}, shape=box3d, "
                f'style=filled, fillcolor="#f2f2f2", label=<{label}>];'
            )
        # Edges: one per (producer node, consumer node, tensor); a box's internal edges vanish
        # and what several hidden nodes sent back through the same tensor is summed.
        edges: dict[tuple[str, str, int], list[Any]] = {}
        n_const = 0
        for t in ops:
            dst = node_of(t)
            for i, a in enumerate(t._inputs):
                if isinstance(a, Tensor) and a.requires_grad:
                    src = node_of(a)
                    if src == dst or id(a) in hidden_leaves:
                        continue
                    gi = sent[id(t)].get(i)
                    key = (src, dst, id(a))
                    if key not in edges:
                        edges[key] = [a, gi]
                    elif gi is not None:
                        prev = edges[key][1]
                        edges[key][1] = gi if prev is None else prev + gi
                elif a is not None and not dst.startswith("group"):
                    n_const += 1
                    arr = np.asarray(a.data if isinstance(a, Tensor) else a)
                    text = tr.const_name(a) or (
                        a.name
                        if isinstance(a, Tensor) and a.name
                        else format_array(arr, self.p, 4)
                        if arr.size <= 4
                        else f"const {format_shape(arr.shape)}"
                    )
                    L.append(
                        f'  const{n_const} [shape=plaintext, fontcolor="#666666", '
                        f"label=<{_h(text)}>];"
                    )
                    L.append(f'  const{n_const} -> {dst} [color="#aaaaaa"];')
        for (src, dst, _), (a, gi) in edges.items():
            name = tr.name(a)
            value = tr.values[id(a)]
            tip = f"{name} = {self.full(value)}; gradient along this edge {self.full(gi)}"
            target = dst if dst.startswith("group") else tr.name(ops[int(dst[1:])])
            L.append(
                f"  {src} -> {dst} [id={_q('edge:' + name + '->' + target)}, "
                f"label=<{self.pair(value, gi)}>, tooltip={_q(tip)}];"
            )
        out = tr.output
        L.append(
            f"  output [id={_q('output:' + out_name)}, shape=plaintext, "
            f"label=<<b>{_h(out_name)}</b>>];"
        )
        src = node_of(out)
        tip = f"{out_name} = {self.full(tr.values[id(out)])}; seed {self.full(tr.seed)}"
        L.append(
            f"  {src} -> output [id={_q('edge:' + out_name + '->output')}, "
            f"label=<{self.pair(tr.values[id(out)], tr.seed)}>, tooltip={_q(tip)}];"
        )
        L.append("}")
        return "\n".join(L) + "\n"


def draw(
    output: Tensor,
    path: str | os.PathLike[str] | None = None,
    *,
    format: str | None = None,  # noqa: A002 - the natural keyword
    grad: Any = None,
    precision: int = 2,
    max_nodes: int = 60,
    title: str | None = None,
    names: Any = None,
) -> Drawing:
    """Draw the graph under ``output`` with every edge's value and gradient.

    Parameters
    ----------
    output : Tensor
        The tensor to differentiate (its graph must still exist, as for
        :func:`chainrule.viz.explain`; the leaves' ``.grad`` are not touched).
    path : path-like, optional
        Where to write the picture. The format comes from the suffix (``.svg``, ``.png``,
        ``.pdf``: rendered by Graphviz's ``dot``; ``.dot``/``.gv``: DOT text) or from
        ``format``. Without ``dot``, an image request writes ``<path>.dot`` instead and
        warns (:class:`GraphvizMissingWarning`) with the command that renders it.
    format : str, optional
        ``"svg"``, ``"png"``, ``"pdf"`` or ``"dot"``, overriding the suffix.
    grad : array_like, optional
        dL/d(output); default 1 (ones for a larger output).
    precision : int
        Decimals in the labels (2 as in the lecture figures: ``-2.00``... whole numbers are
        written without decimals).
    max_nodes : int
        Collapse repeated layers while more op nodes than this would be drawn (see the
        module docstring for the rule).
    title : str, optional
        Caption of the picture.
    names : module or mapping, optional
        Display names for parameters (``model.0.weight``), inputs and constants, as for
        :func:`chainrule.viz.explain`.

    Returns
    -------
    Drawing
        ``.source`` is the DOT text, ``.path`` the file written; in Jupyter it shows as SVG.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor(3.0, requires_grad=True, name="x")
    >>> d = draw(cr.exp(x) + x)
    >>> d.source.count(" -> ")          # x twice, exp -> add, add -> output
    4
    """
    if max_nodes < 1:
        raise ChainruleError(f"draw: max_nodes must be at least 1, got {max_nodes}")
    tr = record(output, grad, names)
    writer = _Writer(tr, precision, max_nodes, title)
    drawing = Drawing(source=writer.write(), groups=writer.groups, nodes=len(tr.ops))
    if path is not None:
        drawing.save(path, format)
    elif format is not None and format.lower() not in ("dot", "gv", *_render.RENDER_FORMATS):
        raise ChainruleError(f"draw: unknown format {format!r}")
    return drawing
