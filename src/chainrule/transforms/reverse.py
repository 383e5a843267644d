"""Reverse-mode transforms: ``grad``, ``value_and_grad`` and ``vjp``.

They turn a function of Tensors into a function that returns derivatives, in the style of
JAX and ``torch.func``. Each call records the function on fresh inputs and runs the core
engine with ``inputs=``, so nothing is accumulated into anyone's ``.grad``.

Transforms compose. When an argument is itself being differentiated from outside (it
requires grad, or a forward-mode level tracks it), the backward pass is recorded
(``create_graph=True``) so the result can be differentiated again: ``grad(grad(f))`` is
reverse-over-reverse, and ``jvp(grad(f), ...)`` is forward-over-reverse. Otherwise the
backward pass runs on plain arrays, at the cost of hand-written NumPy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import Tensor, active_levels, enable_grad, is_freed, is_grad_enabled, is_tracked
from ..core.engine import backward as _engine_backward
from ..core.errors import ChainruleError, GradientError
from ..core.graph import walk

__all__ = ["grad", "value_and_grad", "vjp"]


# ---------------------------------------------------------------------- shared helpers
def normalize_argnums(argnums: int | Sequence[int], nargs: int, who: str) -> tuple[int, ...]:
    """``argnums`` as a tuple of non-negative positions, checked against ``nargs``."""
    nums = (argnums,) if isinstance(argnums, int | np.integer) else tuple(argnums)
    if not nums:
        raise ChainruleError(f"{who}: argnums is empty; give at least one argument position")
    out = []
    for a in nums:
        if not -nargs <= a < nargs:
            raise ChainruleError(
                f"{who}: argnums={argnums!r} but the function was called with {nargs} "
                f"positional argument(s)"
            )
        out.append(int(a) % nargs)
    if len(set(out)) != len(out):
        raise ChainruleError(f"{who}: argnums={argnums!r} repeats an argument")
    return tuple(out)


def is_live(x: Any) -> bool:
    """True when ``x`` is being differentiated from outside (recorded, or tracked by a level)."""
    if not isinstance(x, Tensor):
        return False
    if is_freed(x):
        return False  # its graph was freed by a backward(): nothing can differentiate it now
    if x.requires_grad and is_grad_enabled():
        return True
    return is_tracked(x)


def alias(x: Any, who: str, requires_grad: bool) -> Tensor:
    """A new Tensor object standing for ``x`` inside a transform.

    A live ``x`` is passed through a recorded identity (a reshape to its own shape), so the
    alias stays connected to the outer computation (outer graph, outer tangents) while being
    a distinct node: derivatives with respect to the alias are partial derivatives even when
    the same tensor is passed twice. Anything else becomes a fresh leaf sharing the data.
    """
    if is_live(x):
        if requires_grad and not x.requires_grad:
            # tracked by a forward level only: a new leaf carrying the outer tangents
            leaf = Tensor._wrap(x.data)
            for level in active_levels():
                tan = level.tangent(x)
                if tan is not None:
                    level.set(leaf, tan)
            _require_grad(leaf, who)
            return leaf
        from ..ops.shape import reshape

        return reshape(x, x.shape)
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    leaf = Tensor._wrap(data)
    if requires_grad:
        _require_grad(leaf, who)
    return leaf


def touches_external(roots: Sequence[Tensor], xs: Sequence[Tensor]) -> bool:
    """Whether the graph of ``roots`` reads a tensor, other than ``xs``, that requires grad.

    Then a derivative computed from this graph depends on that tensor (a model parameter,
    say), and is recorded so that it can be differentiated with respect to it, as any op
    on a tensor that requires grad is.
    """
    mine = {id(x) for x in xs}
    for n in walk(roots, stop_at=xs, skip_freed=True):
        for a in n.inputs:
            if isinstance(a, Tensor) and a._op is None and a.requires_grad and id(a) not in mine:
                return True
    return False


def _require_grad(t: Tensor, who: str) -> None:
    if t.data.dtype.kind != "f":
        raise GradientError(
            f"{who}: cannot differentiate with respect to an argument of dtype "
            f"{t.data.dtype} (shape {t.shape}): only floating-point inputs have derivatives. "
            f"Pass floats (e.g. np.asarray(x, dtype=float)) or leave it out of argnums."
        )
    t.requires_grad = True


def as_outputs(out: Any, who: str) -> tuple[list[Tensor], bool]:
    """The function's output(s) as a list of Tensors, and whether it was a single Tensor."""
    if isinstance(out, Tensor):
        return [out], True
    if isinstance(out, tuple | list) and out and all(isinstance(o, Tensor) for o in out):
        return list(out), False
    raise ChainruleError(
        f"{who}: the function must return a Tensor (or a tuple of Tensors), got "
        f"{type(out).__name__}. Compute with chainrule ops on the Tensors it receives."
    )


