"""Forward-mode transforms: ``jvp``, ``hvp`` and ``linearize``.

Forward mode carries a tangent (a direction of change) alongside every value: one pass
gives ``J v``, the derivative of every output along one input direction ``v``, for about
the cost of the function itself and with no graph kept in memory. It is the cheap mode
for functions with few inputs and many outputs (reverse mode is cheap for the opposite).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import Tensor, enable_grad
from ..core.errors import ChainruleError, ShapeError
from ..core.forward import forward_level
from .batching import Unbatchable, batched_jvp, dependent_nodes
from .reverse import alias, as_outputs, grad, is_live

__all__ = ["hvp", "jvp", "linearize"]


def _tangent_array(t: Any, x: Tensor, i: int) -> Any:
    if isinstance(t, Tensor):
        if t.shape != x.shape:
            raise ShapeError(
                f"jvp: tangent {i} has shape {t.shape} but primal {i} has shape "
                f"{x.shape}; a tangent must have its primal's shape"
            )
        return t
    arr = np.asarray(t, dtype=x.data.dtype if x.data.dtype.kind == "f" else None)
    if arr.shape != x.shape:
        raise ShapeError(
            f"jvp: tangent {i} has shape {arr.shape} but primal {i} has shape "
            f"{x.shape}; a tangent must have its primal's shape"
        )
    return arr


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """Evaluate ``f(*primals)`` and its directional derivative along ``tangents``.

    Parameters
    ----------
    f : callable
        Takes ``len(primals)`` Tensors; returns a Tensor or a tuple of Tensors.
    primals : sequence
        The point (arrays, numbers or Tensors).
    tangents : sequence
        One direction per primal, same shapes; ``None`` means a zero direction.

    Returns
    -------
    out, tangent_out
        ``f(*primals)`` and ``J·v = Σ_i ∂f/∂primal_i · tangent_i`` (a tuple of each for a
        tuple output). An output that does not depend on the primals has a zero tangent.

    Notes
    -----
    One pass of forward mode, for any number of outputs. It nests: ``jvp`` of ``jvp`` and
    ``jvp`` of ``grad`` (forward-over-reverse, see :func:`hvp`) both work.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.transforms import jvp
    >>> out, tan = jvp(lambda x: x * x, (cr.Tensor([3.0]),), (cr.Tensor([1.0]),))
    >>> out, tan
    (Tensor([9.]), Tensor([6.]))
    """
    primals = tuple(primals)
    tangents = tuple(tangents)
    if len(primals) != len(tangents):
        raise ChainruleError(f"jvp: {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    if not primals:
        raise ChainruleError("jvp: give at least one primal")
    xs = [alias(p, "jvp", requires_grad=False) for p in primals]
    with forward_level() as level:
        for i, (x, t) in enumerate(zip(xs, tangents, strict=True)):
            if t is None:
                continue
            if x.data.dtype.kind != "f":
                raise ChainruleError(
                    f"jvp: primal {i} has dtype {x.data.dtype}; only "
                    f"floating-point primals can carry a tangent"
                )
            level.seed(x, _tangent_array(t, x, i))
        res = f(*xs)
        outs, single = as_outputs(res, "jvp")
        tans = []
        for o in outs:
            tan = level.tangent(o)
            tans.append(
                tan if tan is not None else Tensor._wrap(np.zeros(o.shape, dtype=o.data.dtype))
            )
    if single:
        return outs[0], tans[0]
    return tuple(outs), tuple(tans)


def hvp(f: Callable[..., Any], x: Any, v: Any, *args: Any) -> Tensor:
    """Hessian-vector product ``H(x)·v`` of a scalar function, without forming ``H``.

    Forward-over-reverse: one forward-mode pass (direction ``v``) through the computation
    of ``grad(f)``, whose backward pass is recorded so tangents flow through it. The cost is
    a small multiple of one gradient, whatever the size of ``x`` (the Hessian itself would
    have ``x.size²`` entries).

    Parameters
    ----------
    f : callable
        Scalar-valued function ``f(x, *args)``.
    x : array_like or Tensor
        The point.
    v : array_like or Tensor
        The direction, shaped like ``x``.
    *args
        Further arguments of ``f``, held constant.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.transforms import hvp
    >>> f = lambda x: (x ** 3).sum()                  # H = diag(6x)
    >>> hvp(f, cr.Tensor([1.0, 2.0]), cr.Tensor([1.0, 1.0]))
    Tensor([ 6., 12.])
    """
    nested = is_live(x) or is_live(v)
    g = grad(lambda y: f(y, *args))
    tangent: Tensor  # jvp's tangent mirrors g's output: one Tensor
    with enable_grad():
        _, tangent = jvp(g, (x,), (v,))
    return tangent if nested else tangent.detach()


def linearize(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """Evaluate ``f`` once and return ``(out, jvp_fn)`` with ``jvp_fn(*tangents) = J·v``.

    When every operation on the way supports batching, ``jvp_fn`` replays only the tangent
    rules over the recorded graph (no forward recomputation); otherwise each call runs one
    :func:`jvp` pass. A single output Tensor only.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.transforms import linearize
    >>> out, lin = linearize(lambda x: cr.tanh(x) * 2, cr.Tensor([0.0, 1.0]))
    >>> lin(cr.Tensor([1.0, 0.0]))
    Tensor([2., 0.])
    """
    if not primals:
        raise ChainruleError("linearize: give at least one primal")
    if any(is_live(p) for p in primals):
        # nested use: keep everything composable by running real jvp passes
        out = f(*primals)

        def nested_fn(*tangents: Any) -> Any:
            return jvp(f, primals, tangents)[1]

        return out, nested_fn

    xs = [alias(p, "linearize", requires_grad=True) for p in primals]
    with enable_grad():
        res = f(*xs)
    outs, single = as_outputs(res, "linearize")
    if not single:
        raise ChainruleError("linearize: f must return a single Tensor")
    out = outs[0]
    try:
        nodes = dependent_nodes(outs, xs) if out.requires_grad else []
        if nodes:
            batched_jvp(nodes, outs, xs, [None] * len(xs), dry_run=True)
        replay = True
    except Unbatchable:
        replay = False

    def lin_fn(*tangents: Any) -> Tensor:
        if len(tangents) != len(xs):
            raise ChainruleError(f"linearize: {len(xs)} tangent(s) expected, got {len(tangents)}")
        # (the ignores: jvp's tangent mirrors f's output, a single Tensor here)
        if not replay:
            return jvp(f, primals, tangents)[1]  # type: ignore[no-any-return]
        if not out.requires_grad or not nodes:
            return Tensor._wrap(np.zeros(out.shape, dtype=out.data.dtype))
        seeds: list[np.ndarray | None] = []
        for i, (x, t) in enumerate(zip(xs, tangents, strict=True)):
            if t is None:
                seeds.append(None)
                continue
            arr = _tangent_array(t, x, i)
            arr = arr.data if isinstance(arr, Tensor) else arr
            seeds.append(np.asarray(arr, dtype=x.data.dtype)[None])
        try:
            (res_t,) = batched_jvp(nodes, outs, xs, seeds)
        except Unbatchable:  # a rule refused this case: one ordinary forward pass instead
            return jvp(f, primals, tangents)[1]  # type: ignore[no-any-return]
        return Tensor._wrap(res_t[0])

    return out.detach(), lin_fn
