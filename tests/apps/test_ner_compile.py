"""The NER app under ``chainrule.compile``: the CRF, Viterbi and compiled training equal eager."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.apps.ner.crf import crf_nll, viterbi_decode
from chainrule.apps.ner.data import FeatureExtractor, toy_corpus
from chainrule.apps.ner.model import WindowTagger, padded_length
from chainrule.apps.ner.train import TrainConfig, train
from chainrule.nn import functional as F

K = 5


def _crf_batch(rng, b=4, t=7, k=K):
    lengths = rng.integers(1, t + 1, b)
    lengths[0] = t
    mask = np.arange(t)[None, :] < lengths[:, None]
    return rng.normal(size=(b, t, k)), rng.integers(0, k, (b, t)), mask


@pytest.fixture
def crf_params():
    rng = np.random.default_rng(3)
    return [cr.Tensor(rng.normal(size=s), requires_grad=True) for s in ((K,), (K, K), (K,))]


# ---------------------------------------------------------------------- the CRF
@pytest.mark.parametrize("reduction", ["sum", "token_mean", "none"])
def test_compiled_crf_nll_equals_eager_for_new_masks_and_tags(crf_params, reduction):
    start, trans, end = crf_params

    def nll(emissions, tags, mask):
        out = crf_nll(emissions, tags, mask, start, trans, end, reduction=reduction)
        return out if reduction != "none" else (out * out).sum()

    cnll = cr.compile(nll)
    rng = np.random.default_rng(0)
    for _ in range(4):  # same shapes, new lengths and tags: the trace must not freeze them
        e, tags, mask = _crf_batch(rng)
        et = cr.Tensor(e, requires_grad=True)
        got = cnll(et, tags, mask)
        got.backward()
        grads = [t.grad.data.copy() for t in (et, start, trans, end)]
        for t in (et, start, trans, end):
            t.grad = None
        want = nll(et, tags, mask)
        want.backward()
        np.testing.assert_allclose(got.data, want.data, rtol=1e-12)
        for g, t in zip(grads, (et, start, trans, end), strict=True):
            np.testing.assert_allclose(g, t.grad.data, rtol=1e-12, atol=1e-14)
            t.grad = None
        assert got.op == "compiled"
    assert cnll.cache_info()["traces"] == 1


def test_compiled_crf_checks_each_calls_tags_and_mask(crf_params):
    # eagerly the checks read the arrays in Python; compiled, they are ops run every call
    # (a tag of -1 would be read as the last tag, a mask with a hole give a wrong loss)
    start, trans, end = crf_params
    cnll = cr.compile(lambda e, t, m: crf_nll(e, t, m, start, trans, end))
    cvit = cr.compile(lambda e, m: viterbi_decode(e, m, start, trans, end))
    e, tags, mask = _crf_batch(np.random.default_rng(2))
    cnll(e, tags, mask)
    cvit(e, mask)
    for bad in (-1, K):
        wrong = tags.copy()
        wrong[0, 1] = bad
        with pytest.raises(cr.ChainruleError, match=rf"tag ids must lie in \[0, {K}\)"):
            cnll(e, wrong, mask)
    holes = mask.copy()
    holes[0, 1] = False  # a padded position before a real token
    late = mask.copy()
    late[1, 0] = False  # a sentence that does not start at position 0
    for bad_mask in (holes, late):
        for call in (lambda m: cnll(e, tags, m), lambda m: cvit(e, m)):
            with pytest.raises(cr.ChainruleError, match="left-aligned"):
                call(bad_mask)
    assert cnll.cache_info()["traces"] == 1 and cvit.cache_info()["traces"] == 1


def test_compiled_viterbi_paths_equal_numpy_viterbi(crf_params):
    start, trans, end = (p.data for p in crf_params)
    cvit = cr.compile(viterbi_decode)
    rng = np.random.default_rng(1)
    for dtype in (np.float64, np.float32):
        for _ in range(4):
            e, _, mask = _crf_batch(rng, b=6, t=9)
            e = e.astype(dtype)
            paths, scores = cvit(e, mask, start, trans, end)
            want_paths, want_scores = viterbi_decode(e, mask, start, trans, end)
            assert isinstance(paths, cr.Tensor) and paths.dtype == np.int64
            np.testing.assert_array_equal(paths.data, want_paths)
            np.testing.assert_allclose(scores.data, want_scores, rtol=1e-12)
            assert (paths.data[~mask] == -1).all()
    assert cvit.cache_info()["traces"] == 2  # one per dtype


def test_viterbi_on_tensors_returns_tensors_and_records_no_gradient(crf_params):
    start, trans, end = crf_params
    e, _, mask = _crf_batch(np.random.default_rng(2))
    et = cr.Tensor(e, requires_grad=True)
    paths, scores = viterbi_decode(et, mask, start, trans, end)
    want, _ = viterbi_decode(e, mask, start.data, trans.data, end.data)
    np.testing.assert_array_equal(paths.data, want)
    assert not scores.requires_grad and not paths.requires_grad


# ---------------------------------------------------------------------- the tagger
@pytest.fixture(scope="module")
def corpus():
    return toy_corpus(80, np.random.default_rng(5))


@pytest.fixture(scope="module")
def extractor(corpus):
    return FeatureExtractor.build(
        corpus, TrainConfig(features=("word", "caps", "suffix3")).feature_config()
    )


def _model(extractor, decoder, dtype, seed=0):
    constraints = extractor.tagset.transition_mask()
    feats = extractor.config.features
    return WindowTagger(
        {f: extractor.table_size(f) for f in feats},
        {f: 6 for f in feats},
        extractor.config.window,
        len(extractor.tagset),
        hidden=12,
        dropout=0.3,
        decoder=decoder,
        constraints=constraints,
        rng=np.random.default_rng(seed),
        dtype=dtype,
    )


def _train_steps(model, extractor, corpus, compiled, steps=6):
    """The training loop's step (loss, backward, clipping, Adam) on a few batches."""
    enc = extractor.encode(corpus)
    rng = np.random.default_rng(11)
    batches = (
        FeatureExtractor.sentence_batches(enc, 7, rng)
        if model.decoder == "crf"
        else FeatureExtractor.word_batches(enc, 32, rng)
    )
    opt = optim.Adam(model.parameters(), lr=0.01)
    fn = model.compiled_loss() if compiled else None
    losses = []
    for _, batch in zip(range(steps), batches, strict=False):
        loss = model.loss(batch, fn=fn, pad=compiled)
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses, fn


