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
opened from disk. The layout is computed here (layers from the leaves to the output), so no
Graphviz is needed either. All text (names, formulas, numbers) is written into the page as
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

_NODE_W, _NODE_H, _COL_W, _ROW_H, _PAD = 140, 58, 200, 90, 24


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
        return (f'<iframe srcdoc="{_html.escape(self.html, quote=True)}" '
                f'style="width:100%;height:{height}px;border:1px solid #ddd" '
                f'sandbox="allow-scripts"></iframe>')

    def __str__(self) -> str:
        return self.html


# ---------------------------------------------------------------------- the data
def _short(a: np.ndarray, p: int) -> str:
    """A node or edge label: small tensors in full, others as shape and norm."""
    a = np.asarray(a)
    if a.size <= 4:
        return format_array(a, p, 4)
    if a.dtype.kind not in "biuf":
        return format_shape(a.shape)
    norm = float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))
    return f"{format_shape(a.shape)} ‖·‖ {format_number(norm, p)}"


def _layout(tr: Trace) -> tuple[dict[int, tuple[float, float]], float, float]:
    """Layers from the leaves (left) to the output (right); rows ordered by their inputs."""
    ops = tr.forward_ops
    rank: dict[int, int] = {id(t): 0 for t in tr.leaves}
    for t in ops:
        ins = [rank[id(a)] for a in t._inputs if isinstance(a, Tensor) and id(a) in rank]
        rank[id(t)] = 1 + max(ins, default=-1)
    layers: dict[int, list[Tensor]] = {}
    for t in tr.leaves + ops:
        layers.setdefault(rank[id(t)], []).append(t)
    pos: dict[int, tuple[float, float]] = {}
    for r in sorted(layers):
        items = layers[r]
        if r > 0:  # barycentre of the inputs' rows keeps edges short
            def key(t: Tensor) -> float:
                ys = [pos[id(a)][1] for a in t._inputs if isinstance(a, Tensor) and id(a) in pos]
                return sum(ys) / len(ys) if ys else 0.0
            items = sorted(items, key=key)
        for k, t in enumerate(items):
            pos[id(t)] = (_PAD + r * _COL_W, _PAD + k * _ROW_H)
    width = _PAD * 2 + (max(layers, default=0)) * _COL_W + _NODE_W + 90
    height = _PAD * 2 + max(len(v) for v in layers.values()) * _ROW_H
    return pos, width, height


