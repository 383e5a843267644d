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

import functools
import math
from typing import Any

import numpy as np

from ..core import Primitive, apply
from ..core.kept import recall
from ..core.lecture import Lecture
from ._dtypes import as_floating
from .functions import softmax
from .index import check_indices
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
        return np.dot(g, w) if g.ndim == 2 else np.matmul(g, w)
    return matmul(g, w)  # dX = dY · W


def _linear_vjp_w(g: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    # dW = dYᵀ · X, computed directly in W's (out, in) layout: a C-contiguous array, so
    # the engine and the optimiser never copy or transpose it.
    if isinstance(g, np.ndarray):
        if x.ndim == 1:
            return np.multiply.outer(g, x)
        if x.ndim > 2:
            g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        return np.dot(g.T, x)
    if x.ndim == 1:
        return expand_dims(g, -1) * x  # outer product
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
        "{0} · {1}ᵀ + {2}",
        ("{dz} · {1}", "{dz}ᵀ · {0}", "Σ_rows {dz}"),
        symbol="linear",
        gate="linear layer (fused Y = X·Wᵀ + b, W stored (out, in)): dX = dY · W, "
        "dW = dYᵀ · X, db = Σ_rows dY. In the lecture's layout Y = X·W + b with W "
        "(in, out) these read dX = dY · Wᵀ and dW = Xᵀ · dY: the shapes say which side "
        "to transpose",
    )

    def forward(x: Any, w: Any, b: Any) -> Any:
        # np.dot is matmul for 2-D operands, with less dispatch (measured ~0.4 µs a call)
        y = np.dot(x, w.T) if x.ndim == 2 else np.matmul(x, w.T)
        if b is not None:
            if b.dtype == y.dtype or np.result_type(y, b) == y.dtype:
                y += b  # the product is a fresh array: add the bias in place
            else:
                y = y + b
        return y

    vjp = (_linear_vjp_x, _linear_vjp_w, _linear_vjp_b)
    jvp = (
        lambda t, out, x, w, b: matmul(t, transpose(w)),
        lambda t, out, x, w, b: matmul(x, transpose(t)),
        _linear_jvp_b,
    )

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for xs, (o, i) in (((4, 3), (2, 3)), ((3,), (2, 3)), ((2, 4, 3), (5, 3)), ((1, 1), (1, 1))):
            yield (rng.normal(size=xs), rng.normal(size=(o, i)), rng.normal(size=o)), {}


def _ce_rows(
    x: np.ndarray, target: np.ndarray, class_weights: Any, ignore_index: Any, reduction: str
) -> tuple[np.ndarray, Any]:
    """(safe targets, coefficient of each row's term): all target handling in one place.

    The coefficient is w[t_i] (class weights), 0 for an ignored target, divided by the sum
    of those weights for ``"mean"``: a scalar when every row counts the same. It is
    computed here, inside the op, from the targets of *this* call, so nothing about the
    targets is decided in Python outside the op (what a compiled, traced call needs), and
    a target that is no class raises here, in eager and compiled code alike.
    """
    dtype = x.dtype
    t, keep = check_indices(target, x.shape[1], "cross_entropy", ignore_index=ignore_index)
    if keep is None and class_weights is None:  # the common case: every row counts 1
        if reduction != "mean":
            return t, dtype.type(1)
        if x.shape[0]:
            return t, _reciprocal(dtype, x.shape[0])
    coef: Any = None if keep is None else keep.astype(dtype)
    if class_weights is not None:
        w = np.asarray(class_weights, dtype=dtype)[t]
        coef = w if coef is None else coef * w
    if reduction == "mean":
        total = coef.sum() if coef is not None else x.shape[0]
        # all ignored (or no rows): NaN, as PyTorch; a NaN factor (not 1/0) raises no
        # warning here or where the loss multiplies by it
        scale = dtype.type(1) / dtype.type(total) if total else dtype.type(np.nan)
        coef = scale if coef is None else coef * scale
    elif coef is None:
        coef = dtype.type(1)
    return t, coef


@functools.lru_cache(maxsize=256)
def _reciprocal(dtype: np.dtype, n: int) -> Any:
    """1/n in ``dtype`` (the mean's coefficient; a NumPy scalar costs ~1 µs to make)."""
    return dtype.type(1) / dtype.type(n)


