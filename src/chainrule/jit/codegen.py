"""Straight-line NumPy code from flat programs: one statement per equation.

:class:`Block` is one generated function: its arguments, its equations and what it returns.
:func:`render` writes an equation as a NumPy expression. Common primitives are spelled as
a person would write them (``x @ W``, ``np.maximum(h, 0)``, ``g.sum(axis=0)``); a primitive
whose forward is a NumPy ufunc is called as that ufunc (``np.tanh(t3)``); any other is
called through its own forward function (``_f_cross_entropy(t5, target=y, ...)``), so every
registered primitive compiles, and a new one needs no edit here.

The spellings below are NumPy knowledge, not derivative knowledge: each one computes
exactly what the primitive's forward computes (the compile sweep checks every primitive,
compiled against eager).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import Tensor
from ..core.lecture import lecture_of
from .passes import eq_reads, reads
from .trace import Const, DataOf, Equation, Var, _is_plain, shape_of

__all__ = ["Block", "Namer", "render"]

# op name -> template; {0}, {1}: arguments, {name}: the param `name`
_TEMPLATES: dict[str, str] = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "neg": "-{0}",
    "matmul": "{0} @ {1}",
    "pow_scalar": "np.power({0}, {exponent})",
    "relu": "np.maximum({0}, 0)",
    "where": "np.where({0}, {1}, {2})",
    "reshape": "np.reshape({0}, {shape})",
    "broadcast_to": "np.broadcast_to({0}, {shape})",
    "expand_dims": "np.expand_dims({0}, {axis})",
    "transpose": "np.transpose({0}, {axes})",
    "cast": "np.array({0}, dtype={dtype})",
    "clip": "np.clip({0}, {low}, {high})",
    "gt": "{0} > {1}",
    "ge": "{0} >= {1}",
    "lt": "{0} < {1}",
    "le": "{0} <= {1}",
    "eq": "np.equal({0}, {1})",
    "ne": "np.not_equal({0}, {1})",
}
_REDUCTIONS = {"sum": "sum", "max": "max", "min": "min"}  # as ndarray methods


class Namer:
    """Readable, unique Python names for program values (the user's names where known)."""

    def __init__(self, reserved: set[str]) -> None:
        self.names: dict[str, str] = {}
        self.used: set[str] = set(reserved)

    def give(self, key: str, wish: str) -> str:
        name = wish if wish.isidentifier() and not keyword.iskeyword(wish) else "v"
        base, n = name, 1
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        self.names[key] = name
        return name

    def __getitem__(self, key: str) -> str:
        return self.names[key]

    def overlay(self) -> Namer:
        """A copy whose names may be replaced (by expressions) without changing this one."""
        view = Namer(set())
        view.names, view.used = dict(self.names), self.used
        return view


@dataclass
class Block:
    """One generated function."""

    name: str
    args: list[str]  # program names of the arguments, in order
    equations: list[Equation]
    returns: list[Any]  # references to return (a tuple)
    notes: dict[str, str] = field(default_factory=dict)  # program name -> trailing comment
    free_min: int = 1 << 15  # `del` values of at least this many bytes after use
    sparse: dict[str, tuple[Any, Any, tuple]] = field(default_factory=dict)
    reuse_buffers: bool = True

    def buffer_plan(self, last: dict[str, int], keep: set[str]) -> dict[str, str]:
        """Which elementwise results are written into the array of a dead input (``out=``).

        An equation whose op is a one-output NumPy ufunc may write its result into one of
        its inputs when that input dies at this equation and is a *fresh* array made in this
        block by such a ufunc (so nothing else can see it: not an argument, not a saved or
        returned value, never handed to a view-making or opaque op), of the result's shape
        and dtype. This is what ``s -= m; np.exp(s, out=s)`` does in hand-written NumPy: the
        steady-state step allocates fewer arrays.
        """
        fresh: set[str] = set()
        aliased: set[str] = set()
        plan: dict[str, str] = {}
        for k, eq in enumerate(self.equations):
            fwd = eq.op.forward
            ufunc = (
                isinstance(fwd, np.ufunc)
                and fwd.nout == 1
                and not eq.params
                and len(eq.out.shape) > 0
                and eq.out.name not in self.sparse
            )
            if not ufunc:
                aliased.update(eq_reads(eq))
                continue
            for r in eq.inputs:
                n = r.name if isinstance(r, Var) else None
                if (
                    n in fresh
                    and n not in aliased
                    and n not in keep
                    and last.get(n) == k
                    and r.shape == eq.out.shape
                    and r.dtype == eq.out.dtype
                ):
                    plan[eq.out.name] = n  # n is alive here (an input of this equation)
                    fresh.discard(n)
                    break
            fresh.add(eq.out.name)
        return plan

    def source(
        self,
        namer: Namer,
        consts: Callable[[Any], str],
        *,
        sizes: dict[str, int],
        owned: set[str],
        comments: bool = True,
    ) -> str:
        """The ``def`` of this block.

        ``consts(value)`` names a value that is not a plain literal (it becomes a global of
        the generated module). ``sizes`` gives each value's byte size: big values that are
        dead are deleted (``del``) so memory is given back as soon as possible; ``owned``
        are the argument names the function may delete (the caller holds no other reference).
        """
        lines = [f"def {self.name}({', '.join(namer[a] for a in self.args)}):"]
        last: dict[str, int] = {}
        uses: dict[str, int] = {}
        for k, eq in enumerate(self.equations):
            for n in eq_reads(eq):
                last[n] = k
                uses[n] = uses.get(n, 0) + 1
        keep = set()
        for r in self.returns:
            keep.update(reads(r))
        # a 2-d transpose read once is written where it is read (np.dot(dz.T, x), as on the
        # slides), not as a line of its own: the overlay names it by its expression
        namer = namer.overlay()
        inline = {
            eq.out.name
            for eq in self.equations
            if eq.op.name == "transpose"
            and tuple(eq.params.get("axes") or ()) == (1, 0)
            and uses.get(eq.out.name) == 1
            and eq.out.name not in keep
            and eq.out.name not in self.sparse
            and eq.also is None
        }
        produced = {eq.out.name for eq in self.equations}
        produced.update(eq.also.name for eq in self.equations if eq.also is not None)
        dying: dict[int, list[str]] = {}
        for n, k in last.items():
            if n in keep or n in inline or sizes.get(n, 0) < self.free_min:
                continue
            if n in produced or n in owned:
                dying.setdefault(k, []).append(n)
        reuse = self.buffer_plan(last, keep) if self.reuse_buffers else {}
        for k, eq in enumerate(self.equations):
            if eq.out.name in inline:
                namer.names[eq.out.name] = render(eq, namer, consts)
                if k in dying:  # what dies here is deleted after the line that reads it
                    dying.setdefault(last[eq.out.name], []).extend(dying.pop(k))
                continue
            if eq.out.name in self.sparse:
                ids, g, shape = self.sparse[eq.out.name]
                line = (
                    f"    {namer[eq.out.name]} = RowSparse({_lit(ids, namer, consts)}, "
                    f"{_lit(g, namer, consts)}, {shape!r})"
                )
            elif eq.out.name in reuse:
                args = ", ".join(_lit(r, namer, consts) for r in eq.inputs)
                line = (
                    f"    {namer[eq.out.name]} = np.{eq.op.forward.__name__}({args}, "
                    f"out={namer[reuse[eq.out.name]]})"
                )
            else:
                lhs = namer[eq.out.name]
                if eq.also is not None:  # a forward that keeps a value for its gradient op
                    lhs += f", {namer[eq.also.name]}"
                line = f"    {lhs} = {render(eq, namer, consts)}"
            note = self.notes.get(eq.out.name) if comments else None
            if note:
                line += f"  # {note}"
            lines.append(line)
            if k in dying:
                lines.append(f"    del {', '.join(sorted(namer[n] for n in dying[k]))}")
        rets = ", ".join(_lit(r, namer, consts) for r in self.returns)
        lines.append(f"    return ({rets}{',' if len(self.returns) == 1 else ''})")
        return "\n".join(lines) + "\n"


def _lit(v: Any, namer: Namer, consts: Callable[[Any], str]) -> str:
    """Python source for an input or param value."""
    if isinstance(v, Var):
        return namer[v.name]
    if isinstance(v, DataOf):
        return namer[v.var.name]
    if isinstance(v, Const):
        if isinstance(v.value, Tensor) and v.name in namer.names:
            return namer[v.name]  # a captured Tensor: an argument of the generated function
        return consts(v.array)  # a constant made while tracing (e.g. a rule's zeros)
    if isinstance(v, tuple):
        inner = ", ".join(_lit(x, namer, consts) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(_lit(x, namer, consts) for x in v) + "]"
    if isinstance(v, slice):
        return "slice(" + ", ".join(_lit(x, namer, consts) for x in (v.start, v.stop, v.step)) + ")"
    if isinstance(v, np.dtype):
        return f"np.{v.name}" if hasattr(np, v.name) else consts(v)
    if isinstance(v, float) and not np.isfinite(v):
        return "np.nan" if v != v else ("np.inf" if v > 0 else "-np.inf")
    if v is None or v is Ellipsis or _is_plain(v):
        return "..." if v is Ellipsis else repr(v)
    return consts(v)


def _index(index: Any, namer: Namer, consts: Callable[[Any], str]) -> str:
    """NumPy's bracket notation for an index: ``[:, 1:]``, ``[rows, y]``."""
    items = index if isinstance(index, tuple) else (index,)
    parts = []
    for i in items:
        if isinstance(i, slice) and all(_is_plain(p) for p in (i.start, i.stop, i.step)):
            lo, hi = ("" if p is None else repr(p) for p in (i.start, i.stop))
            parts.append(f"{lo}:{hi}" + (f":{i.step!r}" if i.step is not None else ""))
        elif i is Ellipsis:
            parts.append("...")
        else:
            parts.append(_lit(i, namer, consts))
    if not isinstance(index, tuple):
        return parts[0] if parts[0] != "" else ":"
    if len(parts) == 1 and not isinstance(index[0], tuple):
        return parts[0]  # x[(i,)] is x[i]
    return ", ".join(parts) if parts else "()"


def render(eq: Equation, namer: Namer, consts: Callable[[Any], str]) -> str:
    """The right-hand side of ``name = ...`` for one equation."""
    op = eq.op
    args = [_lit(r, namer, consts) for r in eq.inputs]
    params = {k: _lit(v, namer, consts) for k, v in eq.params.items()}
    name = op.name
    if name == "transpose" and tuple(eq.params.get("axes") or ()) == (1, 0):
        return f"{args[0]}.T"  # what a person writes, and an attribute, not a call
    if name == "matmul" and all(len(shape_of(r)) == 2 for r in eq.inputs):
        return f"np.dot({args[0]}, {args[1]})"  # the op's own 2-d product (less dispatch)
    template = _TEMPLATES.get(name)
    if template is not None and not op.variadic:
        try:
            return template.format(*args, **params)
        except (IndexError, KeyError):
            pass
    if name in _REDUCTIONS and set(eq.params) <= {"axis", "keepdims"}:
        axis = eq.params.get("axis")
        if isinstance(axis, tuple) and len(axis) == 1 and _is_plain(axis[0]):
            params["axis"] = repr(axis[0])  # axis=0, as a person writes it, not axis=(0,)
        extra = "".join(
            f", {k}={params[k]}"
            for k in ("axis", "keepdims")
            if k in params
            and not (k == "keepdims" and params[k] == "False")
            and not (k == "axis" and params[k] == "None")
        )
        return f"{args[0]}.{_REDUCTIONS[name]}({extra[2:]})"
    if name == "getitem" and set(eq.params) == {"index"}:
        return f"{args[0]}[{_index(eq.params['index'], namer, consts)}]"
    fwd = op.forward
    if isinstance(fwd, np.ufunc) and not params:
        return f"np.{fwd.__name__}({', '.join(args)})"
    call = args + [f"{k}={v}" for k, v in params.items()]
    return f"{consts(('op', op))}({', '.join(call)})"


def chain_note(eq: Equation, i: int, namer: Namer, upstream: str | None = None) -> str:
    """The chain-rule step a backward line takes: ``dW += xᵀ · dt1   (matmul, argument 1)``.

    The text is the op's lecture template (:class:`~chainrule.core.lecture.Lecture`), with
    the generated code's names: ``upstream`` names the variable holding dL/d(output).
    """
    lec = lecture_of(eq.op)
    template = lec.grad_template(i)
    dz = (
        namer.names.get(upstream, "d" + namer.names.get(eq.out.name, eq.out.name))
        if upstream
        else "d" + namer.names.get(eq.out.name, eq.out.name)
    )
    fields: dict[str, str] = {
        "z": namer.names.get(eq.out.name, eq.out.name),
        "dz": dz,
        "op": eq.op.name,
    }
    for j, r in enumerate(eq.inputs):
        fields[str(j)] = _short(r, namer)
    if lec.fields is not None:
        try:
            extra = lec.fields(
                {
                    k: (np.zeros(v.var.shape, v.var.dtype) if isinstance(v, DataOf) else v)
                    for k, v in eq.params.items()
                }
            )
        except Exception:  # noqa: BLE001 - the comment is documentation: never fail on it
            extra = {}
        fields.update({k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in extra.items()})
    for k, v in eq.params.items():
        if k not in fields and _is_plain(v):
            fields[k] = repr(v)
    fields["arg"] = fields.get(str(i), "x")
    fields["args"] = ", ".join(_short(r, namer) for r in eq.inputs)
    text = template if template else "the VJP rule"
    try:
        text = re.sub(r"\{(\d+)\}", r"{a\1}", text).format_map(
            _Loose({("a" + k if k.isdigit() else k): v for k, v in fields.items()})
        )
    except (ValueError, IndexError):
        pass
    target = fields.get(str(i), f"arg{i}")
    return f"d{target} += {text}   ({eq.op.name}, argument {i})"


def _short(r: Any, namer: Namer) -> str:
    if isinstance(r, Var):
        return namer.names.get(r.name, r.name)
    if isinstance(r, DataOf):
        return namer.names.get(r.var.name, r.var.name)
    if isinstance(r, Const):
        return namer.names.get(r.name, r.name)
    return repr(r) if _is_plain(r) else "…"


class _Loose(dict):
    """Format fields; an unknown field stays as it was written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
