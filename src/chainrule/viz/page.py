"""One self-contained HTML page that steps through a backward pass, node by node.

:func:`page` records a backward pass (as :func:`chainrule.viz.explain` does: the leaves'
``.grad`` are not touched) and writes a single HTML file: the graph drawn as inline SVG with
every node's forward value, and a panel that walks the backward pass one node at a time
(buttons, or the arrow keys; Home/End jump to the ends). At each step the current node is
highlighted and the panel shows its upstream gradient, gate pattern and local rule, what it
sends to each input (the rule, the numbers put in, the result), and, where paths meet, the
running sum of the contributions received so far. Edges show their gradient from the step
that computes it; the last view lists every leaf's gradient.

The file needs nothing else: no network, no CDN, no external script, style or font; it works
opened from disk. The layout is computed here (layers from the leaves to the output, see
:func:`_layout`: edge labels sit on each edge's lead-in to its own port, so they never cover
a box or each other), so no Graphviz is needed either. A graph too wide to sit beside the
panel goes above it; one too big for its pane scrolls, following the current node, and
"fit graph" scales it into view. All text (names, formulas, numbers) is written into the page as
JSON and inserted with ``textContent``, never parsed as HTML: a tensor named ``<script>``
shows as those characters.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.viz import page
>>> x = cr.Tensor(3.0, requires_grad=True, name="x")
>>> p = page(x * x + x)
>>> p.html.startswith("<!DOCTYPE html>") and "https://" not in p.html and "src=" not in p.html
True
>>> [s["name"] for s in p.data["steps"]]
['f', 't1']
"""

from __future__ import annotations

import html as _html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..core import ChainruleError, Tensor
from .numbers import format_array, format_number, format_shape
from .trace import Trace

__all__ = ["Page", "page", "page_data", "render_page"]

_NODE_W, _NODE_H, _NODE_MAX_W, _PAD = 120, 58, 260, 24
_PORT_GAP, _ROW_GAP, _SLOT_H, _SLOT_GAP, _CURVE = 30, 26, 14, 8, 36
_CHAR_W, _HEAD_W, _LABEL_W = 6.4, 8.6, 6.0  # px per character: 12px, 14px bold, 11px text