@functools.lru_cache(maxsize=64)
def _row_ids(n: int) -> np.ndarray:
    """``np.arange(n)``, read-only and kept for the batch sizes met (one array per step
    saved)."""
    rows = np.arange(n)
    rows.flags.writeable = False
    return rows


def _ce_forward(
    x: Any, target: Any, class_weights: Any, ignore_index: Any, reduction: str, keep: bool
) -> Any:
    """The loss; with ``keep``, (loss, dloss/dx for an upstream gradient of 1)."""
    x = as_floating(x)  # integer scores: a float loss, as np.exp would compute it
    t, coef = _ce_rows(x, target, class_weights, ignore_index, reduction)
    # (the ufuncs' reduce: the ndarray methods add a Python layer, ~0.3 µs a call)
    m = np.maximum.reduce(x, axis=1, keepdims=True)
    rows = _row_ids(x.shape[0])
    e, s, per, total = _ce_terms(x, m, rows, t, coef)
    if not math.isfinite(total) and not np.isfinite(m).all():
        # an overflow, or all -inf rows: shift those rows by 0 instead (no inf - inf). Only
        # a non-finite loss can come from such rows, so the common case tests one float.
        e, s, per, total = _ce_terms(x, np.where(np.isfinite(m), m, 0), rows, t, coef)
    if reduction == "none":
        loss = per * coef
    else:
        loss = np.asarray(total, dtype=x.dtype)
    if not keep:
        return loss
    e /= s[:, None]  # the softmax
    return loss, _unit_dlogits(e, rows, t, coef)


def _ce_terms(x: np.ndarray, m: np.ndarray, rows: np.ndarray, t: np.ndarray, coef: Any) -> Any:
    """exp(x - m), its row sums, each row's loss and their (weighted) total."""
    # log Σ exp(z) - z[t] rather than logsumexp(x) - x[t]: for scores near 1e4 the
    # latter subtracts two float32 numbers spaced 1e-3 apart; z's terms are small.
    z = x - m
    e = np.exp(z)
    s = np.add.reduce(e, axis=1)
    per = np.log(s) - z[rows, t]
    total = np.add.reduce(per * coef) if coef.ndim else np.add.reduce(per) * coef
    return e, s, per, total


def _unit_dlogits(p: np.ndarray, rows: Any, t: Any, coef: Any) -> np.ndarray:
    """(p − onehot(t))·c, in place on the softmax rows ``p``: the gradient for an
    upstream gradient of 1, which the forward keeps for the backward."""
    p[rows, t] -= 1
    p *= coef if coef.ndim == 0 else coef[:, None]  # (a NumPy scalar or an array)
    return p


def _ce_grad_kept(
    kept: Any, g: Any, *, target: Any, class_weights: Any, ignore_index: Any, reduction: str
) -> np.ndarray:
    """_ce_grad from what the forward kept, (p − onehot)·c: no second softmax."""
    return _times_upstream(kept, g)


def _times_upstream(unit: np.ndarray, g: Any) -> np.ndarray:
    """The gradient ``unit`` (for an upstream gradient of 1) times the upstream ``g``: a
    scalar, or one value per row for ``reduction="none"``. One multiply into a new array
    (a kept ``unit`` stays intact: a retained graph may backward again)."""
    out: np.ndarray = unit * (g if getattr(g, "ndim", 0) == 0 else np.reshape(g, (-1, 1)))
    return out if out.dtype == unit.dtype else out.astype(unit.dtype)


def _ce_grad(
    x: Any, g: Any, target: Any, class_weights: Any, ignore_index: Any, reduction: str
) -> np.ndarray:
    """dL/dx = (softmax(x) - onehot(t))·c·g on arrays."""
    x = as_floating(x)
    t, coef = _ce_rows(x, target, class_weights, ignore_index, reduction)
    p: np.ndarray = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return _times_upstream(_unit_dlogits(p, _row_ids(x.shape[0]), t, coef), g)


def _ce_vjp(
    g: Any, out: Any, x: Any, *, target: Any, class_weights: Any, ignore_index: Any, reduction: str
) -> Any:
    if isinstance(x, np.ndarray):  # first-order pass: plain NumPy
        kept = recall(out)  # the softmax, when the recorded forward kept it
        if kept is not None:
            return _ce_grad_kept(
                kept,
                g,
                target=target,
                class_weights=class_weights,
                ignore_index=ignore_index,
                reduction=reduction,
            )
        return _ce_grad(x, g, target, class_weights, ignore_index, reduction)
    # recorded (or traced): the same computation as one primitive, itself differentiable
    return apply(
        CrossEntropyGrad,
        x,
        g,
        target=target,
        class_weights=class_weights,
        ignore_index=ignore_index,
        reduction=reduction,
    )


