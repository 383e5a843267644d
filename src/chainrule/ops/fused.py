"""Fused primitives for the layers and losses that dominate a training step.

Each could be composed from other ops; they are single primitives because measurements
said so (``bench/README.md``): ``linear`` (y = x Wᵀ + b) gives its weight gradient directly
in W's (out, in) layout instead of as a transposed view that must be copied, and
``cross_entropy`` replaces five graph nodes that dominated a small network's step. Their
rules have a plain-NumPy branch for the first-order pass and a chainrule-op branch used when
the backward pass is recorded (``create_graph=True``), so higher derivatives keep working.
The user-facing functions (argument checks, reductions, ignore_index) are in
:mod:`chainrule.nn.functional`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Primitive
from ..core.lecture import Lecture
from ._dtypes import as_floating
from .functions import softmax
from .linalg import matmul
from .reduce import sum as _sum
from .shape import broadcast_to, expand_dims, reshape, transpose


def _rows(a: Any) -> Any:
    """(..., k) -> (N, k): batch axes flattened (a no-op for 2-d)."""
    return a if a.ndim == 2 else reshape(a, (-1, a.shape[-1]))


# Each rule has a plain-NumPy branch for the first-order pass (arrays in, arrays out: the
# same maths without the dispatch overhead) and a chainrule-op branch used when the backward
# pass is recorded (create_graph=True), so higher derivatives keep working.
def _linear_vjp_x(g: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    if isinstance(g, np.ndarray):
        return np.matmul(g, w)
    return matmul(g, w)                                   # dX = dY · W


def _linear_vjp_w(g: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    # dW = dYᵀ · X, computed directly in W's (out, in) layout: a C-contiguous array, so
    # the engine and the optimiser never copy or transpose it.
    if isinstance(g, np.ndarray):
        if x.ndim == 1:
            return np.multiply.outer(g, x)
        if x.ndim > 2:
            g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        return np.matmul(g.T, x)
    if x.ndim == 1:
        return expand_dims(g, -1) * x                     # outer product
    return matmul(transpose(_rows(g)), _rows(x))


def _linear_vjp_b(g: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    if g.ndim == 1:
        return g
    axes = tuple(range(g.ndim - 1))
    return g.sum(axis=axes) if isinstance(g, np.ndarray) else _sum(g, axis=axes)


def _linear_jvp_b(t: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    return broadcast_to(t, out.shape)


class Linear(Primitive):
    """y = x Wᵀ + b in one node (``weight`` (out, in), ``b`` optional).

    Fused for speed: composing ``matmul(x, transpose(W)) + b`` costs three graph nodes,
    and its weight gradient arrives as a transposed view that must be copied. The rules
    are written with chainrule ops, so higher derivatives still work.
    """

    name = "linear"
    lecture = Lecture(
        "{0} · {1}ᵀ + {2}", ("{dz} · {1}", "{dz}ᵀ · {0}", "Σ_rows {dz}"), symbol="linear",
        gate="linear layer (fused Y = X·Wᵀ + b, W stored (out, in)): dX = dY · W, "
             "dW = dYᵀ · X, db = Σ_rows dY. In the lecture's layout Y = X·W + b with W "
             "(in, out) these read dX = dY · Wᵀ and dW = Xᵀ · dY: the shapes say which side "
             "to transpose")

    def forward(x, w, b):
        y = np.matmul(x, w.T)
        if b is not None:
            if np.result_type(y, b) == y.dtype:
                y += b            # the product is a fresh array: add the bias in place
            else:
                y = y + b
        return y

    vjp = (_linear_vjp_x, _linear_vjp_w, _linear_vjp_b)
    jvp = (lambda t, out, x, w, b: matmul(t, transpose(w)),
           lambda t, out, x, w, b: matmul(x, transpose(t)),
           _linear_jvp_b)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for xs, (o, i) in (((4, 3), (2, 3)), ((3,), (2, 3)), ((2, 4, 3), (5, 3)),
                           ((1, 1), (1, 1))):
            yield (rng.normal(size=xs), rng.normal(size=(o, i)), rng.normal(size=o)), {}



def _ce_coef(g: Any, weights: Any, scale: float, reduce: bool) -> Any:
    """Per-row factor of the gradient: g·scale·w_i (reduced) or g_i·w_i (per row)."""
    coef = g * scale if reduce else g
    if weights is not None:
        coef = coef * weights
    return coef


def _ce_vjp(g: Any, out: Any, x: Any, *, target: Any, weights: Any, scale: float,
            reduce: bool) -> Any:
    n = x.shape[0]
    if isinstance(x, np.ndarray):
        # First-order pass: (softmax - onehot)·coef in place on one N x C array.
        p = np.exp(x - x.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(n), target] -= 1
        coef = _ce_coef(g, weights, scale, reduce)
        p *= coef if np.ndim(coef) == 0 else np.reshape(coef, (n, 1))
        return p
    onehot = np.zeros(x.shape, dtype=x.dtype)
    onehot[np.arange(n), target] = 1
    coef = _ce_coef(g, weights, scale, reduce)
    if coef.ndim:
        coef = reshape(coef, (n, 1))
    return (softmax(x, axis=1) - onehot) * coef


def _ce_jvp(t: Any, out: Any, x: Any, *, target: Any, weights: Any, scale: float,
            reduce: bool) -> Any:
    n = x.shape[0]
    onehot = np.zeros(x.shape, dtype=x.dtype)
    onehot[np.arange(n), target] = 1
    per = _sum((softmax(x, axis=1) - onehot) * t, axis=1)
    if weights is not None:
        per = per * weights
    return _sum(per) * scale if reduce else per


def _ce_fields(params: dict) -> dict:
    """How the loss reduces the rows, for the lecture text (mean, sum, per row, weights)."""
    scale, reduce = params.get("scale", 1.0), params.get("reduce", True)
    weighted = params.get("weights") is not None
    if not reduce:
        reduction, coef = " per row", ""
    elif scale == 1:
        reduction, coef = " summed over the rows", ""
    elif float(1 / scale).is_integer():
        n = int(round(1 / scale))
        reduction, coef = f" averaged over the {n} rows", f" / {n}"
    else:
        reduction, coef = f" · {scale:g}", f" · {scale:g}"
    if weighted:
        reduction, coef = " weighted" + reduction, coef + " · w"
    return {"reduction": reduction, "coef": coef}


class CrossEntropy(Primitive):
    """Softmax cross-entropy of (N, C) scores at integer targets, in one node.

    ``out = scale · Σ_i w_i (logsumexp(x_i) - x_i[t_i])`` (``reduce``), or the per-row
    terms. The gradient is ``(softmax(x) - onehot(t)) · w · scale``. Integer scores give a
    floating loss (as ``np.exp`` promotes them). Fused because the composed version
    (logsumexp, getitem, sub, sum, mul) costs five graph nodes, which dominates a small
    network's step; measured in ``bench/README.md``.
    """

    name = "cross_entropy"
    lecture = Lecture(
        "cross_entropy({0}, y={target}){reduction}",
        ("{dz} · (softmax({0}) − onehot(y)){coef}",), symbol="softmax CE",
        gate="softmax cross-entropy (fused): each row's score gradient is "
             "ds = softmax(s) − onehot(y), times the upstream gradient (and the mean's 1/N)",
        fields=_ce_fields)

    def forward(x, *, target, weights, scale, reduce):
        x = as_floating(x)  # integer scores: a float loss, as np.exp would compute it
        n = x.shape[0]
        m = x.max(axis=1, keepdims=True)
        if not np.isfinite(m).all():
            m = np.where(np.isfinite(m), m, 0)  # all -inf rows: avoid inf - inf
        z = x - m
        # log Σ exp(z) - z[t] rather than logsumexp(x) - x[t]: for scores near 1e4 the
        # latter subtracts two float32 numbers spaced 1e-3 apart; z's terms are small.
        per = np.log(np.exp(z).sum(axis=1)) - z[np.arange(n), target]
        if weights is not None:
            per *= weights
        if not reduce:
            return per
        return np.asarray(per.sum() * scale, dtype=x.dtype)

    vjp = (_ce_vjp,)
    jvp = (_ce_jvp,)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        x = rng.normal(size=(5, 4))
        t = rng.integers(0, 4, 5)
        yield (x,), {"target": t, "weights": None, "scale": 0.2, "reduce": True}
        yield (x,), {"target": t, "weights": rng.random(5), "scale": 1.0, "reduce": True}
        yield (x,), {"target": t, "weights": None, "scale": 1.0, "reduce": False}
        yield (x * 3,), {"target": t, "weights": rng.random(5), "scale": 1.0, "reduce": False}
