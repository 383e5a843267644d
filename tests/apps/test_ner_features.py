"""Tests for chainrule.apps.ner.features (vocabulary, windows, casing, word vectors)."""

from __future__ import annotations

import doctest
import json
import warnings

import numpy as np
import pytest

from chainrule.apps.ner import features
from chainrule.apps.ner.conll import Sentence
from chainrule.apps.ner.features import (
    CAP_PAD,
    N_CAP_FEATURES,
    PAD_ID,
    UNK_ID,
    FeatureError,
    VectorFileWarning,
    Vocab,
    cap_feature,
    cap_features,
    load_vectors,
    make_windows,
    normalize_word,
    replace_rare,
    windows_for_corpus,
)


def test_doctests():
    assert doctest.testmod(features).failed == 0


def test_normalize_word():
    assert normalize_word("EU") == "eu"
    assert normalize_word("1996-08-22") == "0000-00-00"
    assert normalize_word("3.5M") == "0.0m"
    assert normalize_word("Müller") == "müller"
    assert normalize_word("") == ""


# --- Vocab ---------------------------------------------------------------------------------

SENTS = [["The", "cat", "sat"], ["the", "dog", "sat", "in", "1996"], ["THE", "1997", "cat"]]
# Normalised counts: the 3, 0000 2, cat 2, sat 2, dog 1, in 1.


def test_vocab_build_order_and_reserved_ids():
    v = Vocab.build(SENTS)
    assert v.words == ("<pad>", "<unk>", "the", "0000", "cat", "sat", "dog", "in")
    assert len(v) == 8
    assert v.index("<pad>") == PAD_ID == 0 and v.index("<unk>") == UNK_ID == 1
    assert v.counts.tolist() == [0, 0, 3, 2, 2, 2, 1, 1]
    assert v.word(4) == "cat"
    assert "Cat" in v and "zebra" not in v


def test_vocab_min_freq_max_size_and_no_normalisation():
    assert Vocab.build(SENTS, min_freq=2).words[2:] == ("the", "0000", "cat", "sat")
    assert Vocab.build(SENTS, max_size=2).words[2:] == ("the", "0000")
    raw = Vocab.build(SENTS, normalize=False)
    assert raw.index("The") != raw.index("the")
    assert raw.index("1998") == UNK_ID
    with pytest.raises(FeatureError, match="min_freq"):
        Vocab.build(SENTS, min_freq=0)


def test_vocab_accepts_sentence_objects():
    sents = [Sentence(s, ["O"] * len(s)) for s in SENTS]
    assert Vocab.build(sents) == Vocab.build(SENTS)
    with pytest.raises(FeatureError, match="single string"):
        Vocab.build(["a sentence as one string"])


def test_vocab_lookup():
    v = Vocab.build(SENTS)
    ids = v.lookup(["THE", "Cat", "zebra", "2001"])
    assert ids.dtype == np.int64
    assert ids.tolist() == [2, 4, UNK_ID, 3]
    assert v.lookup([]).shape == (0,)
    assert v.index("Dog") == 6


def test_vocab_dict_round_trip_is_json_safe():
    v = Vocab.build(SENTS)
    d = json.loads(json.dumps(v.to_dict()))
    w = Vocab.from_dict(d)
    assert w == v and w.normalize and w.counts.dtype == np.int64
    assert w.lookup(["the", "zebra"]).tolist() == [2, 1]
    with pytest.raises(FeatureError, match="not a Vocab"):
        Vocab.from_dict({"words": []})
    with pytest.raises(FeatureError, match="version"):
        Vocab.from_dict({**d, "version": 99})


def test_vocab_rejects_bad_entries():
    with pytest.raises(FeatureError, match="duplicate or reserved"):
        Vocab(["a", "a"])
    with pytest.raises(FeatureError, match="duplicate or reserved"):
        Vocab(["<unk>"])
    with pytest.raises(FeatureError, match="2 counts for 1"):
        Vocab(["a"], [1, 2])


# --- capitalisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word,expected",
    [
        ("rejects", 1),
        ("1990s", 1),
        ("Peter", 2),
        ("A", 2),
        ("O'neil", 2),
        ("EU", 3),
        ("U.S.", 3),
        ("McDonald", 4),
        ("iPhone", 4),
        ("1996-08-22", 5),
        (",", 5),
        ("", 5),
        ("Élysée", 2),
    ],
)
def test_cap_feature(word, expected):
    assert cap_feature(word) == expected


def test_cap_features_range():
    caps = cap_features(["EU", "rejects", "German", "call", "...", "McDonald"])
    assert caps.dtype == np.int64 and caps.tolist() == [3, 1, 2, 1, 5, 4]
    assert N_CAP_FEATURES == 6 and CAP_PAD == 0
    assert ((caps > CAP_PAD) & (caps < N_CAP_FEATURES)).all()


# --- windows -------------------------------------------------------------------------------