def _ce_dlogits(x: Any, params: dict) -> Any:
    """(softmax(x) - onehot(t))·c with chainrule ops; the target terms come from
    non-differentiable primitives that read the targets as a parameter."""
    return softmax(x, axis=1) * apply(CERowCoef, x, **params) - apply(CETargetTerms, x, **params)


def _ce_jvp(t: Any, out: Any, x: Any, **params: Any) -> Any:
    per = _sum(_ce_dlogits(x, params) * t, axis=1)
    return per if params["reduction"] == "none" else _sum(per)


def _ce_fields(params: dict) -> dict:
    """How the loss reduces the rows, for the lecture text (mean, sum, per row, weights)."""
    reduction = params.get("reduction", "mean")
    weighted = params.get("class_weights") is not None
    target = params.get("target")
    n = int(np.shape(target)[0]) if target is not None and np.ndim(target) else 0
    if reduction == "none":
        text, coef = " per row", ""
    elif reduction == "sum":
        text, coef = " summed over the rows", ""
    else:
        text, coef = f" averaged over the {n} rows", f" / {n}"
    if weighted:
        text, coef = " weighted" + text, " · w" + (" / Σw" if reduction == "mean" else "")
    return {"reduction": text, "coef": coef}


class CrossEntropy(Primitive):
    """Softmax cross-entropy of (N, C) scores at integer targets, in one node.

    ``out = Σ_i c_i (logsumexp(x_i) - x_i[t_i])`` (``reduction`` "sum" or "mean"), or the
    per-row terms (``"none"``), with ``c_i = w[t_i]`` (class weights; 1 without), 0 where
    ``t_i == ignore_index``, divided by ``Σ c_i`` for the mean. The gradient is
    ``(softmax(x) - onehot(t)) · c``. Integer scores give a floating loss (as ``np.exp``
    promotes them). Fused because the composed version (logsumexp, getitem, sub, sum, mul)
    costs five graph nodes, which dominates a small network's step; measured in
    ``bench/README.md``. Everything the targets decide is computed inside the op, so a
    compiled function re-reads the targets on every call.
    """

    name = "cross_entropy"
    lecture = Lecture(
        "cross_entropy({0}, y={target}){reduction}",
        ("{dz} · (softmax({0}) − onehot(y)){coef}",),
        symbol="softmax CE",
        gate="softmax cross-entropy (fused): each row's score gradient is "
        "ds = softmax(s) − onehot(y), times the upstream gradient (and the mean's 1/N)",
        fields=_ce_fields,
    )

    def forward(
        x: Any, *, target: Any, class_weights: Any, ignore_index: Any, reduction: str
    ) -> Any:
        return _ce_forward(x, target, class_weights, ignore_index, reduction, False)

    def keeps(x: Any, *, target: Any, class_weights: Any, ignore_index: Any, reduction: str) -> Any:
        # the loss and the softmax, which the backward (or cross_entropy_grad) reuses
        return _ce_forward(x, target, class_weights, ignore_index, reduction, True)

    vjp = (_ce_vjp,)
    jvp = (_ce_jvp,)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        x = rng.normal(size=(5, 4))
        t = rng.integers(0, 4, 5)
        t_ign = t.copy()
        t_ign[1] = -100
        yield (x,), {"target": t, "class_weights": None, "ignore_index": -100, "reduction": "mean"}
        yield (
            (x,),
            {
                "target": t,
                "class_weights": rng.random(4) + 0.5,
                "ignore_index": None,
                "reduction": "sum",
            },
        )
        yield (
            (x,),
            {"target": t_ign, "class_weights": None, "ignore_index": -100, "reduction": "none"},
        )
        yield (
            (x * 3,),
            {
                "target": t_ign,
                "class_weights": rng.random(4) + 0.5,
                "ignore_index": -100,
                "reduction": "mean",
            },
        )


