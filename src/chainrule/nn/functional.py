"""Stateless building blocks: layers' maths, activations and losses as functions.

Everything here is composed from chainrule ops, so gradients (and higher derivatives) come
from the ops' own rules. Losses take *scores/logits*, never probabilities, and are written in
their numerically stable forms.

Conventions (PyTorch's, so code and numbers carry over):

* ``reduction`` is ``"mean"`` (default), ``"sum"`` or ``"none"``.
* Integer class targets; ``ignore_index`` positions contribute nothing.
* ``leaky_relu``'s default slope is 0.01 (PyTorch). The CS231n lectures use 0.1: pass
  ``negative_slope=0.1``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

import chainrule as cr
from chainrule.core import OpError, ShapeError, Tensor, apply, note_random
from chainrule.ops._dtypes import float_dtype
from chainrule.ops.fused import CERowCoef, CrossEntropy, Linear
from chainrule.ops.index import checked_ids, class_targets

if TYPE_CHECKING:
    from chainrule.core.typing import TensorLike

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "l2_penalty",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "multi_margin_loss",
    "multiclass_svm_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]

_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------- activations
def relu(x: TensorLike) -> Tensor:
    """max(x, 0)."""
    return cr.relu(x)


def sigmoid(x: TensorLike) -> Tensor:
    """1 / (1 + exp(-x)), stable for any x."""
    return cr.sigmoid(x)


def tanh(x: TensorLike) -> Tensor:
    """Hyperbolic tangent."""
    return cr.tanh(x)


def leaky_relu(x: TensorLike, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, ``negative_slope * x`` otherwise (PyTorch's default 0.01; lectures 0.1).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.leaky_relu(cr.Tensor([-10.0, 3.0]), 0.1)
    Tensor([-1.,  3.])
    """
    return cr.leaky_relu(x, slope=negative_slope)


def elu(x: TensorLike, alpha: float = 1.0) -> Tensor:
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    return cr.elu(x, alpha=alpha)


def softmax(x: TensorLike, dim: int = -1) -> Tensor:
    """exp(x) / Σ exp(x) along ``dim``."""
    return cr.softmax(x, axis=dim)


def log_softmax(x: TensorLike, dim: int = -1) -> Tensor:
    """x - logsumexp(x) along ``dim``."""
    return cr.log_softmax(x, axis=dim)


# ---------------------------------------------------------------------- layers
def _linear_error(x: Any, weight: Any) -> None:
    xs = tuple(np.shape(x))
    ws = tuple(np.shape(weight))
    if len(ws) != 2:
        raise ShapeError(f"linear: weight must be 2-d (out_features, in_features), got {ws}")
    if not xs or xs[-1] != ws[1]:
        raise ShapeError(
            f"linear: input of shape {xs} does not fit a weight of shape {ws}: "
            f"the input's last axis must have in_features={ws[1]} elements"
        )


def linear(x: TensorLike, weight: TensorLike, bias: TensorLike | None = None) -> Tensor:
    """y = x Wᵀ + b with ``weight`` of shape (out, in), as ``torch.nn.functional.linear``.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> w = cr.Tensor([[1.0, 1.0], [0.0, 1.0]])
    >>> F.linear(cr.Tensor([[1.0, 2.0]]), w, cr.Tensor([0.5, 0.0]))
    Tensor([[3.5, 2. ]])
    """
    xs, ws = np.shape(x), np.shape(weight)
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        _linear_error(x, weight)
    if bias is not None and np.shape(bias) != (ws[0],):
        raise ShapeError(f"linear: bias must have shape ({ws[0]},), got {np.shape(bias)}")
    return apply(Linear, x, weight, bias)