class Page:
    """A written (or writable) step-through page (returned by :func:`page`).

    Attributes
    ----------
    html : str
        The whole HTML document.
    data : dict
        What the page shows (nodes, edges, steps, final gradients), as JSON-ready data.
    path : Path or None
        The file written, if any.
    """

    def __init__(self, html: str, data: dict[str, Any], path: Path | None = None) -> None:
        self.html = html
        self.data = data
        self.path = path

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` (UTF-8), all-or-nothing; returns the path."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
        try:
            tmp.write_text(self.html, encoding="utf-8")
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        self.path = target
        return target

    def _repr_html_(self) -> str:
        """Jupyter: the page inline, in an iframe (its script and style stay isolated)."""
        height = min(900, max(420, int(self.data["height"]) + 330))
        return (
            f'<iframe srcdoc="{_html.escape(self.html, quote=True)}" '
            f'style="width:100%;height:{height}px;border:1px solid #ddd" '
            f'sandbox="allow-scripts"></iframe>'
        )

    def __str__(self) -> str:
        return self.html


# ---------------------------------------------------------------------- the data
def _short(a: np.ndarray, p: int) -> str:
    """A node label: small tensors in full, others as shape and norm."""
    a = np.asarray(a)
    if a.size <= 4:
        return format_array(a, p, 4)
    if a.dtype.kind not in "biuf":
        return format_shape(a.shape)
    return f"{format_shape(a.shape)} ‖·‖ {format_number(_norm(a), p)}"


def _compact(a: np.ndarray, p: int) -> str:
    """An edge label: short ones in full, others as their norm (the node shows the shape)."""
    a = np.asarray(a)
    full = _short(a, p)
    if a.dtype.kind not in "biuf" or (a.size <= 4 and len(full) <= 12):
        return full
    return f"‖·‖ {format_number(_norm(a), p)}"


def _norm(a: np.ndarray) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


def _spread(items: list[tuple[Any, float, float, bool]]) -> dict[Any, float]:
    """Tops for one column's items (key, wanted centre, height, is a node): each as near its
    wanted centre as the order allows, never closer than the row gap (a block of touching
    items sits at the mean of what its members want)."""
    items = sorted(items, key=lambda it: it[1])

    def gap(a: tuple, b: tuple) -> float:
        return float(_ROW_GAP if (a[3] or b[3]) else _SLOT_GAP)

    def offsets(members: list) -> list[float]:
        out, y = [], 0.0
        for j, m in enumerate(members):
            if j:
                y += members[j - 1][2] + gap(members[j - 1], m)
            out.append(y)
        return out

    def best(members: list) -> float:
        offs = offsets(members)
        return sum(m[1] - m[2] / 2 - o for m, o in zip(members, offs, strict=True)) / len(members)

    blocks: list[tuple[list, float]] = []
    for it in items:
        members, top = [it], it[1] - it[2] / 2
        while blocks:
            prev, ptop = blocks[-1]
            pend = ptop + offsets(prev)[-1] + prev[-1][2] + gap(prev[-1], members[0])
            if pend <= top:
                break
            blocks.pop()
            members = prev + members
            top = best(members)
        blocks.append((members, top))
    return {
        m[0]: top + o
        for members, top in blocks
        for m, o in zip(members, offsets(members), strict=True)
    }


def _layout(
    tr: Trace,
    nodes: list[Tensor],
    edges: list[tuple[Tensor, int, Tensor]],
    label_w: dict[tuple[int, int], float],
    out_w: float,
    node_w: dict[int, float],
) -> dict[str, Any]:
    """A layered layout, from the leaves (left) to the output (right).

    An op sits one column right of its latest input, a leaf in the column before its first
    consumer. Columns are placed from the output leftwards, each node as near the ports it
    feeds as its column allows (a tree comes out as a tree); an edge that skips columns passes
    through a reserved slot in each, so it never crosses a box. Every edge enters its node
    horizontally, at its own port, over a lead-in as wide as the widest label into that
    column; the labels sit on the lead-in, above and below the line and within the height of
    the node they point at, so they cannot touch a box, a curve or each other.
    ``edges`` are (consumer, input index, input); ``label_w`` their labels' widths.
    """
    leaf = {id(t) for t in tr.leaves}
    col: dict[int, int] = {id(t): 0 for t in nodes if id(t) in leaf}
    ins: dict[int, list[tuple[int, Tensor]]] = {}
    for dst, i, src in edges:
        ins.setdefault(id(dst), []).append((i, src))
    for t in nodes:
        if id(t) not in leaf:
            col[id(t)] = 1 + max((col[id(a)] for _, a in ins.get(id(t), [])), default=-1)
    first: dict[int, int] = {}
    for dst, _, src in edges:
        first[id(src)] = min(first.get(id(src), 1 << 30), col[id(dst)])
    for t in nodes:
        if id(t) in leaf and id(t) in first:
            col[id(t)] = first[id(t)] - 1
    ncol = 1 + max(col.values(), default=0)
    height = {id(t): float(max(_NODE_H, _PORT_GAP * len(ins.get(id(t), [])))) for t in nodes}
    col_w = [float(_NODE_W)] * ncol
    for t in nodes:
        col_w[col[id(t)]] = max(col_w[col[id(t)]], min(_NODE_MAX_W, node_w[id(t)]))
    lead = [0.0] * (ncol + 1)
    for dst, i, _ in edges:
        c = col[id(dst)]
        lead[c] = max(lead[c], label_w.get((id(dst), i), 0.0) + 16)
    lead[ncol] = out_w + 16

    top: dict[int, float] = {}
    slot: dict[tuple[int, int, int], float] = {}  # (consumer, input, column) -> y

    def port(dst: Tensor, i: int) -> float:
        k = [j for j, _ in ins[id(dst)]].index(i)
        return top[id(dst)] + height[id(dst)] * (k + 0.5) / len(ins[id(dst)])

    def ahead(dst: Tensor, i: int, c: int) -> float:
        """Where edge (dst, i) goes next from column c: a slot in c + 1, or its port."""
        return port(dst, i) if col[id(dst)] == c + 1 else slot[(id(dst), i, c + 1)]

    by_col: dict[int, list[Tensor]] = {}
    for t in nodes:
        by_col.setdefault(col[id(t)], []).append(t)
    for c in range(ncol - 1, -1, -1):
        items: list[tuple[Any, float, float, bool]] = []
        for t in by_col.get(c, []):
            feeds = [ahead(dst, i, c) for dst, i, src in edges if src is t]
            items.append(
                (("n", id(t)), sum(feeds) / len(feeds) if feeds else 0.0, height[id(t)], True)
            )
        for dst, i, src in edges:
            if col[id(src)] < c < col[id(dst)]:
                items.append((("s", id(dst), i), ahead(dst, i, c), float(_SLOT_H), False))
        for key, y in _spread(items).items():
            if key[0] == "n":
                top[key[1]] = y
            else:
                slot[(key[1], key[2], c)] = y + _SLOT_H / 2
    lo = min([top[id(t)] for t in nodes] + [y - _SLOT_H / 2 for y in slot.values()])
    shift = _PAD - lo
    for k in top:
        top[k] += shift
    for s in slot:
        slot[s] += shift
    xs, x = [], float(_PAD)
    for c in range(ncol):
        x += (_CURVE + lead[c]) if c else 0.0
        xs.append(x)
        x += col_w[c]
    bottom = max(
        [top[id(t)] + height[id(t)] for t in nodes] + [y + _SLOT_H / 2 for y in slot.values()]
    )
    runs: dict[tuple[int, int], list[list[float]]] = {}
    for dst, i, src in edges:
        cs, cd = col[id(src)], col[id(dst)]
        r = [[xs[cs] + col_w[cs]] * 2 + [top[id(src)] + height[id(src)] / 2]]
        for c in range(cs + 1, cd):
            r.append([xs[c] - lead[c], xs[c] + col_w[c], slot[(id(dst), i, c)]])
        r.append([xs[cd] - lead[cd], xs[cd], port(dst, i)])
        runs[(id(dst), i)] = r
    return {
        "x": {k: xs[c] for k, c in col.items()},
        "y": top,
        "h": height,
        "w": {k: col_w[c] for k, c in col.items()},
        "runs": runs,
        "lead": lead,
        "width": x + lead[ncol] + 30 + _PAD,
        "height": bottom + _PAD,
    }


def page_data(ex: Any) -> dict[str, Any]:
    """The JSON-ready content of the page of an :class:`~chainrule.viz.Explanation`."""
    tr: Trace | None = getattr(ex, "_trace", None)
    if tr is None:
        raise ChainruleError("page: this explanation holds no recorded pass")
    p = ex.precision
    arr = ex._arr
    f = ex.output
    steps_by_name = {s.name: s for s in ex.steps}
    ops_bw = ex.ops  # backward order: step k = ops_bw[k - 1]
    step_of = {s.name: k + 1 for k, s in enumerate(ops_bw)}
    n = len(ops_bw)
    ids = {id(t): f"n{k}" for k, t in enumerate(tr.leaves + tr.forward_ops)}
    all_nodes = tr.leaves + tr.forward_ops
    drawn = [
        (t, i, a)
        for t in tr.forward_ops
        for i, a in enumerate(t._inputs)
        if isinstance(a, Tensor) and id(a) in ids
    ]
    sent = {id(t): dict(tr.sent.get(id(t), [])) for t in tr.forward_ops}
    labels: dict[tuple[int, int], tuple[str, str]] = {}
    for t, i, a in drawn:
        g = sent[id(t)].get(i)
        labels[(id(t), i)] = (_compact(tr.values[id(a)], p), "" if g is None else _compact(g, p))
    out = tr.output
    out_label = (_compact(tr.values[id(out)], p), _compact(tr.seed, p))
    node_w = {}
    for t in all_nodes:
        s = steps_by_name[tr.name(t)]
        head = tr.name(t) if s.kind == "leaf" else f"{_symbol(t)}  {tr.name(t)}"
        node_w[id(t)] = 20 + max(
            len(head) * (_CHAR_W if s.kind == "leaf" else _HEAD_W),
            len(_short(s.value, p)) * _CHAR_W,
            len(_short(s.upstream, p)) * _CHAR_W,
        )
    lay = _layout(
        tr,
        all_nodes,
        drawn,
        {k: max(len(v), len(g)) * _LABEL_W for k, (v, g) in labels.items()},
        max(len(out_label[0]), len(out_label[1])) * _LABEL_W + 8,
        node_w,
    )
    width, height = lay["width"], lay["height"]

    # When each node's gradient is complete: an op at its own step, a leaf after its last
    # consumer's step.
    done_at: dict[str, int] = {}
    for t in all_nodes:
        name = tr.name(t)
        if name in step_of:
            done_at[name] = step_of[name]
        else:
            got = [step_of[tr.name(r.consumer)] for r in tr.received.get(id(t), [])]
            done_at[name] = max(got, default=0)

    nodes = []
    for t in all_nodes:
        name = tr.name(t)
        s = steps_by_name[name]
        nodes.append(
            {
                "id": ids[id(t)],
                "name": name,
                "kind": s.kind,
                "op": s.op or "",
                "symbol": _symbol(t),
                "x": lay["x"][id(t)],
                "y": lay["y"][id(t)],
                "w": lay["w"][id(t)],
                "h": lay["h"][id(t)],
                "value": _short(s.value, p),
                "grad": _short(s.upstream, p),
                "shape": format_shape(s.shape),
                "done_at": done_at[name],
                "output": t is tr.output,
            }
        )
    edges = []
    for t, i, a in drawn:
        g = sent[id(t)].get(i)
        value, grad = labels[(id(t), i)]
        edges.append(
            {
                "id": f"e{len(edges)}",
                "src": ids[id(a)],
                "dst": ids[id(t)],
                "name": tr.name(a),
                "value": value,
                "grad": grad,
                "full": f"{tr.name(a)} → {tr.name(t)}: value "
                f"{_short(tr.values[id(a)], p)}"
                + ("" if g is None else f"; gradient {_short(g, p)}"),
                "runs": lay["runs"][(id(t), i)],
                "step": step_of[tr.name(t)],
            }
        )
    o = nodes[[id(t) for t in all_nodes].index(id(out))]
    x0, y0 = o["x"] + o["w"], o["y"] + o["h"] / 2
    edges.append(
        {
            "id": "eout",
            "src": ids[id(out)],
            "dst": "",
            "name": f,
            "value": out_label[0],
            "grad": out_label[1],
            "full": f"{f} = {_short(tr.values[id(out)], p)}; seed {_short(tr.seed, p)}",
            "runs": [[x0, x0, y0], [x0, x0 + lay["lead"][-1], y0]],
            "step": 1 if n else 0,
        }
    )

    steps = []
    for k, s in enumerate(ops_bw, start=1):
        rows: list[dict[str, Any]] = []
        ins = ", ".join(
            f"{i.name} {format_shape(i.shape)}" + (" const" if i.constant else "") for i in s.inputs
        )
        rows.append(_row("shapes", "shapes", [_line(f"{ins} → {s.name} {format_shape(s.shape)}")]))
        rows.append(_row("value", "value", [_line(f"{s.name} =", arr(s.value))]))
        rows.append(
            _row(
                "upstream",
                "upstream",
                [
                    _line(
                        f"∂{f}/∂{s.name} =",
                        arr(s.upstream),
                        " (the seed)" if s.is_output else "",
                        target=s.name,
                    )
                ],
            )
        )
        if s.summed:
            parts = " + ".join(f"{arr(c.grad)} from {c.source} ({c.op})" for c in s.received)
            rows.append(
                _row(
                    "gathered",
                    "gathered",
                    [_line(f"{s.name}: {parts} =", arr(s.upstream), "", target=s.name)],
                )
            )
        if s.gate:
            rows.append(_row("gate", "gate", [_line(s.gate)]))
        if s.rule:
            rows.append(_row("local rule", "rule", [_line(s.rule)]))
        if s.local:
            rows.append(_row("local", "local", [_line(t) for t in s.local]))
        downs = []
        for d in s.downstream:
            full = d.text(f)
            result = arr(d.grad)
            prefix = (
                full[: -len(result)].rstrip().rstrip("=").rstrip()
                if full.endswith(result)
                else full
            )
            sep = " += " if d.partial else " = "
            head, _, rest = prefix.partition(sep)
            downs.append(
                _line(
                    f"{head}{sep}{rest} =" if rest else f"{head}{sep.rstrip()}",
                    result,
                    target=d.name,
                )
            )
        if downs:
            rows.append(_row("downstream", "downstream", downs))
        sums = []
        for d in s.downstream:
            if not d.partial:
                continue
            got = [c for c in steps_by_name[d.name].received if step_of.get(c.source, n + 1) <= k]
            total_paths = len(steps_by_name[d.name].received)
            so_far = got[0].grad
            for c in got[1:]:
                so_far = so_far + c.grad
            parts = " + ".join(f"{arr(c.grad)} from {c.source}" for c in got)
            state = (
                "all paths in: complete"
                if len(got) == total_paths
                else f"{len(got)} of {total_paths} paths so far"
            )
            sums.append(_line(f"{d.name}: {parts} =", arr(so_far), f" ({state})", target=d.name))
        if sums:
            rows.append(_row("running sum", "sums", sums))
        if s.notes:
            rows.append(_row("note", "note", [_line(t) for t in s.notes]))
        steps.append(
            {
                "k": k,
                "node": ids[id(_tensor_named(tr, s.name))],
                "name": s.name,
                "title": f"{s.formula}   [{s.op}]",
                "rows": rows,
            }
        )

    leaves = []
    for s in ex.leaves:
        contrib = (
            " + ".join(f"{arr(c.grad)} from {c.source}" for c in s.received)
            if s.received
            else "(the output itself)"
        )
        leaves.append(
            {
                "name": s.name,
                "shape": format_shape(s.shape),
                "value": arr(s.value),
                "grad": arr(s.upstream),
                "from": contrib,
            }
        )
    title = ex.title or f"Backpropagation through {f}"
    return {
        "title": title,
        "output": f,
        "seed": arr(ex.seed),
        "precision": p,
        "width": width,
        "height": height,
        "nodes": nodes,
        "edges": edges,
        "steps": steps,
        "leaves": leaves,
    }


def _symbol(t: Tensor) -> str:
    from .draw import symbol

    return symbol(t._op, t._params or {}, 2) if t._op is not None else ""


def _tensor_named(tr: Trace, name: str) -> Tensor:
    for t in tr.ops:
        if tr.name(t) == name:
            return t
    raise ChainruleError(f"page: no node {name!r}")  # pragma: no cover - names are unique


def _line(text: str, num: str | None = None, tail: str = "", *, target: str = "") -> dict:
    return {"text": text, "num": num, "tail": tail, "target": target}


def _row(label: str, cls: str, lines: list[dict]) -> dict:
    return {"label": label, "cls": cls, "lines": lines}


# ---------------------------------------------------------------------- the document
def _json_for_script(data: Any) -> str:
    """JSON that cannot close the <script> element or start a comment inside it."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def render_page(data: dict[str, Any]) -> str:
    """The HTML document for :func:`page_data`'s content."""
    return _TEMPLATE.replace("__TITLE__", _html.escape(data["title"])).replace(
        "__DATA__", _json_for_script(data)
    )


def page(
    output: Tensor,
    path: str | os.PathLike[str] | None = None,
    *,
    grad: Any = None,
    names: Any = None,
    precision: int = 4,
    max_elements: int = 12,
    title: str | None = None,
) -> Page:
    """Write the step-through page of the backward pass from ``output``.

    Parameters
    ----------
    output : Tensor
        The tensor to differentiate (its graph must still exist; the leaves' ``.grad`` are
        not touched, as for :func:`chainrule.viz.explain`).
    path : path-like, optional
        Where to write the HTML file (written all-or-nothing).
    grad, names, precision, max_elements, title
        As for :func:`chainrule.viz.explain` (``names=model`` shows ``model.0.weight``).

    Returns
    -------
    Page
        ``.html`` (the document), ``.data`` (its content), ``.path``; in Jupyter it shows
        inline.
    """
    from .explain import explain

    ex = explain(
        output, grad=grad, names=names, precision=precision, max_elements=max_elements, title=title
    )
    return ex.to_page(path)


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>__TITLE__</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;
 color:#1f2328;background:#fff}
header{padding:10px 16px;border-bottom:1px solid #d0d7de;display:flex;gap:12px;
 align-items:center;flex-wrap:wrap}
h1{font-size:16px;margin:0;font-weight:600}
button{font-size:14px;padding:4px 10px;border:1px solid #d0d7de;border-radius:6px;
 background:#f6f8fa;cursor:pointer}
button:disabled{opacity:.4;cursor:default}
#counter{font-variant-numeric:tabular-nums;color:#57606a}
main{display:flex;height:calc(100vh - 52px)}
#graph{flex:1 1 560px;overflow:auto;border-right:1px solid #d0d7de;min-width:0}
#panel{flex:1 1 420px;padding:10px 16px;font-size:14px;overflow:auto;min-width:0}
body.stacked main{flex-direction:column}
body.stacked #graph{flex:0 0 auto;border-right:0;border-bottom:1px solid #d0d7de}
body.stacked #panel{flex:1 1 auto;min-height:0}
#fit{display:none}
body.overflow #fit{display:inline-block}
#panel h2{font-size:15px;margin:4px 0 10px;font-family:ui-monospace,Menlo,Consolas,monospace}
.row{display:flex;gap:10px;padding:3px 0;border-top:1px solid #f0f0f0}
.label{flex:0 0 96px;font-weight:600;color:#57606a}
.lines{flex:1}
.line{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word}
.upstream .num,.downstream .num,.sums .num,.gathered .num,td.grad{color:#cf222e;
 font-weight:600}
.value .num{color:#1a7f37}
table{border-collapse:collapse;font-family:ui-monospace,Menlo,Consolas,monospace;
 font-size:13px}
td,th{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
svg text{font-family:system-ui,Helvetica,Arial,sans-serif;font-size:12px}
.node rect{fill:#fff;stroke:#8c959f;stroke-width:1.2}
.node.leaf rect{fill:#f6f8fa}
.node.done rect{stroke:#cf222e}
.node.current rect{fill:#fff8c5;stroke:#bf8700;stroke-width:3}
.node.target rect{stroke:#cf222e;stroke-width:2.4;stroke-dasharray:5 3}
.node .sym{font-weight:700;font-size:14px}
.val{fill:#1a7f37}.grd{fill:#cf222e;visibility:hidden}
.edge text{font-size:11px}
.edge:hover text{font-weight:700}
.node.done .grd,.edge.done .grd{visibility:visible}
.edge path{fill:none;stroke:#8c959f;stroke-width:1.3}
.edge.done path{stroke:#cf222e}
.edge.current path{stroke:#bf8700;stroke-width:3}
.hint{color:#57606a}
</style></head>
<body>
<header><h1 id="title"></h1>
<button id="first" title="forward view (Home)">« start</button>
<button id="prev" title="previous node (←)">◀ back</button>
<button id="next" title="next node (→)">next ▶</button>
<button id="last" title="all gradients (End)">all gradients »</button>
<span id="counter"></span>
<button id="fit" title="whole graph / actual size (F)">fit graph</button></header>
<main><div id="graph"></div><div id="panel"></div></main>
<script id="chainrule-data" type="application/json">__DATA__</script>
<script>
(function(){
"use strict";
var D=JSON.parse(document.getElementById("chainrule-data").textContent);
var NS="http://www.w3.org/2000/svg", n=D.steps.length, k=0;
function el(tag,attrs,parent,text){
  var e=document.createElementNS(NS,tag);
  for(var a in attrs)e.setAttribute(a,attrs[a]);
  if(text!==undefined)e.textContent=text;
  if(parent)parent.appendChild(e);
  return e;}
function h(tag,cls,parent,text){
  var e=document.createElement(tag);
  if(cls)e.className=cls;
  if(text!==undefined)e.textContent=text;
  if(parent)parent.appendChild(e);
  return e;}
document.getElementById("title").textContent=D.title;
var svg=el("svg",{width:D.width,height:D.height,viewBox:"0 0 "+D.width+" "+D.height,role:"img"});
document.getElementById("graph").appendChild(svg);
var byId={},nodeEl={},edgeEl=[];
D.nodes.forEach(function(nd){byId[nd.id]=nd;});
function fitText(t,w){  // a name too long for its box is cut (the full name is in the tooltip)
  var s=t.textContent;
  if(!t.getComputedTextLength||t.getComputedTextLength()<=w)return;
  var lo=0,hi=s.length;
  while(lo<hi){var mid=(lo+hi+1)>>1;t.textContent=s.slice(0,mid)+"…";
    if(t.getComputedTextLength()<=w)lo=mid;else hi=mid-1;}
  t.textContent=s.slice(0,lo)+"…";}
D.edges.forEach(function(e){
  var R=e.runs,d="M"+R[0][0]+","+R[0][2];
  for(var j=1;j<R.length;j++){
    var a=R[j-1],b=R[j],m=(b[0]-a[1])/2;
    if(b[2]!==a[2])d+=" C"+(a[1]+m)+","+a[2]+" "+(b[0]-m)+","+b[2]+" "+b[0]+","+b[2];
    else d+=" L"+b[0]+","+b[2];
    d+=" L"+b[1]+","+b[2];}
  var g=el("g",{"class":"edge","data-edge":e.id},svg);
  el("title",{},g,e.full);
  el("path",{d:d},g);
  var L=R[R.length-1],mx=(L[0]+L[1])/2+(e.dst?2:-4),y=L[2],room=L[1]-L[0]-8;
  fitText(el("text",{x:mx,y:y-3.5,"text-anchor":"middle","class":"val"},g,e.value),room);
  fitText(el("text",{x:mx,y:y+11.5,"text-anchor":"middle","class":"grd"},g,e.grad),room);
  if(!e.dst)el("text",{x:L[1]+4,y:y+4,"class":"out"},g,D.output);
  edgeEl.push([e,g]);
});
D.nodes.forEach(function(nd){
  var g=el("g",{"class":"node "+nd.kind,"data-node":nd.id,"data-name":nd.name},svg);
  el("rect",{x:nd.x,y:nd.y,width:nd.w,height:nd.h,rx:nd.kind==="leaf"?4:14},g);
  var head=nd.kind==="leaf"?nd.name:(nd.symbol+"  "+nd.name),cx=nd.x+nd.w/2,cy=nd.y+nd.h/2;
  [[head,cy-12,nd.kind==="leaf"?"":"sym"],[nd.value,cy+5,"val"],[nd.grad,cy+21,"grd"]]
    .forEach(function(r){fitText(el("text",{x:cx,y:r[1],"text-anchor":"middle","class":r[2]},g,r[0]),nd.w-10);});
  el("title",{},g,nd.name+" = "+nd.value+"; gradient "+nd.grad);
  nodeEl[nd.id]=g;
});
var G=document.getElementById("graph"),M=document.querySelector("main"),
    H=document.querySelector("header"),fit=false;
function frame(){  // side by side when the graph fits beside the panel, else graph above panel
  var stacked=D.width+440>window.innerWidth;
  document.body.classList.toggle("stacked",stacked);
  M.style.height=Math.max(240,window.innerHeight-H.offsetHeight)+"px";
  var s=fit?Math.min(1,(G.clientWidth-2)/D.width):1;
  svg.setAttribute("width",D.width*s);svg.setAttribute("height",D.height*s);
  G.style.maxHeight=stacked?Math.round(M.clientHeight*0.62)+"px":"";
  if(stacked)G.style.height=Math.min(D.height*s+18,M.clientHeight*0.62)+"px";
  else G.style.height="";
  document.body.classList.toggle("overflow",fit||G.scrollWidth>G.clientWidth+1||
    G.scrollHeight>G.clientHeight+1);
}
function reveal(g){  // scroll the graph (not the page) so that the current node is in view
  var r=g.getBoundingClientRect(),c=G.getBoundingClientRect(),m=16;
  var l=c.left+G.clientLeft,rt=l+G.clientWidth,t=c.top+G.clientTop,b=t+G.clientHeight;
  if(r.left<l+m||r.right>rt-m)G.scrollLeft+=(r.left+r.right-l-rt)/2;
  if(r.top<t+m||r.bottom>b-m)G.scrollTop+=(r.top+r.bottom-t-b)/2;
}
function line(parent,ln){
  var d=h("div","line",parent);
  if(ln.target)d.setAttribute("data-target",ln.target);
  d.appendChild(document.createTextNode(ln.text+(ln.num!==null&&ln.num!==undefined?" ":"")));
  if(ln.num!==null&&ln.num!==undefined)h("span","num",d,ln.num);
  if(ln.tail)d.appendChild(document.createTextNode(ln.tail));
}
function panel(){
  var P=document.getElementById("panel");P.textContent="";
  if(k===0){
    h("h2","",P,"Forward pass");
    h("p","hint",P,"Each node shows its value (green). Press → or “next” to run the "+
      "backward pass from ∂"+D.output+"/∂"+D.output+" = "+D.seed+
      ", one node at a time; ← goes back.");
    return;
  }
  if(k===n+1){
    h("h2","",P,"All gradients");
    h("p","hint",P,"The result of the pass: ∂"+D.output+
      "/∂leaf for every input and parameter (red).");
    var tb=h("table","",P),tr=h("tr","",tb);
    ["leaf","shape","value","∂"+D.output+"/∂leaf","contributions"].forEach(function(c){h("th","",tr,c);});
    D.leaves.forEach(function(L){var r=h("tr","leafrow",tb);r.setAttribute("data-target",L.name);
      h("td","name",r,L.name);h("td","",r,L.shape);h("td","",r,L.value);h("td","grad",r,L.grad);h("td","",r,L.from);});
    return;
  }
  var S=D.steps[k-1];
  h("h2","",P,k+". "+S.title);
  S.rows.forEach(function(R){
    var r=h("div","row "+R.cls,P);h("div","label",r,R.label);
    var ls=h("div","lines",r);R.lines.forEach(function(ln){line(ls,ln);});
  });
}
function show(){
  var cur=k>=1&&k<=n?D.steps[k-1]:null, targets={}, curG=null;
  if(cur)D.edges.forEach(function(e){if(e.dst===cur.node)targets[e.src]=1;});
  D.nodes.forEach(function(nd){
    var g=nodeEl[nd.id],c="node "+nd.kind;
    if(k>n||(nd.done_at>0&&nd.done_at<=k))c+=" done";
    if(cur&&cur.node===nd.id){
      c+=" current";curG=g;}
    if(targets[nd.id])c+=" target";
    g.setAttribute("class",c);
  });
  edgeEl.forEach(function(p){var e=p[0],c="edge";
    if(k>0&&e.step<=k)c+=" done";
    if(cur&&(e.dst===cur.node))c+=" current";
    p[1].setAttribute("class",c);});
  document.getElementById("counter").textContent=
    k===0?"forward view":(k<=n?"step "+k+" of "+n:"all gradients");
  document.getElementById("first").disabled=document.getElementById("prev").disabled=(k===0);
  document.getElementById("next").disabled=document.getElementById("last").disabled=(k===n+1);
  document.body.setAttribute("data-step",String(k));
  panel();
  if(curG)reveal(curG);
}
function go(j){k=Math.max(0,Math.min(n+1,j));show();}
document.getElementById("first").onclick=function(){go(0);};
document.getElementById("prev").onclick=function(){go(k-1);};
document.getElementById("next").onclick=function(){go(k+1);};
document.getElementById("last").onclick=function(){go(n+1);};
function zoom(){fit=!fit;document.getElementById("fit").textContent=fit?"actual size":"fit graph";
  frame();show();}
document.getElementById("fit").onclick=zoom;
window.addEventListener("resize",function(){frame();show();});
document.addEventListener("keydown",function(ev){
  if(ev.key==="ArrowRight"||ev.key==="ArrowDown"){go(k+1);ev.preventDefault();}
  else if(ev.key==="ArrowLeft"||ev.key==="ArrowUp"){go(k-1);ev.preventDefault();}
  else if(ev.key==="Home"){go(0);ev.preventDefault();}
  else if(ev.key==="End"){go(n+1);ev.preventDefault();}
  else if(ev.key==="f"||ev.key==="F")zoom();
});
frame();
show();
})();
</script>
</body></html>
"""
