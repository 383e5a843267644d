"""The gradient program: a traced forward program's backward pass, itself traced.

:func:`gradient_program` walks the forward equations in reverse, as the engine walks a
graph: at each equation it calls the primitive's own VJP rules (``Primitive.vjp_rule``) on
the traced values, and sums the contributions of a value used in several places before
that value's equation is visited. The rules are written with chainrule ops, so while the
tracer is installed every op they apply becomes an equation of the *gradient program*:
the derivative of every op is read from the op, never written a second time. Broadcasting
is undone, and each gradient's shape and dtype checked, by the engine's own code
(:func:`chainrule.core.fix_gradient`).

What the gradient program reads from the forward pass (the values its equations use) is
what a compiled forward must save for it: its *residuals*.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Tensor, fix_gradient, no_grad, observing, upstream
from .trace import Const, DataOf, Equation, Tracer, Var

__all__ = ["GradProgram", "gradient_program"]


class GradProgram:
    """The result of :func:`gradient_program`.

    Attributes
    ----------
    equations : list of Equation
        The backward ops in the order they run.
    cotangents : list of Var
        One input per forward output: dL/d(output).
    grads : dict
        For each differentiated forward input or captured Tensor (by variable or constant
        name): the reference (Var, Const, literal) holding its gradient, or None when no
        path leads to it.
    notes : dict
        Backward variable name -> (forward equation, argument index, name of the upstream
        gradient): which chain-rule step produced it (used to comment the generated code).
    names : dict
        Backward variable name -> the forward value it is the gradient of (``g7`` holds
        dL/d``t3``): the generated code calls it ``dt3``.
    """

    def __init__(
        self,
        equations: list[Equation],
        cotangents: list[Var],
        grads: dict[str, Any],
        notes: dict[str, tuple[Equation, int, str]],
        names: dict[str, str],
    ) -> None:
        self.equations = equations
        self.cotangents = cotangents
        self.grads = grads
        self.notes = notes
        self.names = names


def gradient_program(
    tracer: Tracer, equations: list[Equation], outputs: tuple, wrt: list[Var | Const]
) -> GradProgram:
    """Trace the backward pass of ``equations`` with respect to ``wrt``.

    Parameters
    ----------
    tracer : Tracer
        The tracer that recorded ``equations`` (it holds their traced values).
    equations : list of Equation
        The forward program.
    outputs : tuple
        The forward outputs (Vars or Consts); each gets a cotangent input.
    wrt : list of Var or Const
        Forward inputs and captured Tensors to differentiate with respect to.
    """
    wanted = {_key(r) for r in wrt}
    live = set(wanted)  # names of values that depend on something differentiated
    for eq in equations:
        if (
            eq.op.differentiable
            and eq.grad
            and any(_key(r) in live for r in eq.inputs if isinstance(r, Var | Const))
        ):
            live.add(eq.out.name)

    backward_eqs: list[Equation] = []
    notes: dict[str, tuple[Equation, int, str]] = {}
    saved_eqs, saved_prefix = tracer.equations, tracer.prefix
    tracer.equations, tracer.prefix = backward_eqs, "g"
    grads: dict[str, Any] = {}
    names: dict[str, str] = {}
    cotangents: list[Var] = []
    try:
        for j, out in enumerate(outputs):
            ref_shape = _shape(out)
            dtype = _dtype(out)
            g = Tensor(np.ones(ref_shape, dtype=dtype))
            var = Var(f"d_out{j}", ref_shape, dtype)
            tracer.bind(g, var)
            cotangents.append(var)
            key = _key(out)
            if key in live:
                grads[key] = g if key not in grads else _add(grads[key], g)
        with no_grad(), observing(tracer.observe):
            for eq in reversed(equations):
                g = grads.pop(eq.out.name, None)
                if g is None:
                    continue
                gvar = tracer.var_of(g)
                if gvar is not None and gvar.name not in names:
                    names[gvar.name] = eq.out.name  # this value is d(eq.out)
                args = [_value(tracer, r) for r in eq.inputs]
                params = {k: _param_value(tracer, v) for k, v in eq.params.items()}
                out = tracer.values[eq.out.name]
                for i, r in enumerate(eq.inputs):
                    if not (isinstance(r, Var | Const) and _key(r) in live):
                        continue
                    rule = eq.op.vjp_rule(i)
                    if rule is None:
                        continue
                    before = len(backward_eqs)
                    gi = g if rule is upstream else rule(g, out, *args, **params)
                    if gi is None:
                        continue
                    gi = fix_gradient(eq.op, i, _value(tracer, r), gi)
                    gname = gvar.name if gvar is not None else eq.out.name
                    for e in backward_eqs[before:]:
                        notes[e.out.name] = (eq, i, gname)
                    k = _key(r)
                    grads[k] = gi if k not in grads else _add(grads[k], gi)
    finally:
        tracer.equations, tracer.prefix = saved_eqs, saved_prefix
    result: dict[str, Any] = {}
    for r in wrt:
        g = grads.get(_key(r))
        result[_key(r)] = None if g is None else tracer.ref(g)
        gvar = tracer.var_of(g)
        if gvar is not None and gvar.name not in names:
            names[gvar.name] = _key(r)
    return GradProgram(backward_eqs, cotangents, result, notes, names)


def _key(r: Any) -> str:
    return r.name


def _shape(r: Any) -> tuple[int, ...]:
    return r.shape if isinstance(r, Var) else tuple(np.shape(r.array))


def _dtype(r: Any) -> np.dtype:
    return r.dtype if isinstance(r, Var) else np.asarray(r.array).dtype


def _value(tracer: Tracer, r: Any) -> Any:
    if isinstance(r, Var):
        return tracer.values[r.name]
    if isinstance(r, Const):
        return r.value
    if isinstance(r, DataOf):
        data = tracer.values[r.var.name].data
        return data if r.in_param else Tensor(data)
    return r


def _param_value(tracer: Tracer, v: Any) -> Any:
    if isinstance(v, DataOf):
        return tracer.values[v.var.name].data
    if isinstance(v, tuple | list) and any(isinstance(x, DataOf) for x in v):
        return type(v)(_param_value(tracer, x) for x in v)
    return v


def _add(a: Any, b: Any) -> Any:
    return a + b  # an add op: recorded, so fan-out sums are part of the program