@pytest.mark.parametrize("decoder", ["softmax", "crf"])
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_compiled_training_gives_the_eager_parameters(extractor, corpus, decoder, dtype, rtol):
    eager, compiled = (_model(extractor, decoder, dtype) for _ in range(2))
    losses_e, _ = _train_steps(eager, extractor, corpus, compiled=False)
    losses_c, fn = _train_steps(compiled, extractor, corpus, compiled=True)
    np.testing.assert_allclose(losses_c, losses_e, rtol=rtol)
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        np.testing.assert_allclose(q.data, p.data, rtol=rtol, atol=rtol * 1e-2, err_msg=name)
    traced = fn if decoder == "softmax" else fn.compiled  # crf: the CRF part is compiled
    assert traced.traces >= 1 and all(p.grad is None for p in compiled.parameters())
    # and the parameters did move: the comparison is not of two untouched models
    fresh = _model(extractor, decoder, dtype)
    assert (
        max(
            float(np.abs(p.data - f.data).max())
            for p, f in zip(compiled.parameters(), fresh.parameters(), strict=True)
        )
        > 1e-3
    )


def test_dropout_masks_are_the_dropout_layers_masks(extractor, corpus):
    """network(dropout_masks(n)) draws the numbers nn.Dropout would, in the same order."""
    model = _model(extractor, "softmax", np.float32)
    enc = extractor.encode(corpus[:5])
    ids = [enc.windows[f] for f in model.features]
    n = ids[0].shape[0]
    model.drop.rng = np.random.default_rng(4)
    got = model.scores(enc.windows)
    rng = np.random.default_rng(4)
    x = cr.concatenate(
        [
            getattr(model, f"emb_{f}")(i).reshape(n, -1)
            for f, i in zip(model.features, ids, strict=True)
        ],
        axis=1,
    )
    x = F.dropout(x, 0.3, rng=rng)
    x = F.dropout(cr.tanh(model.hidden(x)), 0.3, rng=rng)
    np.testing.assert_array_equal(got.data, model.out(x).data)
    model.eval()
    assert model.dropout_masks(n) == (None, None)


