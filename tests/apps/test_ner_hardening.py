"""Tampered model folders, the exception family, bounded-memory tagging, config checks."""

from __future__ import annotations

import json
import shutil
import tracemalloc

import numpy as np
import pytest

from chainrule.apps.ner.conll import ConllFormatError, Sentence
from chainrule.apps.ner.data import FeatureConfig, FeatureExtractor, toy_corpus
from chainrule.apps.ner.features import FeatureError
from chainrule.apps.ner.metrics import EvaluationError
from chainrule.apps.ner.model import ModelError, WindowTagger, load_tagger, save_tagger
from chainrule.apps.ner.tagger import TaggingError, format_output, tag_text
from chainrule.apps.ner.tags import TagSchemeError
from chainrule.apps.ner.train import TrainConfig, TrainError, build_model
from chainrule.core import ChainruleError
from chainrule.viz.expr import ExpressionError, ExpressionTypeError

FEATS = ("word", "caps", "suffix3", "shape")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(1)
    sents = toy_corpus(80, rng)
    fx = FeatureExtractor.build(sents, FeatureConfig(FEATS, window=2, affix_min_freq=1))
    out = {}
    for decoder in ("softmax", "crf"):
        cfg = TrainConfig(
            features=FEATS,
            hidden=12,
            word_dim=6,
            affix_dim=3,
            shape_dim=2,
            decoder=decoder,
            progress=False,
        )
        model = build_model(cfg, fx, np.random.default_rng(0))
        folder = tmp_path_factory.mktemp(decoder) / "model"
        save_tagger(folder, model, fx, cfg.to_dict())
        out[decoder] = (model, fx, folder)
    return out


# ------------------------------------------------------------------ tampered model folders
def _tampered(src, tmp_path, edit):
    dst = tmp_path / "tampered"
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    edit(config["architecture"])
    (dst / "config.json").write_text(json.dumps(config))
    return dst


@pytest.mark.parametrize(
    "key,value",
    [
        ("hidden", "abc"),
        ("hidden", 1e6),
        ("hidden", -3),
        ("hidden", 10**6),
        ("hidden", True),
        ("window", 10**9),
        ("n_tags", 0),
        ("dtype", "object"),
        ("dropout", 2.0),
        ("decoder", "lstm"),
        ("constrained", "yes"),
    ],
)
def test_tampered_sizes_are_model_errors_before_allocating(trained, tmp_path, key, value):
    dst = _tampered(trained["crf"][2], tmp_path, lambda a: a.__setitem__(key, value))
    tracemalloc.start()
    try:
        with pytest.raises(ModelError):
            load_tagger(dst)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # hidden=1e6 used to build a 1e6-unit layer (gigabytes) before failing.
    assert peak < 20 * 2**20


@pytest.mark.parametrize(
    "edit",
    [
        lambda a: a["dims"].__setitem__("word", 10**6),
        lambda a: a["table_sizes"].__setitem__("caps", -1),
        lambda a: a["dims"].__setitem__("caps", 7),  # plausible, but not what was trained
        lambda a: a.pop("dims"),
    ],
)
def test_sizes_are_checked_against_the_checkpoint(trained, tmp_path, edit):
    dst = _tampered(trained["softmax"][2], tmp_path, edit)
    with pytest.raises(ModelError):
        load_tagger(dst)