def page_data(ex: Any) -> dict[str, Any]:
    """The JSON-ready content of the page of an :class:`~chainrule.viz.Explanation`."""
    tr: Trace | None = getattr(ex, "_trace", None)
    if tr is None:
        raise ChainruleError("page: this explanation holds no recorded pass")
    p = ex.precision
    arr = ex._arr
    f = ex.output
    steps_by_name = {s.name: s for s in ex.steps}
    ops_bw = ex.ops                            # backward order: step k = ops_bw[k - 1]
    step_of = {s.name: k + 1 for k, s in enumerate(ops_bw)}
    n = len(ops_bw)
    pos, width, height = _layout(tr)
    ids = {id(t): f"n{k}" for k, t in enumerate(tr.leaves + tr.forward_ops)}

    # When each node's gradient is complete: an op at its own step, a leaf after its last
    # consumer's step.
    done_at: dict[str, int] = {}
    for t in tr.leaves + tr.forward_ops:
        name = tr.name(t)
        if name in step_of:
            done_at[name] = step_of[name]
        else:
            got = [step_of[tr.name(r.consumer)] for r in tr.received.get(id(t), [])]
            done_at[name] = max(got, default=0)

    nodes = []
    for t in tr.leaves + tr.forward_ops:
        name = tr.name(t)
        s = steps_by_name[name]
        x, y = pos[id(t)]
        nodes.append({
            "id": ids[id(t)], "name": name, "kind": s.kind, "op": s.op or "",
            "symbol": _symbol(t), "x": x, "y": y, "w": _NODE_W, "h": _NODE_H,
            "value": _short(s.value, p), "grad": _short(s.upstream, p),
            "shape": format_shape(s.shape), "done_at": done_at[name],
            "output": t is tr.output})
    edges = []
    for t in tr.forward_ops:
        sent = dict(tr.sent.get(id(t), []))
        for i, a in enumerate(t._inputs):
            if not (isinstance(a, Tensor) and id(a) in ids):
                continue
            g = sent.get(i)
            edges.append({"id": f"e{len(edges)}", "src": ids[id(a)], "dst": ids[id(t)],
                          "name": tr.name(a), "value": _short(tr.values[id(a)], p),
                          "grad": "" if g is None else _short(g, p),
                          "step": step_of[tr.name(t)]})
    out = tr.output
    edges.append({"id": "eout", "src": ids[id(out)], "dst": "", "name": f,
                  "value": _short(tr.values[id(out)], p), "grad": _short(tr.seed, p),
                  "step": 1 if n else 0})

    steps = []
    for k, s in enumerate(ops_bw, start=1):
        rows: list[dict[str, Any]] = []
        ins = ", ".join(f"{i.name} {format_shape(i.shape)}" + (" const" if i.constant else "")
                        for i in s.inputs)
        rows.append(_row("shapes", "shapes", [_line(f"{ins} → {s.name} {format_shape(s.shape)}")]))
        rows.append(_row("value", "value", [_line(f"{s.name} =", arr(s.value))]))
        rows.append(_row("upstream", "upstream", [_line(
            f"∂{f}/∂{s.name} =", arr(s.upstream),
            " (the seed)" if s.is_output else "", target=s.name)]))
        if s.summed:
            parts = " + ".join(f"{arr(c.grad)} from {c.source} ({c.op})" for c in s.received)
            rows.append(_row("gathered", "gathered", [_line(
                f"{s.name}: {parts} =", arr(s.upstream), "", target=s.name)]))
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
            prefix = full[:-len(result)].rstrip().rstrip("=").rstrip() if full.endswith(
                result) else full
            sep = " += " if d.partial else " = "
            head, _, rest = prefix.partition(sep)
            downs.append(_line(f"{head}{sep}{rest} =" if rest else f"{head}{sep.rstrip()}",
                               result, target=d.name))
        if downs:
            rows.append(_row("downstream", "downstream", downs))
        sums = []
        for d in s.downstream:
            if not d.partial:
                continue
            got = [c for c in steps_by_name[d.name].received
                   if step_of.get(c.source, n + 1) <= k]
            total_paths = len(steps_by_name[d.name].received)
            so_far = got[0].grad
            for c in got[1:]:
                so_far = so_far + c.grad
            parts = " + ".join(f"{arr(c.grad)} from {c.source}" for c in got)
            state = ("all paths in: complete" if len(got) == total_paths else
                     f"{len(got)} of {total_paths} paths so far")
            sums.append(_line(f"{d.name}: {parts} =", arr(so_far), f" ({state})",
                              target=d.name))
        if sums:
            rows.append(_row("running sum", "sums", sums))
        if s.notes:
            rows.append(_row("note", "note", [_line(t) for t in s.notes]))
        steps.append({"k": k, "node": ids[id(_tensor_named(tr, s.name))], "name": s.name,
                      "title": f"{s.formula}   [{s.op}]", "rows": rows})

    leaves = []
    for s in ex.leaves:
        contrib = (" + ".join(f"{arr(c.grad)} from {c.source}" for c in s.received)
                   if s.received else "(the output itself)")
        leaves.append({"name": s.name, "shape": format_shape(s.shape), "value": arr(s.value),
                       "grad": arr(s.upstream), "from": contrib})
    title = ex.title or f"Backpropagation through {f}"
    return {"title": title, "output": f, "seed": arr(ex.seed), "precision": p,
            "width": width, "height": height, "nodes": nodes, "edges": edges,
            "steps": steps, "leaves": leaves}


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
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_page(data: dict[str, Any]) -> str:
    """The HTML document for :func:`page_data`'s content."""
    return (_TEMPLATE.replace("__TITLE__", _html.escape(data["title"]))
            .replace("__DATA__", _json_for_script(data)))


