"""Optimisation passes on flat programs (lists of :class:`~chainrule.jit.trace.Equation`).

Every pass takes equations and a list of *roots* (the references the block must still
produce) and returns new equations plus a substitution ``{variable name: reference}`` that
the caller applies to whatever else names those variables (the outputs, the other block).

* :func:`eliminate_dead` drops equations nothing needed reads (dead code: no gradient is
  computed for inputs that do not require one, no value is saved that backward never reads);
* :func:`fold_constants` runs, once, the equations whose inputs are all fixed (literals and
  captured arrays) and puts the result in their place;
* :func:`simplify` removes equations that return an input unchanged (``x * 1``, a cast or a
  reshape to what ``x`` already is);
* :func:`common_subexpressions` keeps one of several identical equations (same op, same
  inputs, same params), e.g. the ``Wᵀ`` two rules both need;
* :func:`pair_kept` lets a gradient op reuse what its forward op computed (the softmax of
  a cross-entropy), in the generated code only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..core import Primitive, Tensor
from .trace import Const, DataOf, Equation, Var

__all__ = [
    "common_subexpressions",
    "eliminate_dead",
    "fold_constants",
    "pair_kept",
    "reads",
    "simplify",
    "substitute",
]


def reads(v: Any) -> list[str]:
    """Names of the variables a reference (input or param value) reads."""
    if isinstance(v, Var):
        return [v.name]
    if isinstance(v, DataOf):
        return [v.var.name]
    if isinstance(v, tuple | list):
        out: list[str] = []
        for x in v:
            out += reads(x)
        return out
    return []


def eq_reads(eq: Equation) -> list[str]:
    out: list[str] = []
    for r in eq.inputs:
        out += reads(r)
    for v in eq.params.values():
        out += reads(v)
    return out


def substitute(v: Any, subst: dict[str, Any]) -> Any:
    """``v`` with every variable named in ``subst`` replaced by its new reference."""
    if not subst:
        return v
    if isinstance(v, Var):
        return subst.get(v.name, v)
    if isinstance(v, DataOf):
        new = subst.get(v.var.name, v.var)
        if isinstance(new, Var):
            return DataOf(new, v.in_param)
        if isinstance(new, Const):  # a folded value: its data is the constant array
            arr = new.array
            return arr if v.in_param else Const(new.name, arr)
        return new
    if isinstance(v, tuple | list):
        return type(v)(substitute(x, subst) for x in v)
    return v


def _subst_eq(eq: Equation, subst: dict[str, Any]) -> Equation:
    if not subst:
        return eq
    return dataclasses.replace(
        eq,
        inputs=tuple(substitute(r, subst) for r in eq.inputs),
        params={k: substitute(v, subst) for k, v in eq.params.items()},
    )


def eliminate_dead(eqs: list[Equation], roots: list[Any]) -> list[Equation]:
    """The equations some root depends on, in their order."""
    needed: set[str] = set()
    for r in roots:
        needed.update(reads(r))
    kept = []
    for eq in reversed(eqs):
        if eq.out.name in needed or (eq.also is not None and eq.also.name in needed):
            kept.append(eq)
            needed.update(eq_reads(eq))
    kept.reverse()
    return kept


def _fixed(v: Any) -> bool:
    """A reference whose value cannot change between calls: a literal or a captured array."""
    if isinstance(v, Var | DataOf):
        return False
    if isinstance(v, Const):
        return not isinstance(v.value, Tensor)
    if isinstance(v, tuple | list):
        return all(_fixed(x) for x in v)
    return True


def _val(v: Any) -> Any:
    if isinstance(v, Const):
        return v.array
    if isinstance(v, tuple | list):
        return type(v)(_val(x) for x in v)
    return v


def fold_constants(eqs: list[Equation], prefix: str = "k") -> tuple[list[Equation], dict[str, Any]]:
    """Evaluate equations whose inputs are all fixed; they become captured constants."""
    subst: dict[str, Any] = {}
    kept = []
    for eq in eqs:
        eq = _subst_eq(eq, subst)
        if all(_fixed(r) for r in eq.inputs) and all(_fixed(v) for v in eq.params.values()):
            value = np.asarray(
                eq.op.forward(
                    *[_val(r) for r in eq.inputs], **{k: _val(v) for k, v in eq.params.items()}
                )
            )
            subst[eq.out.name] = Const(f"{prefix}_{eq.out.name}", value)
            continue
        kept.append(eq)
    return kept, subst


def _same_as(ref: Any, out: Var) -> bool:
    return isinstance(ref, Var) and ref.shape == out.shape and ref.dtype == out.dtype


def _is_one(v: Any) -> bool:
    if isinstance(v, Const):
        if isinstance(v.value, Tensor):  # a captured Tensor may change between calls
            return False
        v = v.array
    elif isinstance(v, Var | DataOf) or isinstance(v, tuple | list):
        return False
    try:
        a = np.asarray(v)
    except Exception:  # noqa: BLE001 - anything that is not a number is not one
        return False
    return a.dtype.kind in "biuf" and a.size > 0 and bool(np.all(a == 1))


def simplify(eqs: list[Equation]) -> tuple[list[Equation], dict[str, Any]]:
    """Drop equations that give back one of their inputs: ``x * 1``, ``cast(x, x.dtype)``,
    ``reshape(x, x.shape)``, ``broadcast_to(x, x.shape)``, a sum over no axis."""
    subst: dict[str, Any] = {}
    kept = []
    for eq in eqs:
        eq = _subst_eq(eq, subst)
        name, ins, out = eq.op.name, eq.inputs, eq.out
        same = None
        if name == "mul" and len(ins) == 2:
            if _is_one(ins[1]) and _same_as(ins[0], out):
                same = ins[0]
            elif _is_one(ins[0]) and _same_as(ins[1], out):
                same = ins[1]
        elif name == "div" and len(ins) == 2 and _is_one(ins[1]) and _same_as(ins[0], out):
            same = ins[0]
        elif name in ("cast", "reshape", "broadcast_to") and _same_as(ins[0], out):
            same = ins[0]
        elif name == "sum" and eq.params.get("axis") == () and _same_as(ins[0], out):
            same = ins[0]
        if same is not None:
            subst[out.name] = same
            continue
        kept.append(eq)
    return kept, subst


def _key(v: Any) -> Any:
    """A hashable identity of an input or param value (arrays by identity)."""
    if isinstance(v, Var):
        return ("v", v.name)
    if isinstance(v, DataOf):
        return ("d", v.var.name, v.in_param)
    if isinstance(v, Const):
        return ("c", id(v.value))
    if isinstance(v, np.ndarray | Tensor):
        return ("a", id(v))
    if isinstance(v, tuple | list):
        return (type(v).__name__,) + tuple(_key(x) for x in v)
    if isinstance(v, slice):
        return ("s", _key(v.start), _key(v.stop), _key(v.step))
    if isinstance(v, np.generic):
        return ("g", v.dtype.str, v.item())
    hash(v)
    return ("p", type(v).__name__, v)


def common_subexpressions(eqs: list[Equation]) -> tuple[list[Equation], dict[str, Any]]:
    """Keep the first of several equations that compute the same thing."""
    subst: dict[str, Any] = {}
    seen: dict[Any, Var] = {}
    kept = []
    for eq in eqs:
        eq = _subst_eq(eq, subst)
        try:
            key = (
                eq.op,
                eq.grad,
                tuple(_key(r) for r in eq.inputs),
                tuple(sorted((k, _key(v)) for k, v in eq.params.items())),
            )
        except TypeError:  # an unhashable param: never merged
            kept.append(eq)
            continue
        first = seen.get(key)
        if first is not None and first.shape == eq.out.shape and first.dtype == eq.out.dtype:
            subst[eq.out.name] = first
            continue
        seen[key] = eq.out
        kept.append(eq)
    return kept, subst


_VARIANTS: dict[tuple[type, str], type] = {}


def _variant(op: type, suffix: str, forward: Any) -> type:
    """An unregistered primitive computing ``forward`` under ``op``'s name plus a suffix
    (for generated code only: never applied through the engine)."""
    key = (op, suffix)
    made = _VARIANTS.get(key)
    if made is None:
        made = type(
            f"{op.__name__}_{suffix}",
            (Primitive,),
            {
                "name": f"{op.name}_{suffix}",
                "register": False,
                "differentiable": False,
                "forward": staticmethod(forward),
                "lecture": getattr(op, "lecture", None),
            },
        )
        _VARIANTS[key] = made
    return made


def _reads_first(op: type, eq: Equation) -> tuple | None:
    """(op, the variable eq reads as argument 0, eq's params): what a pair must share."""
    if not eq.inputs or not isinstance(eq.inputs[0], Var):
        return None
    try:
        return (op, eq.inputs[0].name, tuple(sorted((n, _key(v)) for n, v in eq.params.items())))
    except TypeError:  # an unhashable param: never paired
        return None


def pair_kept(
    forward: list[Equation], backward: list[Equation]
) -> tuple[list[Equation], list[Equation]]:
    """Let a gradient op reuse what its forward op computed (for generated code).

    A backward equation whose op says ``reuses = (P, fn)`` and reads, as argument 0, the
    same value with the same params as a forward equation of op ``P`` (an op that
    ``keeps``): the forward equation also outputs the kept value (``out, kept = ...``) and
    the backward one computes ``fn(kept, ...)``. The kept value becomes a residual instead
    of being recomputed (cross_entropy's softmax). The programs the replays run are not
    changed: this is only for the generated code.
    """
    producers: dict[Any, int] = {}
    for k, eq in enumerate(forward):
        sig = _reads_first(eq.op, eq) if eq.op.keeps is not None else None
        if sig is not None:
            producers.setdefault(sig, k)
    if not producers:
        return forward, backward
    fwd, bwd = list(forward), list(backward)
    kept_of: dict[int, Var] = {}
    for j, eq in enumerate(bwd):
        pair = eq.op.reuses
        sig = _reads_first(pair[0], eq) if pair is not None else None
        k = producers.get(sig) if sig is not None else None
        if k is None:
            continue
        if k not in kept_of:
            f = fwd[k]
            kept_of[k] = Var(f"{f.out.name}_kept", (), np.dtype(object))
            fwd[k] = dataclasses.replace(f, op=_variant(f.op, "keep", f.op.keeps), also=kept_of[k])
        bwd[j] = dataclasses.replace(
            eq, op=_variant(eq.op, "reuse", pair[1]), inputs=(kept_of[k], *eq.inputs[1:])
        )
    return fwd, bwd