class CERowCoef(Primitive):
    """The coefficient c_i of each row of a cross-entropy, as an (N, 1) column (constant)."""

    name = "cross_entropy_row_coef"
    differentiable = False
    lecture = Lecture(
        "c({0}, y={target})",
        (None,),
        symbol="c(y)",
        gate="cross-entropy row weights: w[y], 0 where ignored, / Σw for a mean",
    )

    def forward(
        x: Any, *, target: Any, class_weights: Any, ignore_index: Any, reduction: str
    ) -> Any:
        x = as_floating(np.asarray(x))
        _, coef = _ce_rows(x, target, class_weights, ignore_index, reduction)
        col = np.empty((x.shape[0], 1), dtype=x.dtype)
        col[:, 0] = coef
        return col

    samples = CrossEntropy.samples


class CETargetTerms(Primitive):
    """onehot(t) · c: the target part of the cross-entropy gradient (constant)."""

    name = "cross_entropy_target_terms"
    differentiable = False
    lecture = Lecture(
        "onehot(y={target}) · c",
        (None,),
        symbol="onehot(y)·c",
        gate="cross-entropy target terms: each row's target entry, weighted",
    )

    def forward(
        x: Any, *, target: Any, class_weights: Any, ignore_index: Any, reduction: str
    ) -> Any:
        x = as_floating(np.asarray(x))
        t, coef = _ce_rows(x, target, class_weights, ignore_index, reduction)
        out = np.zeros(x.shape, dtype=x.dtype)
        out[np.arange(x.shape[0]), t] = coef
        return out

    samples = CrossEntropy.samples


def _ceg_col(g: Any, x: Any, reduction: str) -> Any:
    """The upstream gradient as a factor of the N x C rows: a scalar, or an (N, 1) column."""
    return reshape(g, (x.shape[0], 1)) if reduction == "none" else g


def _ceg_vjp_x(u: Any, out: Any, x: Any, g: Any, **params: Any) -> Any:
    # out = (p - T)·c·g with p = softmax(x); the softmax Jacobian is symmetric:
    # Jᵀw = p·w - p·Σ(p·w) per row, for w = u·c·g.
    from ..core import apply as _apply

    p = softmax(x, axis=1)
    w = u * _apply(CERowCoef, x, **params) * _ceg_col(g, x, params["reduction"])
    return p * w - p * _sum(p * w, axis=1, keepdims=True)


def _ceg_vjp_g(u: Any, out: Any, x: Any, g: Any, **params: Any) -> Any:
    per = _sum(u * _ce_dlogits(x, params), axis=1)
    return per if params["reduction"] == "none" else _sum(per)


def _ceg_jvp_x(t: Any, out: Any, x: Any, g: Any, **params: Any) -> Any:
    p = softmax(x, axis=1)
    dp = p * t - p * _sum(p * t, axis=1, keepdims=True)
    return dp * apply(CERowCoef, x, **params) * _ceg_col(g, x, params["reduction"])


def _ceg_jvp_g(t: Any, out: Any, x: Any, g: Any, **params: Any) -> Any:
    return _ce_dlogits(x, params) * _ceg_col(t, x, params["reduction"])


class CrossEntropyGrad(Primitive):
    """dL/dx of :class:`CrossEntropy` as one primitive: ``(softmax(x) - onehot(t))·c·g``.

    The recorded (or traced) VJP of the cross-entropy applies this op, so the gradient is
    one fast NumPy node (what a compiled backward runs) and stays differentiable: its own
    rules, written with chainrule ops, give the second derivatives.
    """

    name = "cross_entropy_grad"
    lecture = Lecture(
        "(softmax({0}) − onehot(y={target}))·c·{1}",
        (
            "{dz} ⊙ c·{1} through the softmax Jacobian diag(p) − ppᵀ",
            "Σ {dz} ⊙ (softmax({0}) − onehot(y))·c",
        ),
        symbol="∂CE/∂s",
    )

    def forward(
        x: Any, g: Any, *, target: Any, class_weights: Any, ignore_index: Any, reduction: str
    ) -> Any:
        return _ce_grad(x, g, target, class_weights, ignore_index, reduction)

    vjp = (_ceg_vjp_x, _ceg_vjp_g)
    jvp = (_ceg_jvp_x, _ceg_jvp_g)
    reuses = (CrossEntropy, _ce_grad_kept)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for args, params in CrossEntropy.samples(rng):
            n = args[0].shape[0]
            g = rng.normal(size=n) if params["reduction"] == "none" else np.float64(0.7)
            yield (args[0], np.asarray(g)), params