def dropout(
    x: Any, p: float = 0.5, training: bool = True, *, rng: np.random.Generator | None = None
) -> Any:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1-p).

    Scaling at training time keeps the expected activation unchanged, so evaluation
    (``training=False``) is the identity.

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> y = F.dropout(cr.Tensor(np.ones(8)), 0.5, rng=np.random.default_rng(0))
    >>> sorted(set(y.data.tolist()))
    [0.0, 2.0]
    """
    if not 0.0 <= p <= 1.0:
        raise OpError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if p == 1.0:
        return x * np.zeros_like(data)
    if rng is None:
        from .init import default_rng

        rng = default_rng()
    note_random("dropout (its mask is drawn with NumPy)")  # a traced call would freeze it
    dt = data.dtype if data.dtype in (np.float32, np.float64) else np.float64
    keep = rng.random(data.shape, dtype=dt) >= p
    mask = keep.astype(dt)
    mask *= 1.0 / (1.0 - p)
    return x * mask


def embedding(
    ids: Any, weight: Any, padding_idx: int | None = None, sparse: bool = False
) -> Tensor:
    """Rows of ``weight`` for integer ``ids`` (any shape): result shape ``ids.shape + (D,)``.

    ``sparse=True`` uses :func:`chainrule.embedding`, whose gradient reaching a leaf
    ``weight`` is a :class:`chainrule.RowSparse` (only the rows used). ``sparse=False``
    indexes (:func:`chainrule.getitem`) and gives a dense gradient.

    With ``padding_idx``, positions holding that id output zeros and send no gradient to
    the padding row. (PyTorch returns the padding row itself there; the two agree because
    that row starts at zero and never receives a gradient, unless you write into it.)
    """
    idx = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
    # Ops only, so that a compiled call re-reads the ids: their values are checked by the
    # lookup itself or by checked_ids, and the padding mask is computed from them by ops.
    num = (weight.shape if isinstance(weight, Tensor) else np.shape(weight))[0]
    checked = checked_ids(idx, num, "embedding") if padding_idx is not None or not sparse else None
    out = cr.embedding(weight, idx) if sparse else cr.getitem(weight, checked)
    if padding_idx is not None:
        keep = cr.astype(checked != padding_idx, out.dtype)
        out = out * cr.expand_dims(keep, -1)
    return out


# ---------------------------------------------------------------------- losses
def _floating(x: Any) -> Any:
    """Scores as a floating Tensor/array: integers and bools are cast as ``np.exp`` would.

    A loss is not integral, and computing it in the scores' integer dtype would truncate
    it (and the class weights, probability targets, ... cast to that dtype).
    """
    if not isinstance(x, Tensor):
        x = np.asarray(x)
    dt = x.dtype
    return x if dt.kind in "fc" else cr.astype(x, float_dtype(dt))


def _reduce(per: Tensor, reduction: str, who: str) -> Tensor:
    if reduction == "mean":
        return cr.mean(per)
    if reduction == "sum":
        return cr.sum(per)
    if reduction == "none":
        return per
    raise OpError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_reduction(reduction: str, who: str) -> None:
    if reduction not in _REDUCTIONS:
        raise OpError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _int_targets(target: Any, n: int, who: str) -> np.ndarray:
    """The targets as a 1-d integer array of ``n`` labels. Their values are checked by
    the ops that read them (``class_targets``, ``cross_entropy``): on every call, a
    compiled one too, where this function runs only while tracing."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise OpError(
            f"{who}: class targets must be integers, got dtype {t.dtype} (for "
            f"probability targets pass a float array shaped like the scores)"
        )
    if t.ndim != 1:
        t = t.reshape(-1)  # (a 1-d array is passed on as it is: a traced call re-reads it)
    if t.shape[0] != n:
        raise ShapeError(f"{who}: {n} rows of scores but {t.shape[0]} targets")
    return t


def _class_weights(weight: Any, n_classes: int, dtype: Any, who: str) -> np.ndarray | None:
    """One weight per class as an array of the scores' dtype (None: unweighted)."""
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        # cast by an op, so that weights given as a compiled function's argument are
        # re-read every call (a NumPy cast of .data would be a constant of the trace)
        w = (weight if weight.dtype == dtype else cr.astype(weight, dtype)).data
    else:
        w = np.asarray(weight, dtype=dtype)
    if w.shape != (n_classes,):
        raise ShapeError(
            f"{who}: weight must have shape ({n_classes},) (one per class), got {w.shape}"
        )
    return w