def zeros_for(x: Tensor) -> Tensor:
    return Tensor._wrap(np.zeros(x.shape, dtype=x.data.dtype))


def _split_aux(res: Any, has_aux: bool, who: str) -> tuple[Any, Any]:
    if not has_aux:
        return res, None
    if not (isinstance(res, tuple | list) and len(res) == 2):
        raise ChainruleError(
            f"{who}(has_aux=True): the function must return a pair "
            f"(output, aux), got {type(res).__name__}"
        )
    return res[0], res[1]


def _scalar_output(out: Any, who: str) -> Tensor:
    if not isinstance(out, Tensor):
        raise ChainruleError(
            f"{who}: the function must return a one-element Tensor, got {type(out).__name__}"
        )
    if out.data.size != 1:
        raise GradientError(
            f"{who}: the function returned a tensor of shape {out.shape}; grad needs a "
            f"one-element output (a loss). For a vector output use vjp() or jacobian(), or "
            f"reduce it first (e.g. .sum())."
        )
    if out.data.dtype.kind != "f":
        raise GradientError(
            f"{who}: the output has dtype {out.data.dtype}; only "
            f"floating-point outputs can be differentiated"
        )
    return out


def _value_and_grad_call(
    f: Callable[..., Any],
    argnums: int | Sequence[int],
    has_aux: bool,
    who: str,
    args: tuple,
    kwargs: dict,
) -> tuple[Any, Any, Any]:
    nums = normalize_argnums(argnums, len(args), who)
    recording = is_grad_enabled()
    nested = any(is_live(a) for a in args) or bool(active_levels())
    new_args = list(args)
    xs = []
    for i in nums:
        xs.append(alias(args[i], who, requires_grad=True))
        new_args[i] = xs[-1]
    with enable_grad():
        res = f(*new_args, **kwargs)
        out, aux = _split_aux(res, has_aux, who)
        out = _scalar_output(out, who)
        if not nested and recording and out.requires_grad:
            nested = touches_external([out], xs)
        if out.requires_grad:
            grads = _engine_backward([out], create_graph=nested, inputs=xs)
        else:  # the output does not depend on anything differentiable
            grads = [None] * len(xs)
    # a list: backward returns one when `inputs` is given
    grads = [g if g is not None else zeros_for(x) for g, x in zip(grads, xs, strict=True)]  # type: ignore[arg-type]
    value = out if nested else out.detach()
    single = isinstance(argnums, int | np.integer)
    return value, (grads[0] if single else tuple(grads)), aux


# ---------------------------------------------------------------------- public API
def grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """The gradient of a scalar-valued function, as a function.

    Parameters
    ----------
    f : callable
        Takes Tensors (and anything else), returns a one-element Tensor (or a pair
        ``(output, aux)`` with ``has_aux=True``).
    argnums : int or tuple of int
        Which positional arguments to differentiate with respect to.
    has_aux : bool
        ``f`` returns ``(output, aux)``; the gradient function then returns
        ``(gradient, aux)`` with ``aux`` passed through untouched.

    Returns
    -------
    callable
        Same arguments as ``f``; returns the gradient (a Tensor shaped like the argument),
        or a tuple of them when ``argnums`` is a tuple. An argument the output does not
        depend on gets zeros.

    Notes
    -----
    Arrays and numbers are accepted as arguments; results are Tensors. The gradient of a
    gradient works (``grad(grad(f))``): when an argument is being differentiated from
    outside, the backward pass is recorded so its result can be differentiated again. Like
    any op, the result is also recorded when ``f`` reads other tensors that require grad
    (model parameters) while grad mode is on: call it under ``no_grad()`` for a plain,
    cheaper result.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.transforms import grad
    >>> f = lambda x: (x ** 3).sum()
    >>> grad(f)(cr.Tensor([1.0, 2.0]))
    Tensor([ 3., 12.])
    >>> float(grad(grad(lambda x: x ** 3))(2.0))    # d²/dx² x³ = 6x
    12.0
    """
    who = "grad"

    @functools.wraps(f)
    def grad_fn(*args: Any, **kwargs: Any) -> Any:
        _, g, aux = _value_and_grad_call(f, argnums, has_aux, who, args, kwargs)
        return (g, aux) if has_aux else g

    return grad_fn


def value_and_grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """Like :func:`grad`, but the function returns ``(value, gradient)``.

    With ``has_aux=True`` it returns ``((value, aux), gradient)`` (JAX's convention).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.transforms import value_and_grad
    >>> v, g = value_and_grad(lambda x: (x * x).sum())(cr.Tensor([3.0]))
    >>> float(v), g
    (9.0, Tensor([6.]))
    """
    who = "value_and_grad"

    @functools.wraps(f)
    def vg_fn(*args: Any, **kwargs: Any) -> Any:
        value, g, aux = _value_and_grad_call(f, argnums, has_aux, who, args, kwargs)
        return ((value, aux), g) if has_aux else (value, g)

    return vg_fn


