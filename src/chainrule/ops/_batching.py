"""Shared pieces of the primitives' *batched* rules (``jvp_batched``, ``vjp_batched``).

A batched tangent or cotangent carries a leading batch axis: shape ``(B,) + value.shape``
(the protocol is described in :mod:`chainrule.core.primitive`). Ops whose derivative only
multiplies or routes elementwise need no rule of their own: their ordinary per-argument
rules already broadcast over a leading axis, once a tangent with fewer dimensions than the
output is padded (:func:`pad_batch`). :func:`elementwise_batched` builds that pair from an
op's own ``jvp``/``vjp``, so such an op writes one line::

    jvp_batched, vjp_batched = elementwise_batched(jvp, vjp)
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


def elementwise_batched(jvp: Sequence[Callable[..., Any] | None],
                        vjp: Sequence[Callable[..., Any] | None]
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
            r = jvp[i](pad_batch(t, out.ndim), out, *args, **params)
            total = r if total is None else total + r
        return total

    def vjp_batched(i: int, g: np.ndarray, out: np.ndarray, args: list, params: dict) -> Any:
        rule = vjp[i]
        return None if rule is None else rule(g, out, *args, **params)

    return jvp_batched, vjp_batched
