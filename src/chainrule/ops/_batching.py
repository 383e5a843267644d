"""Shared pieces of the primitives' *batched* rules (``jvp_batched``, ``vjp_batched``).

A batched tangent or cotangent carries a leading batch axis: shape ``(B,) + value.shape``
(the protocol is described in :mod:`chainrule.core.primitive`). Ops whose derivative only
multiplies or routes elementwise need no rule of their own: their ordinary per-argument
rules already broadcast over a leading axis, once a tangent with fewer dimensions than the
output is padded (:func:`pad_batch`). :func:`elementwise_batched` builds that pair from an
op's own ``jvp``/``vjp``, so such an op writes one line::

    jvp_batched, vjp_batched = elementwise_batched(jvp, vjp)

An op whose local Jacobian is diagonal (elementwise: the gradient of each output element
depends on its own input elements only) is declared from its derivative alone with
:func:`from_derivative`: one rule per argument, ``rule(g, out, *args, **params) =
g ∘ ∂out/∂arg``, serves as VJP *and* JVP (a diagonal matrix is its own transpose), and the
batched rules come with it::

    vjp, jvp, jvp_batched, vjp_batched = from_derivative(lambda g, out, x: g * out)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def pad_batch(t: np.ndarray, ndim: int) -> np.ndarray:
    """(B,)+shape -> (B,)+(1,)*k+shape, so it broadcasts like a value of ``ndim`` dims.

    Examples
    --------
    >>> import numpy as np
    >>> pad_batch(np.zeros((4, 3)), 2).shape
    (4, 1, 3)
    """
    k = ndim - (t.ndim - 1)
    return t.reshape((t.shape[0],) + (1,) * k + t.shape[1:]) if k > 0 else t


def elementwise_batched(
    jvp: Sequence[Callable[..., Any] | None], vjp: Sequence[Callable[..., Any] | None]
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Batched rules for an op whose rules only multiply/route elementwise.

    The batch axis simply broadcasts through such rules: the batched JVP pads each tangent
    to the output's number of dimensions and sums the per-argument rules; the batched VJP
    is the op's own rule (the transform sums the result back to the argument's shape).

    Examples
    --------
    >>> import numpy as np
    >>> jb, vb = elementwise_batched((lambda t, out, a, b: t * b, None),
    ...                              (lambda g, out, a, b: g * b, None))
    >>> a, b = np.ones(3), np.arange(3.0)
    >>> jb([np.eye(3), None], a * b, [a, b], {})
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 2.]])
    """

    def jvp_batched(tans: list, out: np.ndarray, args: list, params: dict) -> Any:
        total = None
        for i, t in enumerate(tans):
            if t is None or jvp[i] is None:
                continue
            # jvp[i] is not None (checked above; mypy does not narrow an indexed value)
            r = jvp[i](pad_batch(t, out.ndim), out, *args, **params)  # type: ignore[misc]
            total = r if total is None else total + r
        return total

    def vjp_batched(i: int, g: np.ndarray, out: np.ndarray, args: list, params: dict) -> Any:
        rule = vjp[i]
        return None if rule is None else rule(g, out, *args, **params)

    return jvp_batched, vjp_batched


def from_derivative(
    *rules: Callable[..., Any] | None,
) -> tuple[
    tuple[Callable[..., Any] | None, ...],
    tuple[Callable[..., Any] | None, ...],
    Callable[..., Any],
    Callable[..., Any],
]:
    """``(vjp, jvp, jvp_batched, vjp_batched)`` of an elementwise op, from its derivative.

    Each rule is ``rule(g, out, *args, **params) -> g ∘ ∂out/∂arg`` (None for an argument
    without gradient). For an elementwise op the local Jacobian is diagonal, so multiplying
    by it is the same map whether it is applied to an upstream gradient (VJP) or to a
    tangent (JVP): the very same function objects serve as both, with no wrapper between
    the engine and the rule (no extra call on the hot path), and :func:`elementwise_batched`
    gives the batched pair.

    Examples
    --------
    >>> import numpy as np
    >>> vjp, jvp, jb, vb = from_derivative(lambda g, out, x: g * out)   # exp
    >>> vjp is jvp, float(vjp[0](2.0, np.float64(3.0), None))
    (True, 6.0)
    """
    rules_t = tuple(rules)
    jvp_batched, vjp_batched = elementwise_batched(rules_t, rules_t)
    return rules_t, rules_t, jvp_batched, vjp_batched