def test_non_utf8_config_is_a_model_error(trained, tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(trained["softmax"][2], dst)
    (dst / "config.json").write_bytes(b'{"format": "\xff"}')
    with pytest.raises(ModelError, match="UTF-8"):
        load_tagger(dst)
    (dst / "config.json").write_text("[" * 100_000)
    with pytest.raises(ModelError):
        load_tagger(dst)


def test_untampered_folder_still_loads(trained):
    model, fx, folder = trained["crf"]
    loaded, _, _ = load_tagger(folder)
    for (k, a), (_, b) in zip(
        sorted(model.state_dict().items()), sorted(loaded.state_dict().items()), strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=k)


# ------------------------------------------------------------------ exception family
@pytest.mark.parametrize(
    "cls",
    [
        ExpressionError,
        EvaluationError,
        TagSchemeError,
        FeatureError,
        ConllFormatError,
        TaggingError,
    ],
)
def test_library_errors_are_chainrule_and_value_errors(cls):
    assert issubclass(cls, ChainruleError) and issubclass(cls, ValueError)


def test_former_builtin_raises_are_library_errors():
    with pytest.raises(ConllFormatError):
        Sentence(["a", "b"], ["O"])
    with pytest.raises(ConllFormatError):
        Sentence(["a"], ["O"], [["x", "y"]])
    with pytest.raises(TaggingError):
        format_output([], "xml")
    from chainrule.viz.expr import parse, variables

    with pytest.raises(ExpressionTypeError) as info:
        parse(3)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError) and isinstance(info.value, ChainruleError)
    with pytest.raises(ExpressionTypeError):
        variables("x")  # type: ignore[arg-type]


# ------------------------------------------------------------------ bounded memory
@pytest.mark.parametrize("decoder", ["softmax", "crf"])
def test_long_sentence_is_tagged_in_bounded_memory(trained, decoder):
    _, fx, _ = trained[decoder]
    # Default-like widths: the old code's memory grew with them (per token: windows, five
    # embeddings of 85 values, the hidden layer), the new code's does not.
    cfg = TrainConfig(
        features=FEATS,
        hidden=100,
        word_dim=50,
        affix_dim=20,
        shape_dim=10,
        decoder=decoder,
        progress=False,
    )
    model = build_model(cfg, fx, np.random.default_rng(0))
    words = "Peter visited Paris on Monday , Reuters said in Berlin".split()
    n = 8_000
    text = " ".join(words[i % len(words)] for i in range(n))  # one sentence, no '.'
    tracemalloc.start()
    try:
        tagged = tag_text(model, fx, text, max_tokens=1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(tagged) == 1 and len(tagged[0].tags) == n
    # Tokens and result take ~300 B/token; the old code held about 5 kB/token here
    # (40 MB), 2.8 GB for a 300k-token sentence with the default model.
    assert peak < 8 * 2**20, peak / 2**20
    # Chunking changes nothing: the same tags as one sentence tagged in a single pass.
    whole = tag_text(model, fx, " ".join(words * 3), max_tokens=10**9)[0].tags
    chunked = tag_text(model, fx, " ".join(words * 3), max_tokens=7)[0].tags
    assert chunked == whole


def test_decode_batches_do_not_pad_short_sentences_to_a_long_one(trained):
    model, fx, _ = trained["crf"]
    sents = [["Paris"] * 5] * 200 + [["Paris"] * 3000]
    enc = fx.encode(sents, with_tags=False)
    scores = model.emission_scores(enc.windows)
    tracemalloc.start()
    try:
        paths = model.decode(scores, enc.lengths, max_cells=4096)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [len(p) for p in paths] == [5] * 200 + [3000]
    # 201 sentences padded to 3000 tokens would need 201*3000*9 cells (> 5 MB at 1 byte).
    assert peak < 2 * 2**20, peak / 2**20


# ------------------------------------------------------------------ config validation
@pytest.mark.parametrize(
    "kw",
    [
        dict(seed=-1),
        dict(word_dim=-5),
        dict(clip_norm=-1.0),
        dict(threads=-1),
        dict(time_budget=-5.0),
        dict(hidden=2.5),
        dict(batch_size=True),
        dict(lr=float("nan")),
        dict(window="2"),
    ],
)
def test_train_config_rejects_bad_values(kw):
    with pytest.raises(TrainError):
        TrainConfig(**kw)


def test_window_tagger_predict_rejects_bad_batch_size(trained):
    model, fx, _ = trained["softmax"]
    with pytest.raises(ModelError):
        model.predict(fx.encode([["Paris"]], with_tags=False), batch_size=0)
    assert isinstance(model, WindowTagger)