def vjp(
    f: Callable[..., Any], *primals: Any, has_aux: bool = False
) -> tuple[Any, Callable[..., Any]] | tuple[Any, Any, Any]:
    """Evaluate ``f(*primals)`` and return a function computing vector-Jacobian products.

    Parameters
    ----------
    f : callable
        Takes ``len(primals)`` Tensors; returns a Tensor or a tuple of Tensors.
    *primals : array_like or Tensor
        Where to linearize. Every primal is differentiated.
    has_aux : bool
        ``f`` returns ``(output, aux)``; then ``(out, vjp_fn, aux)`` is returned.

    Returns
    -------
    out : Tensor or tuple of Tensor
        ``f(*primals)``.
    vjp_fn : callable
        ``vjp_fn(cotangent)`` returns a tuple with ``uᵀ ∂f/∂primal_i`` for every primal
        (shaped like that primal), where the cotangent ``u`` has the output's shape (a tuple
        of cotangents for a tuple output). It may be called many times: the graph is kept.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.transforms import vjp
    >>> out, vjp_fn = vjp(lambda x: x * x, cr.Tensor([1.0, 2.0]))
    >>> vjp_fn(cr.Tensor([1.0, 10.0]))
    (Tensor([ 2., 40.]),)
    """
    who = "vjp"
    if not primals:
        raise ChainruleError("vjp: give at least one primal")
    recording = is_grad_enabled()
    nested = any(is_live(p) for p in primals) or bool(active_levels())
    xs = [alias(p, who, requires_grad=True) for p in primals]
    with enable_grad():
        res = f(*xs)
    res, aux = _split_aux(res, has_aux, who)
    outs, single = as_outputs(res, who)
    if not nested and recording:
        nested = touches_external([o for o in outs if o.requires_grad], xs)

    def vjp_fn(cotangent: Any) -> tuple[Tensor, ...]:
        cts = [cotangent] if single else list(cotangent)
        if len(cts) != len(outs):
            raise ChainruleError(f"vjp_fn: expected {len(outs)} cotangent(s), got {len(cts)}")
        roots, seeds = [], []
        for o, u in zip(outs, cts, strict=True):
            ushape = np.shape(u.data if isinstance(u, Tensor) else u)
            if ushape != o.shape:
                raise ChainruleError(
                    f"vjp_fn: cotangent of shape {ushape} for an output of shape {o.shape}; "
                    f"a cotangent must have its output's shape"
                )
            if o.requires_grad:
                roots.append(o)
                seeds.append(u)
        if not roots:
            return tuple(zeros_for(x) for x in xs)
        create = nested or any(is_live(u) for u in seeds)
        with enable_grad():
            if create and any(isinstance(u, Tensor) for u in seeds):
                # A differentiable cotangent: backpropagate ⟨u, out⟩ so that the result is
                # recorded as a function of u too (a seed would be copied as a constant).
                # u is a *value* here: uᵀJ must not differentiate u itself (u may be `out`,
                # or depend on the primals). Each cotangent enters through its own recorded
                # alias, a constant of this pass: its graph is not walked, but the recorded
                # result reads it, so it stays linear in u for anyone differentiating it.
                from ..ops.reduce import sum as _sum
                from ..ops.shape import reshape

                aliases = [reshape(u, u.shape) if isinstance(u, Tensor) else u for u in seeds]
                total = None
                for o, ua in zip(roots, aliases, strict=True):
                    term = _sum(o * ua)
                    total = term if total is None else total + term
                # total is a Tensor: there is at least one root
                grads = _engine_backward(
                    [total],  # type: ignore[list-item]
                    retain_graph=True,
                    create_graph=True,
                    inputs=xs,
                    constants=[a for a in aliases if isinstance(a, Tensor)],
                )
            else:
                seeds = [u.data if isinstance(u, Tensor) else u for u in seeds]
                grads = _engine_backward(
                    roots, seeds, retain_graph=True, create_graph=create, inputs=xs
                )
        # a list, as in grad() above
        return tuple(
            g if g is not None else zeros_for(x)
            for g, x in zip(
                grads,  # type: ignore[arg-type]
                xs,
                strict=True,
            )
        )

    shown: Any = outs[0] if single else tuple(outs)
    if not nested:
        shown = shown.detach() if single else tuple(o.detach() for o in outs)
    if has_aux:
        return shown, vjp_fn, aux
    return shown, vjp_fn
