"""Sentence-level log-likelihood (a linear-chain CRF) on top of per-token scores.

Collobert et al. (2011) call it *sentence-level log-likelihood* (SLL): the network gives
every token a score per tag (the *emissions* ``E[b, t, j]``), and learned transition scores
``A[i, j]`` (tag ``i`` followed by tag ``j``), plus start scores ``s[j]`` and end scores
``e[i]``, tie neighbouring decisions together. A tag path ``y`` scores

    score(y) = s[y_0] + Σ_t E[t, y_t] + Σ_{t>0} A[y_{t-1}, y_t] + e[y_last]

and its probability is ``exp(score(y)) / Z`` with ``Z`` the sum over all ``K**T`` paths.
The *forward algorithm* computes ``log Z`` in ``O(T K²)`` by a running ``logsumexp``.

Everything here that needs a gradient is built from chainrule ops only, so the training
gradient (dlog Z / dE is the tag marginals, for instance) comes from reverse-mode autodiff
— nothing is written by hand. Decoding (:func:`viterbi_decode`) needs no gradient and is
plain NumPy.

Batches are padded: ``mask[b, t]`` is True for real tokens, and every sentence must be
left-aligned (its tokens first) and non-empty.

Under :func:`chainrule.compile` (where array arguments arrive as traced Tensors) every
function here works on the *values* of ``tags`` and ``mask`` only through chainrule ops, so
the compiled code stays right for later batches of the same shape: the loss, its gradient
and the Viterbi paths equal the eager ones, and every call's tags and mask are checked
(tag ids in range, mask rows left-aligned) by ops, as eagerly by Python. Python control
flow depends on shapes only (one trace per batch shape; pad the time axis to a few lengths
to keep them few). Given
NumPy arrays, :func:`viterbi_decode` runs in NumPy and returns arrays; given a Tensor
``emissions`` or ``mask`` it runs on chainrule ops and returns Tensors (so it can be
compiled).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from chainrule.core import ChainruleError, ShapeError, Tensor, apply
from chainrule.ops.index import checked_ids
from chainrule.ops.toolbox import NonzeroCheck

__all__ = [
    "CRFError",
    "constraint_penalties",
    "crf_log_partition",
    "crf_nll",
    "crf_sequence_score",
    "viterbi_decode",
]

# Added to forbidden transitions (e.g. O -> I-PER) when decoding is constrained. Large
# enough that exp() of it is 0 in float32, finite so that gradients stay finite.
FORBIDDEN = -1.0e4


class CRFError(ChainruleError):
    """Inconsistent shapes or masks given to the CRF functions."""


def _arr(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _check(emissions: Any, mask: Any, start: Any, trans: Any, end: Any, where: str) -> np.ndarray:
    shape = tuple(np.shape(emissions))
    if len(shape) != 3:
        raise ShapeError(f"{where}: emissions must have shape (batch, time, tags), got {shape}")
    b, t, k = shape
    if np.shape(trans) != (k, k) or np.shape(start) != (k,) or np.shape(end) != (k,):
        raise ShapeError(
            f"{where}: with {k} tags, start and end must have shape ({k},) and trans ({k}, {k});"
            f" got {np.shape(start)}, {np.shape(end)} and {np.shape(trans)}"
        )
    m = _arr(mask).astype(bool, copy=False)
    if m.shape != (b, t):
        raise ShapeError(f"{where}: mask must have shape {(b, t)} (batch, time), got {m.shape}")
    if t == 0 or not m[:, 0].all():
        raise CRFError(f"{where}: every sentence needs at least one token (mask[:, 0] all True)")
    if t > 1 and (m[:, 1:] & ~m[:, :-1]).any():
        raise CRFError(f"{where}: mask rows must be left-aligned (True...True False...False)")
    return m


def _checked_mask(mask: Tensor, where: str) -> Tensor:
    """A Tensor mask (a compiled function's argument: new values on every call) checked as
    :func:`_check` checks it, but by an op, so compiled code checks each call's mask, not
    only the traced one (a mask with holes would silently give a wrong loss)."""
    m = cr.astype(mask, np.int64)  # 1 at real tokens
    ok = m[:, :1]  # each row starts with a real token, and none follows padding
    if m.shape[1] > 1:
        ok = cr.concatenate([ok, cr.astype(cr.le(m[:, 1:], m[:, :-1]), np.int64)], axis=1)
    ok = apply(
        NonzeroCheck,
        ok,
        message=f"{where}: mask rows must start with a real token and be left-aligned "
        f"(True...True False...False)",
    )
    return cr.gt(m * ok, 0)  # the mask itself, through the check: the program keeps it


def crf_log_partition(emissions: Any, mask: Any, start: Any, trans: Any, end: Any) -> Any:
    """log Z for each sentence of a padded batch: the forward algorithm.

    Parameters
    ----------
    emissions : Tensor, shape (batch, time, tags)
    mask : array of bool, shape (batch, time)
        True at real tokens; rows left-aligned, first column all True.
    start, end : Tensor, shape (tags,)
    trans : Tensor, shape (tags, tags)
        ``trans[i, j]``: score of tag ``j`` right after tag ``i``.

    Returns
    -------
    Tensor, shape (batch,)

    Examples
    --------
    >>> import numpy as np
    >>> E = np.zeros((1, 2, 2)); z = np.zeros(2); A = np.zeros((2, 2))
    >>> float(crf_log_partition(E, np.ones((1, 2), bool), z, A, z)[0])  # log(2 * 2 paths)
    1.3862943611198906
    """
    m = _check(emissions, mask, start, trans, end, "crf_log_partition")
    # A Tensor mask (a traced argument under compile) is read by ops only: its values may
    # change from call to call, so no Python decision may depend on them.
    traced = isinstance(mask, Tensor)
    if traced:
        mask = _checked_mask(mask, "crf_log_partition")
    emissions, start, trans, end = (cr.as_tensor(x) for x in (emissions, start, trans, end))
    n_time = m.shape[1]
    # alpha[b, j] = log Σ over paths of the first t tokens that end in tag j.
    alpha = emissions[:, 0] + start
    trans_b = cr.expand_dims(trans, 0)  # (1, K, K): broadcast over the batch
    for t in range(1, n_time):
        scores = cr.expand_dims(alpha, 2) + trans_b  # (B, K_prev, K_next)
        new = cr.logsumexp(scores, axis=1) + emissions[:, t]
        if traced:
            alpha = cr.where(mask[:, t : t + 1], new, alpha)
        elif m[:, t].all():
            alpha = new
        else:
            # A finished sentence keeps its alpha: the end score is added after the loop.
            alpha = cr.where(m[:, t, None], new, alpha)
    return cr.logsumexp(alpha + end, axis=1)


def crf_sequence_score(
    emissions: Any, tags: Any, mask: Any, start: Any, trans: Any, end: Any
) -> Any:
    """Score of the given tag paths (the numerator of the CRF likelihood, in log space).

    Parameters
    ----------
    emissions : Tensor, shape (batch, time, tags)
    tags : array of int, shape (batch, time)
        Tag ids; values at padded positions are ignored.
    mask, start, trans, end
        As in :func:`crf_log_partition`.

    Returns
    -------
    Tensor, shape (batch,)

    Examples
    --------
    >>> import numpy as np
    >>> E = np.array([[[1.0, 0.0], [0.0, 2.0]]])
    >>> A = np.array([[0.0, 0.5], [0.0, 0.0]])
    >>> s, e = np.array([0.1, 0.0]), np.array([0.0, 0.3])
    >>> float(crf_sequence_score(E, [[0, 1]], np.ones((1, 2), bool), s, A, e)[0])
    3.9
    """
    m = _check(emissions, mask, start, trans, end, "crf_sequence_score")
    traced = isinstance(tags, Tensor) or isinstance(mask, Tensor)
    y_now = np.asarray(_arr(tags))
    emissions, start, trans, end = (cr.as_tensor(x) for x in (emissions, start, trans, end))
    b, n_time = m.shape
    if y_now.shape != (b, n_time):
        raise ShapeError(
            f"crf_sequence_score: tags must have shape {(b, n_time)}, got {y_now.shape}"
        )
    k = np.shape(emissions)[2]
    y_ok = np.where(m, y_now, 0)
    if y_ok.size and (y_ok.min() < 0 or y_ok.max() >= k):
        raise CRFError(
            f"crf_sequence_score: tag ids must lie in [0, {k}), got {y_ok.min()}..{y_ok.max()}"
        )
    rows = np.arange(b)[:, None]
    cols = np.arange(n_time)[None, :]
    if traced:
        # Tags and mask as Tensors: the indices below are computed by ops, so a compiled
        # call re-reads them (NumPy on their values would freeze the first batch's).
        mt = _checked_mask(cr.as_tensor(mask), "crf_sequence_score")
        y: Any = cr.where(mt, cr.astype(cr.as_tensor(tags), np.int64), 0)
        y = checked_ids(y, k, "crf_sequence_score", "tag ids")  # (NumPy reads -1 as K-1)
        w: Any = cr.astype(mt, emissions.dtype)
        lengths: Any = cr.astype(mt, np.int64).sum(axis=1)
    else:
        y = y_ok.astype(np.int64, copy=False)  # padded positions point at a valid tag
        w = m.astype(emissions.dtype)  # ... and are masked here
        lengths = m.sum(axis=1)
    emit = (emissions[rows, cols, y] * w).sum(axis=1)
    last = y[np.arange(b), lengths - 1]
    score = emit + start[y[:, 0]] + end[last]
    if n_time > 1:
        steps = trans[y[:, :-1], y[:, 1:]] * w[:, 1:]  # transition into each real token t>0
        score = score + steps.sum(axis=1)
    return score


def crf_nll(
    emissions: Any, tags: Any, mask: Any, start: Any, trans: Any, end: Any, reduction: str = "sum"
) -> Any:
    """Negative sentence-level log-likelihood: ``log Z - score(gold path)``.

    Parameters
    ----------
    emissions, tags, mask, start, trans, end
        See :func:`crf_sequence_score`.
    reduction : {"sum", "mean", "token_mean", "none"}
        Sum over sentences, mean over sentences, sum divided by the number of real tokens
        (the scale of a per-word loss), or the per-sentence values.

    Examples
    --------
    >>> import numpy as np
    >>> E = np.zeros((1, 3, 2)); z = np.zeros(2); A = np.zeros((2, 2))
    >>> round(float(crf_nll(E, [[0, 1, 0]], np.ones((1, 3), bool), z, A, z)), 4)  # log 8
    2.0794
    """
    if reduction not in ("sum", "mean", "token_mean", "none"):
        raise CRFError(
            f"crf_nll: unknown reduction {reduction!r}; use 'sum', 'mean', 'token_mean' or 'none'"
        )
    nll = crf_log_partition(emissions, mask, start, trans, end) - crf_sequence_score(
        emissions, tags, mask, start, trans, end
    )
    if reduction == "none":
        return nll
    if reduction == "sum":
        return nll.sum()
    if reduction == "mean":
        return nll.sum() / nll.shape[0]
    if isinstance(mask, Tensor):  # the token count of this call, read by ops
        return nll.sum() / cr.astype(cr.astype(mask, np.int64).sum(), nll.dtype)
    return nll.sum() / max(int(np.asarray(_arr(mask)).sum()), 1)


def viterbi_decode(
    emissions: Any, mask: Any, start: Any, trans: Any, end: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Best tag path of each sentence (max-product version of the forward algorithm).

    Parameters
    ----------
    emissions, mask, start, trans, end
        As in :func:`crf_log_partition` (Tensors or arrays; no gradient is recorded).

    Returns
    -------
    paths : ndarray of int64, shape (batch, time)
        Best tag ids; padded positions hold -1.
    scores : ndarray, shape (batch,)
        Score of each best path (:func:`crf_sequence_score` of ``paths``).

    Both are Tensors (the same values, no gradient) when ``emissions`` or ``mask`` is a
    Tensor: the decoding then runs on chainrule ops, and ``chainrule.compile`` can trace it.

    Examples
    --------
    >>> import numpy as np
    >>> E = np.array([[[2.0, 0.0], [2.0, 0.0], [0.0, 1.0]]])
    >>> A = np.array([[0.0, -5.0], [0.0, 0.0]])      # 0 -> 1 is expensive
    >>> paths, _ = viterbi_decode(E, np.ones((1, 3), bool), np.zeros(2), A, np.zeros(2))
    >>> paths.tolist()
    [[0, 0, 0]]
    """
    m = _check(emissions, mask, start, trans, end, "viterbi_decode")
    if isinstance(emissions, Tensor) or isinstance(mask, Tensor):
        return _viterbi_ops(emissions, mask, start, trans, end)
    # The emissions are not copied to float64 as a whole (a long sentence would double its
    # memory); each step's slice is promoted by adding it to the float64 running scores.
    e = np.asarray(_arr(emissions))
    if e.dtype.kind != "f":
        e = e.astype(np.float64)
    a = np.asarray(_arr(trans), dtype=np.float64)
    s = np.asarray(_arr(start), dtype=np.float64)
    en = np.asarray(_arr(end), dtype=np.float64)
    b, n_time, k = e.shape
    delta = e[:, 0] + s
    # Back-pointers are tag ids < k: the smallest integer type that holds them keeps this
    # table, the only (batch, time, tags) array here, at one byte per cell for NER.
    back = np.zeros((b, n_time, k), dtype=np.min_scalar_type(max(k - 1, 0)))
    itself = np.arange(k)[None, :]
    full = m.all(axis=0)  # time steps where no sentence has ended yet (the common case)
    for t in range(1, n_time):
        cand = delta[:, :, None] + a  # (B, K_prev, K_next)
        best = cand.argmax(axis=1)  # (B, K_next)
        new = cand.max(axis=1)  # the value at best, without a gather
        new += e[:, t]
        if full[t]:
            delta = new
            back[:, t] = best
        else:
            step = m[:, t, None]
            delta = np.where(step, new, delta)
            # Finished sentences point at themselves so the backtrack walks the padding.
            back[:, t] = np.where(step, best, itself)
    final = delta + en
    last = final.argmax(axis=1)
    scores = final[np.arange(b), last]
    paths = np.empty((b, n_time), dtype=np.int64)
    cur = last
    for t in range(n_time - 1, -1, -1):
        paths[:, t] = cur
        if t:
            cur = back[np.arange(b), t, cur]
    paths[~m] = -1
    return paths, scores


def _viterbi_ops(
    emissions: Any, mask: Any, start: Any, trans: Any, end: Any
) -> tuple[Tensor, Tensor]:
    """:func:`viterbi_decode` written with chainrule ops (traceable: the mask and the
    back-pointers are read by ops), same arithmetic as the NumPy version step for step, so
    the paths and scores are the same."""
    # detach(): decoding records no gradient, and a compiled call then has no
    # differentiable output (no_grad alone is not seen by chainrule.compile's analysis).
    with cr.no_grad():
        e = cr.as_tensor(emissions).detach()
        if e.dtype.kind != "f":
            e = cr.astype(e, np.float64)
        mt = _checked_mask(cr.as_tensor(mask), "viterbi_decode")
        a, s, en = (cr.astype(cr.as_tensor(x).detach(), np.float64) for x in (trans, start, end))
        b, n_time, k = e.shape
        delta = e[:, 0] + s
        itself = np.broadcast_to(np.arange(k), (b, k))
        back: list[Any] = [None]
        for t in range(1, n_time):
            cand = cr.expand_dims(delta, 2) + a  # (B, K_prev, K_next)
            best = cr.argmax(cand, axis=1)  # (B, K_next)
            new = cand.max(axis=1) + e[:, t]
            step = mt[:, t : t + 1]
            delta = cr.where(step, new, delta)
            back.append(cr.where(step, best, itself))  # finished: point at themselves
        final = delta + en
        last = cr.argmax(final, axis=1)
        rows = np.arange(b)
        scores = final[rows, last]
        cols = [last]
        cur = last
        for t in range(n_time - 1, 0, -1):
            cur = back[t][rows, cur]
            cols.append(cur)
        paths = cr.stack(cols[::-1], axis=1)
        return cr.where(mt, paths, -1), scores


def constraint_penalties(
    start_ok: np.ndarray, trans_ok: np.ndarray, end_ok: np.ndarray, dtype: Any = np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Additive scores that forbid transitions: 0 where allowed, a large negative elsewhere.

    Takes the boolean masks of :meth:`chainrule.apps.ner.tags.TagSet.transition_mask`.

    Examples
    --------
    >>> s, a, e = constraint_penalties(np.array([True, False]), np.ones((2, 2), bool),
    ...                                np.array([True, True]))
    >>> s.tolist()
    [0.0, -10000.0]
    """

    def pen(ok: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(ok, dtype=bool), 0.0, FORBIDDEN).astype(dtype)

    return pen(start_ok), pen(trans_ok), pen(end_ok)
