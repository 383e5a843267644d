"""User-defined operations: write ``forward`` and ``backward`` on arrays, get a graph node.

This is the lectures' gate API. Subclass :class:`Operation`, implement

* ``forward(self, *arrays) -> ndarray``: the value, computed with NumPy;
* ``backward(self, output_grad) -> tuple``: one gradient per input (``None`` for an input
  without one), given dL/d(output);
* optionally ``jvp(self, *tangents) -> ndarray``: the output's tangent given one tangent per
  input (enables forward mode: :func:`chainrule.transforms.jvp`, Jacobians by columns).

Call an instance like a function. Each call runs on a fresh shallow copy of the instance
(the *context* of that call), so whatever ``forward`` saves on ``self`` belongs to that call
only and one instance can be used many times in the same graph. Before ``forward`` runs,
``self.inputs`` holds the input arrays; afterwards ``self.output`` holds the result.

Higher order. ``backward`` runs on plain arrays, so the gradients it returns are constants
to a second differentiation: differentiating them again (``grad(grad(f))``, Hessians,
``create_graph=True`` followed by another backward, forward-over-reverse) raises a
:class:`~chainrule.core.errors.BackwardError` naming the operation instead of silently
giving a wrong answer. To make an operation twice differentiable, write ``backward`` (and
``jvp``) with chainrule operations, compute only from ``self.inputs``, ``self.output`` and
the upstream gradient (never from arrays saved in ``forward``), and set
``twice_differentiable = True``: under ``create_graph=True`` those attributes are then the
recorded Tensors and the rule is itself recorded.

Implementation: each subclass gets its own (unregistered) :class:`~chainrule.core.Primitive`
whose call parameters carry the per-call context, so a custom operation joins the graph
exactly like a built-in one (``check_graph``, anomaly detection, source lines all work).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from ..core import Primitive, Tensor, apply
from ..core.errors import BackwardError, OpError
from ..core.lecture import Lecture

__all__ = ["Operation"]


class Operation:
    """Base class of user-defined operations (see the module docstring).

    Attributes
    ----------
    name : str
        Shown in error messages and graph reports (default: the class name).
    twice_differentiable : bool
        Set True only if ``backward``/``jvp`` are written with chainrule ops from
        ``self.inputs``/``self.output`` (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> class Cube(cr.Operation):
    ...     name = "cube"
    ...     def forward(self, x):
    ...         self.x = x                    # saved on this call's context
    ...         return x ** 3
    ...     def backward(self, g):
    ...         return (g * 3 * self.x ** 2,)
    ...     def jvp(self, t):
    ...         return t * 3 * self.x ** 2
    >>> cube = Cube()
    >>> x = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> y = cube(x) + cube(2 * x)             # one instance, two calls
    >>> y.sum().backward()
    >>> x.grad                                # 3x² + 24x²
    Tensor([ 27., 108.])
    """

    name: ClassVar[str] = ""
    twice_differentiable: ClassVar[bool] = False

    inputs: tuple[Any, ...]
    output: Any
    # bookkeeping set on each call's copy (and, for _primitive, on the class once)
    _fresh: bool
    _cache: tuple[Any, tuple[Any, ...]]
    _primitive: ClassVar[type[Primitive]]

    def forward(self, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(self, *arrays)")

    def backward(self, output_grad: np.ndarray) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} must implement backward(self, output_grad) returning one "
            f"gradient per input"
        )

    # ``jvp`` is optional: it is looked up with getattr, so no default is defined here.

    @classmethod
    def op_name(cls) -> str:
        return cls.name or cls.__name__

    def __call__(self, *args: Any) -> Any:
        if not args:
            raise OpError(f"custom operation {self.op_name()!r} called without inputs")
        ctx = copy.copy(self)
        ctx._fresh = True  # the first forward on this context is the recorded one
        return apply(_primitive_for(type(self)), *args, ctx=ctx)

    def __repr__(self) -> str:
        return f"<Operation {self.op_name()!r}>"


# ---------------------------------------------------------------------- the adapter
def _run_forward(ctx: Operation, xs: tuple) -> np.ndarray:
    if getattr(ctx, "_fresh", False):
        ctx._fresh = False
        target = ctx
    else:
        # Re-evaluations (finite differences in check_graph, the sweep) run on a throwaway
        # copy, so the state saved by the recorded call is never overwritten.
        target = copy.copy(ctx)
    target.inputs = xs
    out = target.forward(*xs)
    if not isinstance(out, np.ndarray | np.generic | float | int):
        raise OpError(
            f"custom operation {ctx.op_name()!r}: forward must return a NumPy "
            f"array, got {type(out).__name__}"
        )
    out = np.asarray(out)
    target.output = out
    return out


def _grads_of(ctx: Operation, g: Any, n: int, tensors: bool) -> tuple:
    cached = getattr(ctx, "_cache", None)
    if cached is not None and cached[0] is g:  # one backward() call serves every input
        return cached[1]  # type: ignore[no-any-return]  # getattr's Any: see _cache above
    grads = ctx.backward(g)
    if not isinstance(grads, tuple | list):
        grads = (grads,)
    if len(grads) != n:
        raise OpError(
            f"custom operation {ctx.op_name()!r}: backward returned {len(grads)} gradient(s) "
            f"for {n} input(s); return a tuple with one entry per input (None for an input "
            f"without gradient)"
        )
    grads = tuple(grads)
    ctx._cache = (g, grads)
    return grads


class _FirstOrderOnly(Primitive):
    """Carries a custom op's first-order gradient value; differentiating it again raises."""

    name = "custom_first_order_only"
    register = False
    variadic = True
    lecture = Lecture(
        "gradient of {opname}({args})",
        each_grad="none: the gradient of a custom op is first order only",
    )

    def forward(*args: Any, value: Any, opname: str) -> Any:
        return value

    def vjp(i: Any, g: Any, out: Any, *args: Any, value: Any, opname: str) -> Any:
        raise BackwardError(_higher_order_message(opname))

    def jvp(i: Any, t: Any, out: Any, *args: Any, value: Any, opname: str) -> Any:
        raise BackwardError(_higher_order_message(opname))


def _higher_order_message(opname: str) -> str:
    return (
        f"cannot differentiate through the gradient of custom operation {opname!r}: its "
        f"backward()/jvp() run on NumPy arrays (first order only). To allow higher-order "
        f"derivatives, write them with chainrule ops from self.inputs/self.output and set "
        f"`twice_differentiable = True` on the class."
    )


def _guarded(value: Any, opname: str, deps: tuple) -> Any:
    if value is None:
        return None
    arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    return apply(_FirstOrderOnly, *deps, value=arr, opname=opname)


def _make_vjp(opcls: type[Operation]) -> Any:
    def vjp(i: int, g: Any, out: Any, *xs: Any, ctx: Operation) -> Any:
        if isinstance(g, np.ndarray):  # first-order backward: plain arrays
            return _grads_of(ctx, g, len(xs), False)[i]
        # create_graph=True: the rule is recorded
        if opcls.twice_differentiable:
            saved = ctx.inputs, ctx.output
            ctx.inputs, ctx.output = xs, out
            try:
                return _grads_of(ctx, g, len(xs), True)[i]
            finally:
                ctx.inputs, ctx.output = saved
        grads = _grads_of(ctx, g.data, len(xs), False)
        return _guarded(grads[i], ctx.op_name(), (g, *xs))

    return vjp


def _make_jvp(opcls: type[Operation]) -> Any:
    def jvp(i: int, t: Any, out: Any, *xs: Any, ctx: Operation) -> Any:
        rule = getattr(ctx, "jvp", None)
        if rule is None:
            raise OpError(
                f"custom operation {ctx.op_name()!r} defines no jvp(self, *tangents), so it "
                f"cannot be used in forward mode (jvp, hvp, jacobian(mode='fwd')). Define "
                f"jvp, or use reverse mode (grad, vjp, jacobian(mode='rev'))."
            )
        raw = isinstance(t, np.ndarray)
        if raw or not opcls.twice_differentiable:
            tv = t if raw else t.data
            xs_arr = [
                x if isinstance(x, np.ndarray) else np.asarray(getattr(x, "data", x)) for x in xs
            ]
            # the tangent is linear in the input tangents: one input at a time, zeros elsewhere
            tans = [
                np.zeros_like(x, dtype=tv.dtype) if j != i else tv for j, x in enumerate(xs_arr)
            ]
            r = rule(*tans)
            return r if raw else _guarded(r, ctx.op_name(), (t, *xs))
        saved = ctx.inputs, ctx.output
        ctx.inputs, ctx.output = xs, out
        try:
            tans = [t if j == i else x * 0 for j, x in enumerate(xs)]
            return rule(*tans)
        finally:
            ctx.inputs, ctx.output = saved

    return jvp


def _primitive_for(opcls: type[Operation]) -> type[Primitive]:
    prim = opcls.__dict__.get("_primitive")
    if prim is None:
        name = opcls.op_name()

        def forward(*xs: Any, ctx: Operation) -> np.ndarray:
            return _run_forward(ctx, xs)

        prim = type(
            f"Operation[{name}]",
            (Primitive,),
            {
                "__doc__": f"Adapter primitive of the custom operation {name!r}.",
                "__module__": opcls.__module__,
                "name": name,
                "register": False,  # user operations stay out of the registry sweep
                "variadic": True,
                "is_custom": True,
                "twice_differentiable": opcls.twice_differentiable,
                # the user's lecture text, when the Operation class gives one (else generic)
                "lecture": getattr(opcls, "lecture", None),
                "forward": staticmethod(forward),
                "vjp": staticmethod(_make_vjp(opcls)),
                "jvp": staticmethod(_make_jvp(opcls)),
            },
        )
        opcls._primitive = prim
    return prim