def page(output: Tensor, path: str | os.PathLike[str] | None = None, *, grad: Any = None,
         names: Any = None, precision: int = 4, max_elements: int = 12,
         title: str | None = None) -> Page:
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

    ex = explain(output, grad=grad, names=names, precision=precision,
                 max_elements=max_elements, title=title)
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
main{display:flex;flex-wrap:wrap}
#graph{flex:1 1 560px;overflow:auto;border-right:1px solid #d0d7de;
 max-height:calc(100vh - 52px)}
#panel{flex:1 1 420px;padding:10px 16px;font-size:14px;overflow:auto;
 max-height:calc(100vh - 52px)}
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
<span id="counter"></span></header>
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
D.edges.forEach(function(e){
  var s=byId[e.src],t=e.dst?byId[e.dst]:null;
  var x1=s.x+s.w,y1=s.y+s.h/2,x2,y2;
  if(t){x2=t.x;y2=t.y+t.h/2;}else{x2=x1+70;y2=y1;}
  var g=el("g",{"class":"edge","data-edge":e.id},svg);
  var c=(x2-x1)/2;
  el("path",{d:"M"+x1+","+y1+" C"+(x1+c)+","+y1+" "+(x2-c)+","+y2+" "+x2+","+y2,"marker-end":""},g);
  var mx=(x1+x2)/2,my=(y1+y2)/2;
  el("text",{x:mx,y:my-4,"text-anchor":"middle","class":"val"},g,e.value);
  el("text",{x:mx,y:my+13,"text-anchor":"middle","class":"grd"},g,e.grad);
  if(!t)el("text",{x:x2+4,y:y2+4},g,D.output);
  edgeEl.push([e,g]);
});
D.nodes.forEach(function(nd){
  var g=el("g",{"class":"node "+nd.kind,"data-node":nd.id,"data-name":nd.name},svg);
  el("rect",{x:nd.x,y:nd.y,width:nd.w,height:nd.h,rx:nd.kind==="leaf"?4:14},g);
  var head=nd.kind==="leaf"?nd.name:(nd.symbol+"  "+nd.name);
  el("text",{x:nd.x+nd.w/2,y:nd.y+17,"text-anchor":"middle","class":nd.kind==="leaf"?"":"sym"},g,head);
  el("text",{x:nd.x+nd.w/2,y:nd.y+34,"text-anchor":"middle","class":"val"},g,nd.value);
  el("text",{x:nd.x+nd.w/2,y:nd.y+50,"text-anchor":"middle","class":"grd"},g,nd.grad);
  el("title",{},g,nd.name+" = "+nd.value+"; gradient "+nd.grad);
  nodeEl[nd.id]=g;
});
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
  var cur=k>=1&&k<=n?D.steps[k-1]:null, targets={};
  if(cur)D.edges.forEach(function(e){if(e.dst===cur.node)targets[e.src]=1;});
  D.nodes.forEach(function(nd){
    var g=nodeEl[nd.id],c="node "+nd.kind;
    if(k>n||(nd.done_at>0&&nd.done_at<=k))c+=" done";
    if(cur&&cur.node===nd.id){
      c+=" current";
      if(g.scrollIntoView)g.scrollIntoView({block:"nearest",inline:"nearest"});}
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
}
function go(j){k=Math.max(0,Math.min(n+1,j));show();}
document.getElementById("first").onclick=function(){go(0);};
document.getElementById("prev").onclick=function(){go(k-1);};
document.getElementById("next").onclick=function(){go(k+1);};
document.getElementById("last").onclick=function(){go(n+1);};
document.addEventListener("keydown",function(ev){
  if(ev.key==="ArrowRight"||ev.key==="ArrowDown"){go(k+1);ev.preventDefault();}
  else if(ev.key==="ArrowLeft"||ev.key==="ArrowUp"){go(k-1);ev.preventDefault();}
  else if(ev.key==="Home"){go(0);ev.preventDefault();}
  else if(ev.key==="End"){go(n+1);ev.preventDefault();}
});
show();
})();
</script>
</body></html>
"""
