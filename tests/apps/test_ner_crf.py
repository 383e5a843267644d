"""The CRF (sentence-level likelihood) against brute-force enumeration of all tag paths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule.apps.ner.crf import (
    CRFError,
    constraint_penalties,
    crf_log_partition,
    crf_nll,
    crf_sequence_score,
    viterbi_decode,
)
from chainrule.apps.ner.tags import TagSet
from chainrule.testing import gradcheck


def _path_score(e, path, s, a, en):
    """Score of one path of one sentence, written as the definition (a Python loop)."""
    total = s[path[0]] + en[path[-1]]
    for t, y in enumerate(path):
        total += e[t, y]
        if t:
            total += a[path[t - 1], y]
    return total


def _brute(e, length, s, a, en):
    """(log Z, best path, best score) of one sentence by enumerating all K**T paths."""
    k = e.shape[1]
    scores = {
        p: _path_score(e[:length], p, s, a, en) for p in itertools.product(range(k), repeat=length)
    }
    vals = np.array(list(scores.values()))
    log_z = np.log(np.exp(vals - vals.max()).sum()) + vals.max()
    best = max(scores, key=scores.get)
    return log_z, list(best), scores[best]


def _problem(rng, lengths, k):
    b, t = len(lengths), max(lengths)
    e = rng.normal(size=(b, t, k))
    mask = np.arange(t)[None, :] < np.array(lengths)[:, None]
    e[~mask] = rng.normal(size=e[~mask].shape) * 100  # garbage under padding must not matter
    return e, mask, rng.normal(size=k), rng.normal(size=(k, k)), rng.normal(size=k)


@pytest.mark.parametrize("lengths,k", [([1], 3), ([3, 1, 2], 3), ([4, 4], 2), ([2, 5, 3], 3)])
def test_log_partition_and_viterbi_match_enumeration(rng, lengths, k):
    e, mask, s, a, en = _problem(rng, lengths, k)
    log_z = crf_log_partition(e, mask, s, a, en).data
    paths, best_scores = viterbi_decode(e, mask, s, a, en)
    for i, n in enumerate(lengths):
        bz, bpath, bscore = _brute(e[i], n, s, a, en)
        assert log_z[i] == pytest.approx(bz, rel=1e-10)
        assert paths[i, :n].tolist() == bpath
        assert (paths[i, n:] == -1).all()
        assert best_scores[i] == pytest.approx(bscore, rel=1e-10)


def test_sequence_score_matches_definition(rng):
    lengths = [3, 1, 4]
    e, mask, s, a, en = _problem(rng, lengths, 4)
    tags = rng.integers(0, 4, size=mask.shape)
    tags[~mask] = 99  # ignored
    got = crf_sequence_score(e, tags, mask, s, a, en).data
    for i, n in enumerate(lengths):
        assert got[i] == pytest.approx(_path_score(e[i], list(tags[i, :n]), s, a, en))


def test_probabilities_sum_to_one(rng):
    e, mask, s, a, en = _problem(rng, [3], 3)
    total = 0.0
    for p in itertools.product(range(3), repeat=3):
        total += np.exp(-crf_nll(e, [list(p)], mask, s, a, en).item())
    assert total == pytest.approx(1.0, rel=1e-10)


def test_gradient_by_gradcheck(rng):
    lengths = [3, 1, 2]
    e, mask, s, a, en = _problem(rng, lengths, 3)
    e[~mask] = 0.0
    tags = rng.integers(0, 3, size=mask.shape)

    def f(e_, s_, a_, en_):
        return crf_nll(e_, tags, mask, s_, a_, en_, reduction="sum")

    assert gradcheck(f, e, s, a, en)


def test_gradient_of_log_partition_is_marginals(rng):
    # dlogZ/dE[t, j] is the probability that token t has tag j: rows sum to 1 on real tokens
    # and are 0 under padding.
    e, mask, s, a, en = _problem(rng, [4, 2], 3)
    et = cr.Tensor(e, requires_grad=True)
    crf_log_partition(et, mask, s, a, en).sum().backward()
    g = et.grad.data
    np.testing.assert_allclose(g.sum(axis=2)[mask], 1.0, rtol=1e-10)
    assert np.all(g[~mask] == 0)


def test_reductions(rng):
    e, mask, s, a, en = _problem(rng, [3, 2], 3)
    tags = np.zeros(mask.shape, dtype=int)
    per = crf_nll(e, tags, mask, s, a, en, reduction="none").data
    assert per.shape == (2,) and (per > 0).all()
    assert crf_nll(e, tags, mask, s, a, en).item() == pytest.approx(per.sum())
    assert crf_nll(e, tags, mask, s, a, en, "mean").item() == pytest.approx(per.mean())
    assert crf_nll(e, tags, mask, s, a, en, "token_mean").item() == pytest.approx(per.sum() / 5)
    with pytest.raises(CRFError, match="reduction"):
        crf_nll(e, tags, mask, s, a, en, "max")


def test_constraints_forbid_ill_formed_paths(rng):
    ts = TagSet(["PER", "LOC"])
    k = len(ts)
    s, a, en = constraint_penalties(*ts.transition_mask(), dtype=np.float64)
    e = rng.normal(size=(5, 6, k)) * 3
    e[:, :, ts.index("I-PER")] += 4  # tempt the decoder towards stray I- tags
    mask = np.ones((5, 6), bool)
    paths, _ = viterbi_decode(e, mask, s, a, en)
    start_ok, trans_ok, _ = ts.transition_mask()
    for p in paths:
        assert start_ok[p[0]]
        assert all(trans_ok[i, j] for i, j in zip(p[:-1], p[1:], strict=True))


def test_bad_inputs_raise(rng):
    e, mask, s, a, en = _problem(rng, [2, 2], 3)
    with pytest.raises(cr.ShapeError, match="trans"):
        crf_log_partition(e, mask, s, a[:2], en)
    with pytest.raises(cr.ShapeError, match="mask"):
        crf_log_partition(e, mask[:, :1], s, a, en)
    bad = mask.copy()
    bad[0, 0] = False
    with pytest.raises(CRFError, match="at least one token"):
        viterbi_decode(e, bad, s, a, en)
    gap = np.array([[True, False], [True, True]])
    gap3 = np.concatenate([gap, np.array([[True], [True]])], axis=1)
    e3 = np.concatenate([e, e[:, :1]], axis=1)
    with pytest.raises(CRFError, match="left-aligned"):
        crf_log_partition(e3, gap3, s, a, en)