def _reference_windows(ids, window, pad_id):
    """Slow per-token reference implementation."""
    n = len(ids)
    rows = []
    for i in range(n):
        row = []
        for j in range(i - window, i + window + 1):
            row.append(int(ids[j]) if 0 <= j < n else pad_id)
        rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(n, 2 * window + 1)


def test_make_windows_small():
    ids = np.array([5, 6, 7])
    assert make_windows(ids, 0, 0).tolist() == [[5], [6], [7]]
    w = make_windows(ids, 2, 9)
    assert w.dtype == np.int64 and w.shape == (3, 5)
    assert w.tolist() == [[9, 9, 5, 6, 7], [9, 5, 6, 7, 9], [5, 6, 7, 9, 9]]
    assert make_windows(np.array([4]), 3, 0).tolist() == [[0, 0, 0, 4, 0, 0, 0]]
    assert make_windows(np.array([], dtype=np.int64), 2, 0).shape == (0, 5)


def test_make_windows_errors():
    with pytest.raises(FeatureError, match="window"):
        make_windows(np.array([1, 2]), -1, 0)
    with pytest.raises(FeatureError, match="window"):
        make_windows(np.array([1, 2]), 1.5, 0)
    with pytest.raises(FeatureError, match="1-D"):
        make_windows(np.array([[1, 2]]), 1, 0)
    with pytest.raises(FeatureError, match="integers"):
        make_windows(np.array([1.0, 2.0]), 1, 0)


@pytest.mark.parametrize("window", [0, 1, 2, 4])
def test_windows_for_corpus_matches_per_sentence_reference(window, rng):
    lengths = rng.integers(0, 12, size=60)
    lengths[:3] = [0, 1, 0]  # empty and one-token sentences next to each other
    seqs = [rng.integers(2, 50, size=n) for n in lengths]
    got = windows_for_corpus(seqs, window, PAD_ID)
    want = np.concatenate([_reference_windows(s, window, PAD_ID) for s in seqs])
    assert got.dtype == np.int64
    assert got.shape == (int(lengths.sum()), 2 * window + 1)
    np.testing.assert_array_equal(got, want)
    # The centre column is the corpus itself.
    np.testing.assert_array_equal(got[:, window], np.concatenate(seqs))


def test_windows_for_corpus_edge_cases():
    assert windows_for_corpus([], 2, 0).shape == (0, 5)
    assert windows_for_corpus([np.array([], dtype=np.int64)], 1, 0).shape == (0, 3)
    # Lists are accepted as sentences.
    assert windows_for_corpus([[1, 2], [3]], 1, 0).tolist() == [[0, 1, 2], [1, 2, 0], [0, 3, 0]]


def test_windows_for_corpus_is_fast_on_a_large_corpus(rng):
    seqs = [rng.integers(2, 1000, size=n) for n in rng.integers(1, 40, size=15000)]
    out = windows_for_corpus(seqs, 2, PAD_ID)
    assert out.shape[0] == sum(len(s) for s in seqs)


# --- replace_rare --------------------------------------------------------------------------


def test_replace_rare():
    counts = np.array([0, 0, 10, 1, 1, 2])
    ids = np.array([[2, 3, 4, 5, 0], [3, 3, 1, 4, 2]])
    before = ids.copy()
    none = replace_rare(ids, counts, np.random.default_rng(0), p=0.0)
    np.testing.assert_array_equal(none, ids)
    everything = replace_rare(ids, counts, np.random.default_rng(0), p=1.0)
    assert everything.tolist() == [[2, 1, 1, 5, 0], [1, 1, 1, 1, 2]]
    np.testing.assert_array_equal(ids, before)  # input untouched
    assert everything.dtype == np.int64


def test_replace_rare_probability_and_determinism():
    counts = np.array([0, 0, 1])
    ids = np.full(20000, 2)
    a = replace_rare(ids, counts, np.random.default_rng(5), p=0.3)
    b = replace_rare(ids, counts, np.random.default_rng(5), p=0.3)
    np.testing.assert_array_equal(a, b)
    frac = (a == UNK_ID).mean()
    assert 0.28 < frac < 0.32
    assert replace_rare(ids, counts, np.random.default_rng(5), p=0.3, unk_id=7).max() == 7


def test_replace_rare_errors():
    counts = np.array([0, 0, 1])
    with pytest.raises(FeatureError, match="Generator"):
        replace_rare(np.array([2]), counts, np.random.RandomState(0), p=0.5)
    with pytest.raises(FeatureError, match=r"p must be in \[0, 1\]"):
        replace_rare(np.array([2]), counts, np.random.default_rng(0), p=1.5)
    with pytest.raises(FeatureError, match="ids must lie"):
        replace_rare(np.array([3]), counts, np.random.default_rng(0), p=0.5)


