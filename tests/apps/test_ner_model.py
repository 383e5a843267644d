"""The NER window model, its features, training loop, persistence and raw-text tagging.

Everything runs on a tiny synthetic corpus (``toy_corpus``), never on the real data.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule.apps.ner.conll import Sentence
from chainrule.apps.ner.crf import crf_nll
from chainrule.apps.ner.data import FeatureConfig, FeatureExtractor, toy_corpus, word_shape
from chainrule.apps.ner.features import CAP_PAD, PAD_ID, FeatureError
from chainrule.apps.ner.metrics import evaluate
from chainrule.apps.ner.model import ModelError, WindowTagger, load_tagger, save_tagger
from chainrule.apps.ner.tagger import format_output, split_sentences, tag_text, tokenize
from chainrule.apps.ner.tags import get_entities
from chainrule.apps.ner.train import (
    TrainConfig,
    TrainError,
    build_model,
    evaluate_model,
    plot_learning_curve,
    train,
)

FEATS = ("word", "caps", "suffix3", "prefix2", "shape")


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(42)
    return toy_corpus(160, rng), toy_corpus(40, rng)


@pytest.fixture(scope="module")
def extractor(corpus):
    return FeatureExtractor.build(corpus[0], FeatureConfig(FEATS, window=2, affix_min_freq=1))


def _small(**kw):
    base = dict(
        features=FEATS,
        hidden=32,
        word_dim=16,
        affix_dim=8,
        shape_dim=4,
        batch_size=32,
        lr=5e-3,
        max_epochs=4,
        patience=4,
        progress=False,
        affix_min_freq=1,
    )
    base.update(kw)
    return TrainConfig(**base)


# ---------------------------------------------------------------------- features
def test_word_shape_and_feature_config():
    assert word_shape("Blackburn") == "Xx"
    assert word_shape("1,200") == "d,d"
    with pytest.raises(FeatureError, match="word"):
        FeatureConfig(("caps",))
    with pytest.raises(FeatureError, match="unknown feature"):
        FeatureConfig(("word", "suffix"))


def test_encode_windows_are_padded_at_sentence_edges(extractor):
    sents = [
        Sentence(["Peter", "visited", "Paris"], ["B-PER", "O", "B-LOC"]),
        Sentence(["Oslo"], ["B-LOC"]),
    ]
    enc = extractor.encode(sents)
    w = enc.windows["word"]
    assert w.shape == (4, 5)
    vocab = extractor.vocabs["word"]
    assert w[0].tolist() == [
        PAD_ID,
        PAD_ID,
        vocab.index("peter"),
        vocab.index("visited"),
        vocab.index("paris"),
    ]
    assert w[3].tolist() == [PAD_ID, PAD_ID, vocab.index("oslo"), PAD_ID, PAD_ID]
    assert enc.windows["caps"][3].tolist() == [CAP_PAD, CAP_PAD, 2, CAP_PAD, CAP_PAD]
    assert enc.offsets.tolist() == [0, 3, 4]
    assert extractor.tagset.decode(enc.tags) == ["B-PER", "O", "B-LOC", "B-LOC"]
    # suffixes of training words are known, those of an unseen word's suffix map to <unk>
    suf = extractor.vocabs["suffix3"]
    assert enc.windows["suffix3"][0, 2] == suf.index("ter")
    assert extractor.encode([["Zzzqqq"]], with_tags=False).windows["suffix3"][0, 2] == 1


def test_batches_cover_every_token_once(extractor, corpus, rng):
    enc = extractor.encode(corpus[0])
    seen = np.concatenate(
        [b.windows["word"][:, 2] for b in FeatureExtractor.word_batches(enc, 50, rng)]
    )
    assert sorted(seen.tolist()) == sorted(enc.windows["word"][:, 2].tolist())
    total = 0
    for b in FeatureExtractor.sentence_batches(enc, 7, rng):
        assert b.mask.shape == b.tags.shape
        assert b.mask[:, 0].all()
        n = int(b.mask.sum())
        assert b.n_tokens == n
        # the gathered windows are the corpus windows of the masked positions, in order
        np.testing.assert_array_equal(b.windows["word"], enc.windows["word"][b.token_index])
        np.testing.assert_array_equal(b.tags[b.mask], enc.tags[b.token_index])
        total += n
    assert total == enc.n_tokens


def test_extractor_round_trip(extractor):
    back = FeatureExtractor.from_dict(json.loads(json.dumps(extractor.to_dict())))
    assert back.tagset == extractor.tagset
    assert back.config == extractor.config
    for f, v in extractor.vocabs.items():
        assert back.vocabs[f] == v
    with pytest.raises(FeatureError, match="format"):
        FeatureExtractor.from_dict({"format": "something else"})


# ---------------------------------------------------------------------- model
@pytest.mark.parametrize("decoder", ["softmax", "crf"])
def test_embedding_gradients_are_row_sparse(extractor, corpus, rng, decoder):
    model = build_model(_small(decoder=decoder), extractor, rng)
    enc = extractor.encode(corpus[0][:5])
    batch = FeatureExtractor.gather_sentences(enc, np.arange(5))
    model.loss(batch).backward()
    g = model.table("word").grad
    assert isinstance(g, cr.RowSparse)
    used = set(np.unique(batch.windows["word"]).tolist())
    assert set(np.unique(g.indices).tolist()) == used
    assert model.hidden.weight.grad is not None
    if decoder == "crf":
        assert model.trans.grad.data.any()


def test_crf_loss_is_the_sentence_likelihood_of_the_network_scores(extractor, corpus, rng):
    model = build_model(_small(decoder="crf", constrained=False, dropout=0.0), extractor, rng)
    with cr.no_grad():
        model.trans.copy_(rng.normal(size=model.trans.shape))
    enc = extractor.encode(corpus[0][:6])
    batch = FeatureExtractor.gather_sentences(enc, np.arange(6))
    scores = model.scores(batch.windows).data
    padded = np.zeros(batch.mask.shape + (scores.shape[1],), dtype=scores.dtype)
    padded[batch.mask] = scores
    want = crf_nll(
        padded,
        batch.tags,
        batch.mask,
        model.start.data,
        model.trans.data,
        model.end.data,
        reduction="token_mean",
    ).item()
    assert model.loss(batch).item() == pytest.approx(want, rel=1e-5)


def test_model_rejects_bad_settings_and_inputs(rng):
    with pytest.raises(ModelError, match="activation"):
        WindowTagger({"word": 5}, {"word": 2}, 1, 3, activation="swish")
    with pytest.raises(ModelError, match="decoder"):
        WindowTagger({"word": 5}, {"word": 2}, 1, 3, decoder="hmm")
    m = WindowTagger({"word": 5}, {"word": 2}, 1, 3, hidden=4, rng=rng)
    with pytest.raises(ModelError, match="shape"):
        m.scores({"word": np.zeros((2, 5), dtype=np.int64)})
    with pytest.raises(ModelError, match="no 'word'"):
        m.scores({"caps": np.zeros((2, 3), dtype=np.int64)})
    with pytest.raises(TrainError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")


# ---------------------------------------------------------------------- training
@pytest.mark.parametrize("decoder", ["softmax", "crf"])
def test_training_learns_the_toy_language(corpus, decoder):
    train_s, dev_s = corpus
    result = train(
        _small(decoder=decoder, batch_size=32 if decoder == "softmax" else 8), train_s, dev_s
    )
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0] / 2
    assert result.best_dev_f1 > 90.0
    report, strict, pred = evaluate_model(result.model, result.extractor, dev_s)
    assert 100 * report.f1 == pytest.approx(result.best_dev_f1)
    assert strict.f1 <= report.f1 + 1e-12
    assert all(len(p) == len(s) for p, s in zip(pred, dev_s, strict=True))


def test_same_seed_same_run_other_seed_other_run(corpus):
    train_s, dev_s = corpus
    cfg = _small(max_epochs=2, dropout=0.3, unk_p=0.5)
    a, b = train(cfg, train_s, dev_s), train(cfg, train_s, dev_s)
    keys = ("loss", "dev_f1", "dev_f1_strict")
    assert [[h[k] for k in keys] for h in a.history] == [[h[k] for k in keys] for h in b.history]
    for (na, pa), (nb, pb) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=True
    ):
        assert na == nb
        np.testing.assert_array_equal(pa, pb)
    c = train(_small(max_epochs=2, dropout=0.3, unk_p=0.5, seed=1), train_s, dev_s)
    assert c.history[0]["loss"] != a.history[0]["loss"]


def test_early_stopping_keeps_the_best_epoch(corpus):
    train_s, dev_s = corpus
    r = train(
        _small(max_epochs=6, patience=1, lr=0.05, optimizer="sgd", schedule="none"), train_s, dev_s
    )
    assert r.best_dev_f1 == max(h["dev_f1"] for h in r.history)
    assert r.history[r.best_epoch - 1]["dev_f1"] == r.best_dev_f1
    report, _, _ = evaluate_model(r.model, r.extractor, dev_s)
    assert 100 * report.f1 == pytest.approx(r.best_dev_f1)  # the best weights were restored
    assert r.stop_reason


def test_constrained_softmax_decoding_is_well_formed(extractor, corpus, rng):
    model = build_model(_small(), extractor, rng)  # untrained: scores are noise
    enc = extractor.encode(corpus[1])
    for path in model.predict(enc, constrained=True):
        tags = extractor.tagset.decode(path)
        assert get_entities(tags, strict=True) == get_entities(tags)


def test_vectors_initialise_word_embeddings(tmp_path, corpus):
    vec = tmp_path / "vectors.txt"
    dim = 16
    rows = {"paris": np.arange(1, dim + 1, dtype=float), "visited": -np.ones(dim)}
    vec.write_text("".join(f"{w} {' '.join(str(x) for x in v)}\n" for w, v in rows.items()))
    r = train(_small(vectors=str(vec), max_epochs=1, lr=1e-9), corpus[0], corpus[1])
    table = r.model.table("word").data
    for w, v in rows.items():
        row = table[r.extractor.vocabs["word"].index(w)]
        cos = row @ v / np.linalg.norm(row) / np.linalg.norm(v)
        assert cos == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(TrainError, match="dimension"):
        train(_small(vectors=str(vec), word_dim=8, max_epochs=1), corpus[0], corpus[1])


def test_learning_curve_png(tmp_path):
    path = tmp_path / "curve.png"
    plot_learning_curve(
        [{"epoch": 1, "loss": 0.5, "dev_f1": 60.0}, {"epoch": 2, "loss": 0.3, "dev_f1": 70.0}],
        str(path),
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------- persistence
@pytest.fixture(scope="module")
def trained(corpus):
    return train(_small(decoder="crf", batch_size=8, max_epochs=2), *corpus)


def test_save_load_round_trip(tmp_path, trained, corpus):
    folder = tmp_path / "model"
    save_tagger(folder, trained.model, trained.extractor, trained.config.to_dict())
    assert sorted(os.listdir(folder)) == ["config.json", "model.ckpt", "vocab.json"]
    model, fx, config = load_tagger(folder)
    assert config["train"]["decoder"] == "crf"
    enc = fx.encode(corpus[1])
    for a, b in zip(model.predict(enc), trained.model.predict(enc), strict=True):
        np.testing.assert_array_equal(a, b)


def _broken_copy(trained, tmp_path, name):
    folder = tmp_path / name
    save_tagger(folder, trained.model, trained.extractor, trained.config.to_dict())
    return folder


def test_missing_or_mismatched_files_fail_clearly(tmp_path, trained, corpus):
    f = _broken_copy(trained, tmp_path, "no_vocab")
    (f / "vocab.json").unlink()
    with pytest.raises(ModelError, match="no vocab.json"):
        load_tagger(f)

    f = _broken_copy(trained, tmp_path, "no_config")
    (f / "config.json").unlink()
    with pytest.raises(ModelError, match="no config.json"):
        load_tagger(f)

    f = _broken_copy(trained, tmp_path, "no_weights")
    (f / "model.ckpt").unlink()
    with pytest.raises(ModelError, match="no model.ckpt"):
        load_tagger(f)

    # a vocabulary from another model (different words): the checksum catches it
    f = _broken_copy(trained, tmp_path, "other_vocab")
    other = FeatureExtractor.build(
        toy_corpus(5, np.random.default_rng(9)), trained.extractor.config
    )
    (f / "vocab.json").write_text(json.dumps(other.to_dict()))
    with pytest.raises(ModelError, match="does not belong to this model"):
        load_tagger(f)

    # a config whose tables do not fit the (genuine) vocabulary
    f = _broken_copy(trained, tmp_path, "bad_config")
    cfg = json.loads((f / "config.json").read_text())
    cfg["architecture"]["table_sizes"]["word"] += 3
    (f / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="vocabulary does not match"):
        load_tagger(f)

    # a config that is not JSON at all
    f = _broken_copy(trained, tmp_path, "garbled")
    (f / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_tagger(f)

    # weights of another architecture
    f = _broken_copy(trained, tmp_path, "other_weights")
    cfg = json.loads((f / "config.json").read_text())
    cfg["architecture"]["hidden"] = 7
    (f / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="weights do not fit"):
        load_tagger(f)

    with pytest.raises(ModelError, match="does not exist"):
        load_tagger(tmp_path / "nowhere")


# ---------------------------------------------------------------------- raw text
def test_tokenize_offsets_point_into_the_text():
    text = "Mr. Smith (U.S.) paid $1,200.50 -- didn't he? Yes!"
    toks = tokenize(text)
    for tok, s, e in toks:
        assert text[s:e] == tok
    words = [t for t, _, _ in toks]
    assert "U.S." in words and "1,200.50" in words and "(" in words
    assert [[t for t, _, _ in s] for s in split_sentences(text)][-1] == ["Yes", "!"]


def test_tag_text_and_output_formats(trained):
    text = "Peter Blackburn visited Paris on Monday.\n\nReuters said Anna Schmidt would travel."
    tagged = tag_text(trained.model, trained.extractor, text)
    assert len(tagged) == 2
    ents = [(e["type"], e["text"]) for s in tagged for e in s.entities()]
    assert ("LOC", "Paris") in ents
    for s in tagged:
        for e in s.entities():
            assert text[e["char_start"] : e["char_end"]].split() == e["text"].split()
    conll = format_output(tagged, "conll").split("\n")
    assert conll[0].split(" ")[0] == "Peter" and "" in conll
    js = [json.loads(line) for line in format_output(tagged, "json").splitlines()]
    assert js[0]["tokens"][:2] == ["Peter", "Blackburn"]
    assert len(js[0]["tags"]) == len(js[0]["tokens"])
    spans = format_output(tagged, "spans").splitlines()
    assert len(spans) == sum(len(s.entities()) for s in tagged)
    start, end, typ, surface = spans[0].split("\t")
    assert text[int(start) : int(end)].split() == surface.split()
    assert tag_text(trained.model, trained.extractor, "   \n") == []
    with pytest.raises(ValueError, match="format"):
        format_output(tagged, "xml")


def test_evaluate_model_matches_metrics(trained, corpus):
    report, strict, pred = evaluate_model(trained.model, trained.extractor, corpus[1])
    again = evaluate([s.tags for s in corpus[1]], pred)
    assert again.f1 == report.f1 and again.n_correct == report.n_correct