def _dense(g):
    return g.to_dense() if hasattr(g, "to_dense") else g.data


def test_padding_keeps_the_loss_and_bounds_the_shapes(extractor, corpus):
    model = _model(extractor, "crf", np.float64)
    model.eval()  # no dropout: the same loss whatever the padding
    enc = extractor.encode(corpus)
    fn = model.compiled_loss()
    shapes = set()
    for batch in FeatureExtractor.sentence_batches(enc, 3, np.random.default_rng(0)):
        b, t = batch.mask.shape
        args = model.loss_args(batch, pad=True)
        assert args[0].shape == args[1].shape == args[2].shape == (b, padded_length(t))
        assert padded_length(t) >= t and not args[1][:, t:].any()
        shapes.add((b, padded_length(t)))
        eager = model.loss(batch)
        eager.backward()
        grads = [p.grad for p in model.parameters()]
        model.zero_grad()
        got = model.loss(batch, fn=fn, pad=True)
        got.backward()
        np.testing.assert_allclose(got.data, eager.data, rtol=1e-12)
        for g, p in zip(grads, model.parameters(), strict=True):
            np.testing.assert_allclose(_dense(p.grad), _dense(g), rtol=1e-10, atol=1e-14)
        model.zero_grad()
    assert fn.compiled.cache_info()["traces"] == len(shapes) < 12
    assert [padded_length(t) for t in (1, 4, 5, 33, 65, 113, 129)] == [4, 4, 8, 48, 96, 128, 192]


def _small_config(**kw) -> TrainConfig:
    """A tagger small enough to train for two epochs in a test."""
    base = dict(features=("word", "caps"), hidden=16, word_dim=8, caps_dim=3, max_epochs=2)
    return TrainConfig(progress=False, **(base | kw))


def test_train_with_compile_matches_eager_training(corpus):
    dev = toy_corpus(20, np.random.default_rng(6))
    eager, compiled = (
        train(_small_config(decoder="crf", batch_size=8, lr=0.01, compile=c), corpus, dev)
        for c in (False, True)
    )
    assert [h["dev_f1"] for h in compiled.history] == [h["dev_f1"] for h in eager.history]
    np.testing.assert_allclose(
        [h["loss"] for h in compiled.history], [h["loss"] for h in eager.history], rtol=1e-5
    )
    assert compiled.config.to_dict()["compile"] is True


def test_compile_setting_is_checked():
    with pytest.raises(Exception, match=r"compile must be True, False or None"):
        TrainConfig(compile="yes")


def test_compile_by_default_where_it_is_faster_and_exact():
    # None: the softmax decoder on one process compiles its whole step; the CRF and
    # several processes train eagerly unless asked
    assert TrainConfig().compile is None
    assert TrainConfig().compiled() and not TrainConfig().compiled(n_ranks=2)
    assert not TrainConfig(decoder="crf").compiled()
    assert TrainConfig(decoder="crf", compile=True).compiled()
    assert not TrainConfig(compile=False).compiled()
    assert TrainConfig.from_dict(TrainConfig().to_dict()).compile is None


def test_default_softmax_training_is_compiled_and_equals_eager(corpus):
    dev = toy_corpus(20, np.random.default_rng(7))
    auto, eager = (
        train(_small_config(batch_size=32, compile=c), corpus, dev) for c in (None, False)
    )
    assert auto.config.compiled() and not eager.config.compiled()
    assert [h["loss"] for h in auto.history] == [h["loss"] for h in eager.history]
    assert [h["dev_f1"] for h in auto.history] == [h["dev_f1"] for h in eager.history]
    for p, q in zip(auto.model.parameters(), eager.model.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