def test_replace_rare_with_vocab_counts():
    v = Vocab.build(SENTS)
    ids = v.lookup(["the", "dog", "in", "cat"])
    out = replace_rare(ids, v.counts, np.random.default_rng(0), p=1.0)
    assert out.tolist() == [v.index("the"), UNK_ID, UNK_ID, v.index("cat")]


# --- load_vectors --------------------------------------------------------------------------


@pytest.fixture
def vocab():
    return Vocab.build([["paris", "london", "1996", "berlin"]])  # + <pad>, <unk>


def _row(vocab, m, w):
    return m[vocab.index(w)].tolist()


def test_load_glove_text(tmp_path, vocab):
    p = tmp_path / "glove.txt"
    p.write_text(
        "Paris 1 2 3\n"  # matched through normalisation ...
        "paris 4 5 6\n"  # ... but the exact form wins
        "London 7 8 9\n"
        "london 10 11 12\n"  # "london" had no exact match yet: replaces "London"
        "LONDON 0 0 0\n"  # an exact match is never replaced
        "1997 1 1 1\n"  # digits normalise: fills "0000"
        "unused 9 9 9\n"
    )
    m, n = load_vectors(p, vocab)
    assert m.shape == (len(vocab), 3) and m.dtype == np.float64
    assert n == 3
    assert _row(vocab, m, "paris") == [4, 5, 6]
    assert _row(vocab, m, "london") == [10, 11, 12]
    assert _row(vocab, m, "1996") == [1, 1, 1]
    assert _row(vocab, m, "berlin") == [0, 0, 0]  # not found: zeros by default
    assert m[PAD_ID].tolist() == [0, 0, 0]


def test_load_word2vec_header_and_malformed_lines(tmp_path, vocab):
    p = tmp_path / "w2v.txt"
    p.write_text(
        "5 2\n"
        "paris 0.5 -1.5\n"
        "london 1.0\n"  # too few numbers
        "berlin x y\n"  # not numbers
        "\n"
        "rome 1 2 3\n"  # too many numbers
        "<pad> 3 3\n"  # the pad row stays zero
        "<unk> 2 2\n",
        encoding="utf-8",
    )
    with pytest.warns(VectorFileWarning, match=r"skipped 3 malformed line\(s\).*line 3, 4, 6"):
        m, n = load_vectors(p, vocab, dim=2)
    assert n == 2  # paris and <unk>
    assert _row(vocab, m, "paris") == [0.5, -1.5]
    assert _row(vocab, m, "berlin") == [0, 0]
    assert m[UNK_ID].tolist() == [2, 2] and m[PAD_ID].tolist() == [0, 0]


def test_load_vectors_random_init_and_dtype(tmp_path, vocab):
    p = tmp_path / "v.txt"
    p.write_text("paris 1 2\n")
    m, n = load_vectors(p, vocab, rng=np.random.default_rng(0), scale=0.05, dtype=np.float32)
    assert n == 1 and m.dtype == np.float32
    assert _row(vocab, m, "paris") == [1, 2]
    assert m[PAD_ID].tolist() == [0, 0]
    others = np.delete(m, [PAD_ID, vocab.index("paris")], axis=0)
    assert np.abs(others).max() <= 0.05 and np.abs(others).min() > 0


def test_load_vectors_errors(tmp_path, vocab):
    p = tmp_path / "v.txt"
    p.write_text("3 4\nparis 1 2 3 4\n")
    with pytest.raises(FeatureError, match="header says dimension 4"):
        load_vectors(p, vocab, dim=3)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(FeatureError, match="no vectors"):
        load_vectors(empty, vocab)
    with pytest.raises(FeatureError, match="dim must be"):
        load_vectors(p, vocab, dim=0)


def test_load_vectors_crlf_bom_no_warning(tmp_path, vocab):
    p = tmp_path / "v.txt"
    p.write_bytes(b"\xef\xbb\xbfparis 1 2\r\nlondon 3 4\r\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m, n = load_vectors(p, vocab)
    assert n == 2 and _row(vocab, m, "london") == [3, 4]


# --- on the real training data -------------------------------------------------------------


@pytest.mark.data
def test_conll2003_train_features(conll_dir):
    from chainrule.apps.ner.conll import read_conll

    train = read_conll(conll_dir / "train.txt")
    v = Vocab.build(train)
    # Word types after lower-casing and digit folding (21,009 lower-cased types in README;
    # folding digits merges more of them).
    assert 2 < len(v) < 21009 + 2
    assert int(v.counts.sum()) == 203621
    ids = [v.lookup(s.words) for s in train]
    X = windows_for_corpus(ids, 2, PAD_ID)
    assert X.shape == (203621, 5)
    assert (X[:, 2] >= 2).all()  # every training token is in its own vocabulary
    C = windows_for_corpus([cap_features(s.words) for s in train], 2, CAP_PAD)
    assert C.shape == X.shape and C.max() < N_CAP_FEATURES