def _flatten_classes(x: Any, who: str) -> tuple[Any, tuple[int, ...]]:
    """(N, C) view of scores of shape (C,), (N, C) or (N, C, d1, ...) -> rows, batch shape."""
    shape = tuple(x.shape) if isinstance(x, Tensor) else np.shape(x)
    if len(shape) == 0:
        raise ShapeError(f"{who}: scores must have a class axis, got a 0-d tensor")
    if len(shape) == 1:
        return cr.reshape(x, (1, shape[0])), ()
    if len(shape) == 2:
        return x, (shape[0],)
    # (N, C, d1, ...) -> (N, d1, ..., C) -> (N*d1*..., C), as PyTorch's K-dim case
    moved = cr.permute(x, 0, *range(2, len(shape)), 1)
    return cr.reshape(moved, (-1, shape[1])), (shape[0],) + shape[2:]


def cross_entropy(
    input: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """Softmax cross-entropy from raw scores (logits), as ``torch.nn.functional.cross_entropy``.

    For class targets: ``loss_i = w[y_i] · (logsumexp(x_i) - x_i[y_i])`` (= -w·log softmax),
    computed without forming the softmax. ``"mean"`` is PyTorch's *weighted* mean
    ``Σ loss_i / Σ w[y_i]`` over targets that are not ``ignore_index`` (NaN if all are).
    Probability targets (a float array shaped like ``input``) give
    ``loss_i = -Σ_c w_c p_ic log softmax(x_i)_c`` and ``"mean"`` divides by N.

    Parameters
    ----------
    input : Tensor, shape (N, C), (C,) or (N, C, d1, ...)
    target : int array of shape (N,) (or (N, d1, ...)), or float probabilities like input
        (a probability Tensor that requires grad gets its gradient, as in PyTorch)
    weight : array of shape (C,), optional
        A rescaling weight per class.
    ignore_index : int
        Targets equal to it contribute nothing (class targets only).
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> x = cr.Tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
    >>> loss = F.cross_entropy(x, [0, 2])
    >>> round(loss.item(), 4)        # mean of log(1 + 2/e²) and log 3
    0.6691
    >>> loss.backward()
    >>> x.grad.data.round(3)         # (softmax - onehot) / N
    array([[-0.107,  0.053,  0.053],
           [ 0.167,  0.167, -0.333]])
    """
    who = "cross_entropy"
    _check_reduction(reduction, who)
    input = _floating(input)
    x, batch_shape = _flatten_classes(input, who)
    n, c = x.shape
    tgt = target.data if isinstance(target, Tensor) else np.asarray(target)
    w = _class_weights(weight, c, x.dtype, who)
    if tgt.dtype.kind == "f":
        probs = target if isinstance(target, Tensor) else tgt
        return _soft_cross_entropy(x, input, probs, w, reduction, batch_shape)
    # the op checks that the targets are classes (a compiled call runs only the op) and
    # applies ignore_index, the class weights and the mean's denominator, from this call's
    # targets (no decision on their values here: see CrossEntropy)
    t = _int_targets(tgt, n, who)
    loss = apply(
        CrossEntropy, x, target=t, class_weights=w, ignore_index=ignore_index, reduction=reduction
    )
    return cr.reshape(loss, batch_shape) if reduction == "none" else loss


def _soft_cross_entropy(
    x: Any,
    input: Any,
    probs: Any,
    w: np.ndarray | None,
    reduction: str,
    batch_shape: tuple[int, ...],
) -> Tensor:
    shape = tuple(probs.shape)
    if shape != tuple(input.shape):
        raise ShapeError(
            f"cross_entropy: probability targets must have the scores' shape "
            f"{tuple(input.shape)}, got {shape}"
        )
    # by ops: probabilities given as a compiled function's argument are re-read every
    # call (and a target Tensor that requires grad gets its gradient, as in PyTorch)
    p = probs
    if len(shape) > 2:
        p = cr.reshape(cr.moveaxis(probs, 1, -1), (-1, shape[1]))
    elif len(shape) == 1:
        p = cr.reshape(probs, (1, -1))
    if p.dtype != x.dtype:
        p = cr.astype(p, x.dtype)
    if w is not None:
        p = p * w
    per = -cr.sum(cr.log_softmax(x, axis=1) * p, axis=1)
    if reduction == "none":
        return cr.reshape(per, batch_shape)
    return _reduce(per, reduction, "cross_entropy")


def nll_loss(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (e.g. from log_softmax).

    ``cross_entropy(x, y) == nll_loss(log_softmax(x), y)``; same weighting rules.
    """
    who = "nll_loss"
    _check_reduction(reduction, who)
    input = _floating(input)
    x, batch_shape = _flatten_classes(input, who)
    n, c = x.shape
    t = _int_targets(target, n, who)
    w = _class_weights(weight, c, x.dtype, who)
    # Ops only, so that a compiled call re-reads the targets: class_targets checks them
    # (ignored ones read class 0), the cross-entropy's row coefficients weight each row
    # (w[y], 0 where ignored, / Σw for a mean: NaN when every row is ignored, as PyTorch)
    col = class_targets(t, c, who, ignore_index=ignore_index)
    coef = apply(
        CERowCoef, x, target=t, class_weights=w, ignore_index=ignore_index, reduction=reduction
    )
    per = -(cr.gather(x, col, axis=1) * coef)
    if reduction == "none":
        return cr.reshape(per, batch_shape)
    if reduction == "mean" and n == 0:  # (a shape, so fixed in compiled code too)
        return cr.sum(per) * np.nan  # a mean over no rows is 0 / 0: NaN, as PyTorch
    return cr.sum(per)


def binary_cross_entropy_with_logits(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean", pos_weight: Any = None
) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable formula (PyTorch's semantics).

    ``loss = max(x, 0) - x·y + log(1 + exp(-|x|))``, which never overflows; with
    ``pos_weight`` p: ``(1 - y)·x + (1 + (p - 1)·y)·(max(-x, 0) + log(1 + exp(-|x|)))``.
    At x = 0 the max and |x| kinks cancel (max splits ties ½/½), so the gradient there is
    exactly σ(0) - y.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> x = cr.Tensor([0.0, 1000.0, -1000.0], requires_grad=True)
    >>> F.binary_cross_entropy_with_logits(x, [1.0, 1.0, 1.0], reduction="none").tolist()
    [0.6931471805599453, 0.0, 1000.0]
    """
    who = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, who)
    x = _floating(input)
    xdata = x.data if isinstance(x, Tensor) else x
    y = target if isinstance(target, Tensor) else np.asarray(target, dtype=xdata.dtype)
    if tuple(y.shape) != xdata.shape:
        raise ShapeError(
            f"{who}: target shape {tuple(y.shape)} must equal the input shape {xdata.shape}"
        )
    soft = cr.log(1.0 + cr.exp(-cr.abs(x)))  # log(1 + e^-|x|) in (0, log 2]: no overflow
    if pos_weight is None:
        per = cr.maximum(x, 0.0) - x * y + soft
    else:
        pw = (
            pos_weight
            if isinstance(pos_weight, Tensor)
            else np.asarray(pos_weight, dtype=xdata.dtype)
        )
        per = (1.0 - y) * x + (1.0 + (pw - 1.0) * y) * (cr.maximum(-x, 0.0) + soft)
    if weight is not None:
        per = per * (
            weight if isinstance(weight, Tensor) else np.asarray(weight, dtype=xdata.dtype)
        )
    return _reduce(per, reduction, who)


def mse_loss(input: Any, target: Any, reduction: str = "mean", half: bool = False) -> Tensor:
    """Squared error (y - f)², or the lectures' ½(y - f)² with ``half=True``.

    ``reduction="mean"`` averages over all elements (PyTorch's ``mse_loss``); the halved
    form is the one whose gradient is simply (f - y).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> f, y = cr.Tensor([1.0, 3.0]), cr.Tensor([0.0, 0.0])
    >>> F.mse_loss(f, y).item(), F.mse_loss(f, y, half=True).item()
    (5.0, 2.5)
    """
    who = "mse_loss"
    _check_reduction(reduction, who)
    if tuple(np.shape(target)) != tuple(np.shape(input)):
        raise ShapeError(
            f"{who}: target shape {tuple(np.shape(target))} must equal the input "
            f"shape {tuple(np.shape(input))} (broadcasting here is usually a bug)"
        )
    d = input - target
    per = d * d
    if half:
        per = per * 0.5
    return _reduce(per, reduction, who)


def _margin_terms(
    input: Any, target: Any, margin: float, p: int, who: str
) -> tuple[Any, Any, int, tuple[int, ...]]:
    """(hinge terms of the other classes, the targets as an (N, 1) column, C, batch shape)."""
    x, batch_shape = _flatten_classes(input, who)
    if len(batch_shape) > 1:
        raise ShapeError(f"{who}: scores must be (N, C) or (C,), got {tuple(input.shape)}")
    n, c = x.shape
    t = _int_targets(target, n, who)
    # the labels enter through ops only (a Tensor target stays one), so a compiled call
    # re-reads them: class_targets checks them on every call, and the mask of the other
    # classes is an op too, not a NumPy array
    col = class_targets(target if isinstance(target, Tensor) else t, c, who)
    correct = cr.gather(x, col, axis=1)  # s_y, shape (N, 1)
    hinge = cr.relu(x - correct + margin)  # max(0, s_j - s_y + Δ)
    if p == 2:
        hinge = hinge * hinge
    elif p != 1:
        raise OpError(f"{who}: p must be 1 or 2, got {p}")
    others = cr.astype(col != np.arange(c), x.dtype)  # drop the j = y term
    return hinge * others, col, c, batch_shape


def multi_margin_loss(
    input: Any,
    target: Any,
    p: int = 1,
    margin: float = 1.0,
    weight: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Multiclass hinge loss as ``torch.nn.functional.multi_margin_loss``.

    ``loss_i = Σ_{j≠y_i} w[y_i]·max(0, margin - x_i[y_i] + x_i[j])^p / C``: PyTorch divides by
    the number of classes C. The lectures' multiclass SVM loss has no 1/C: use
    :func:`multiclass_svm_loss`. ``"mean"`` averages over the N rows (weights do not
    renormalise here, unlike cross_entropy).
    """
    who = "multi_margin_loss"
    _check_reduction(reduction, who)
    # floating: the loss divides by C, and the class weights must not be cast to integers
    terms, t, c, batch_shape = _margin_terms(_floating(input), target, margin, p, who)
    if weight is not None:
        # by ops: weights given as a compiled function's argument are re-read every call
        w = weight if isinstance(weight, Tensor) else np.asarray(weight)
        terms = terms * cr.take(cr.astype(w, terms.dtype), t)  # w[y_i] per row, (N, 1)
    per = cr.sum(terms, axis=1) * (1.0 / c)
    if reduction == "none":
        return cr.reshape(per, batch_shape)
    return _reduce(per, reduction, who)


def multiclass_svm_loss(
    scores: Any, target: Any, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """The lectures' multiclass SVM loss: ``L_i = Σ_{j≠y_i} max(0, s_j - s_{y_i} + Δ)``.

    Not divided by the number of classes (``multi_margin_loss`` is, following PyTorch:
    ``multiclass_svm_loss = C · multi_margin_loss``). ``"mean"`` averages over rows.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> s = cr.Tensor([[3.2, 5.1, -1.7]])          # the lecture's cat example, y = 0
    >>> round(F.multiclass_svm_loss(s, [0]).item(), 4)
    2.9
    """
    who = "multiclass_svm_loss"
    _check_reduction(reduction, who)
    terms, _, _, batch_shape = _margin_terms(scores, target, margin, 1, who)
    per = cr.sum(terms, axis=1)
    if reduction == "none":
        return cr.reshape(per, batch_shape)
    return _reduce(per, reduction, who)


def l2_penalty(params: Iterable[Any], lam: float) -> Tensor:
    """λ · Σ W² over ``params`` (pass the weights you regularise, usually not biases).

    Note the lectures' convention is R(W) = Σ W² with loss + λR; some texts use ½λΣW² (whose
    gradient is λW): pass ``lam/2`` to get that one.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> F.l2_penalty([w], 0.1).item()
    0.5
    """
    total: Tensor | None = None
    for p in params:
        term = cr.sum(p * p)
        total = term if total is None else total + term
    if total is None:
        return Tensor(0.0)
    return total * lam
