"""Tests for chainrule.apps.ner.metrics (conlleval-style entity evaluation)."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

from chainrule.apps.ner import metrics
from chainrule.apps.ner.conll import Sentence, write_conll
from chainrule.apps.ner.metrics import EvaluationError, TypeScore, evaluate, evaluate_conll_file
from chainrule.apps.ner.tags import TagSchemeError, entities_to_tags

# Case A, counted by hand.
#   gold entities: s0 PER(0,2), LOC(3,4); s1 ORG(0,3)       -> n_gold = 3
#   pred entities: s0 PER(0,2), ORG(3,4); s1 ORG(0,2)       -> n_pred = 3
#   exact matches: PER(0,2) only (ORG(0,2) has the wrong end) -> n_correct = 1
#   tokens: 9; wrong: s0[3] (B-LOC/B-ORG), s1[2] (I-ORG/O)   -> accuracy 7/9
GOLD_A = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "I-ORG", "I-ORG", "O"]]
PRED_A = [["B-PER", "I-PER", "O", "B-ORG", "O"], ["B-ORG", "I-ORG", "O", "O"]]

TABLE_A = """\
processed 9 tokens with 3 phrases; found: 3 phrases; correct: 1.
accuracy:  77.78%; precision:  33.33%; recall:  33.33%; FB1:  33.33
              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0
              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  2
              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1"""


def test_doctests():
    assert doctest.testmod(metrics).failed == 0


def test_hand_case_counts():
    r = evaluate(GOLD_A, PRED_A)
    assert (r.n_gold, r.n_pred, r.n_correct) == (3, 3, 1)
    assert (r.n_tokens, r.n_correct_tokens) == (9, 7)
    assert r.precision == pytest.approx(1 / 3)
    assert r.recall == pytest.approx(1 / 3)
    assert r.f1 == pytest.approx(1 / 3)
    assert r.accuracy == pytest.approx(7 / 9)
    assert r.per_type == {
        "LOC": (0.0, 0.0, 0.0, 1),
        "ORG": (0.0, 0.0, 0.0, 1),
        "PER": (1.0, 1.0, 1.0, 1),
    }
    assert isinstance(r.per_type["PER"], TypeScore) and r.per_type["PER"].support == 1
    assert r.type_counts == {"LOC": (1, 0, 0), "ORG": (1, 2, 0), "PER": (1, 1, 1)}


def test_format_table_matches_conlleval_layout():
    r = evaluate(GOLD_A, PRED_A)
    assert r.format_table() == TABLE_A
    assert str(r) == TABLE_A


def test_to_dict_is_json_safe():
    d = json.loads(json.dumps(evaluate(GOLD_A, PRED_A).to_dict()))
    assert d["n_gold"] == 3 and d["n_correct"] == 1 and d["mode"] == "conlleval"
    assert d["f1"] == pytest.approx(1 / 3)
    assert d["per_type"]["ORG"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
        "n_pred": 2,
        "n_correct": 0,
    }


# Case B: ill-formed predictions, where the two modes differ.
#   gold: PER(0,2), LOC(3,5)                                   -> n_gold = 2
#   conlleval reading of pred: PER(0,2) (stray I- opens it), LOC(3,4), ORG(4,5) -> 3 found,
#     1 correct: P = 1/3, R = 1/2, F1 = 2*(1/3)*(1/2)/(1/3+1/2) = 0.4
#   strict reading: I-PER I-PER is no entity, LOC(3,4) (I-ORG ends it and is dropped)
#     -> 1 found, 0 correct: P = R = F1 = 0
#   tokens: 3 of 5 right (positions 1, 2, 3)
GOLD_B = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]]
PRED_B = [["I-PER", "I-PER", "O", "B-LOC", "I-ORG"]]


def test_conlleval_vs_strict_by_hand():
    r = evaluate(GOLD_B, PRED_B)
    assert (r.n_gold, r.n_pred, r.n_correct) == (2, 3, 1)
    assert (r.precision, r.recall) == (pytest.approx(1 / 3), 0.5)
    assert r.f1 == pytest.approx(0.4)
    assert r.accuracy == pytest.approx(0.6)
    s = evaluate(GOLD_B, PRED_B, mode="strict")
    assert (s.n_gold, s.n_pred, s.n_correct) == (2, 1, 0)
    assert (s.precision, s.recall, s.f1) == (0.0, 0.0, 0.0)
    assert s.accuracy == pytest.approx(0.6)
    assert s.mode == "strict"


def test_type_change_inside_entity_is_not_a_match():
    # pred reads as PER(0,1) + LOC(1,2); gold is PER(0,2): nothing correct.
    r = evaluate([["B-PER", "I-PER"]], [["B-PER", "I-LOC"]])
    assert (r.n_gold, r.n_pred, r.n_correct) == (1, 2, 0)


def test_entities_do_not_cross_sentences():
    # Gold B-PER | I-PER across a sentence break is two entities (the stray I-PER opens
    # its own), not one PER spanning both sentences; so both predicted B-PERs match.
    r = evaluate([["B-PER"], ["I-PER"]], [["B-PER"], ["B-PER"]])
    assert (r.n_gold, r.n_pred, r.n_correct) == (2, 2, 2)


def test_bioes_tags():
    # gold: PER(0,1), LOC(2,4). pred: PER(0,1) and B-LOC I-LOC with no E-.
    #   conlleval reading: LOC(2,4) is still a chunk -> 2/2 correct.
    #   strict BIOES: B-LOC I-LOC never closes -> only PER -> P = 1, R = 1/2.
    gold = [["S-PER", "O", "B-LOC", "E-LOC"]]
    pred = [["S-PER", "O", "B-LOC", "I-LOC"]]
    r = evaluate(gold, pred)
    assert (r.n_gold, r.n_pred, r.n_correct) == (2, 2, 2)
    s = evaluate(gold, pred, mode="strict", scheme="BIOES")
    assert (s.n_gold, s.n_pred, s.n_correct) == (2, 1, 1)
    assert (s.precision, s.recall) == (1.0, 0.5)
    with pytest.raises(TagSchemeError):  # S- is not an IOB2 tag
        evaluate(gold, pred, mode="strict")


def test_empty_and_no_entities():
    r = evaluate([], [])
    assert (r.n_tokens, r.f1, r.accuracy) == (0, 0.0, 0.0)
    assert r.format_table() == "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0."
    r = evaluate([["O", "O"]], [["O", "B-X"]])
    assert (r.precision, r.recall, r.f1) == (0.0, 0.0, 0.0)
    assert r.per_type == {"X": (0.0, 0.0, 0.0, 0)}


def test_length_errors_name_the_sentence():
    with pytest.raises(EvaluationError, match="2 gold sentences but 1 predicted"):
        evaluate(GOLD_A, PRED_A[:1])
    bad = [PRED_A[0], PRED_A[1][:-1]]
    with pytest.raises(EvaluationError, match="sentence 1: gold has 4 tags but prediction has 3"):
        evaluate(GOLD_A, bad)
    assert issubclass(EvaluationError, ValueError)
    with pytest.raises(EvaluationError, match="unknown mode"):
        evaluate(GOLD_A, PRED_A, mode="seqeval")
    with pytest.raises(TagSchemeError, match="malformed tag"):
        evaluate([["PER"]], [["O"]])


def test_evaluate_conll_file_round_trip(tmp_path):
    sents = [Sentence([f"w{i}" for i in range(len(g))], g) for g in GOLD_A]
    p = tmp_path / "pred.txt"
    write_conll(p, sents, PRED_A)
    assert evaluate_conll_file(p).to_dict() == evaluate(GOLD_A, PRED_A).to_dict()
    p2 = tmp_path / "two.txt"
    p2.write_text("a O\n\n")
    with pytest.raises(EvaluationError, match="at least 3 columns"):
        evaluate_conll_file(p2)


# --- agreement with seqeval on random data ------------------------------------------------

TYPES = ["PER", "LOC", "ORG", "MISC"]


def _gold_sentence(rng, n, scheme):
    ents, i = [], 0
    while i < n:
        if rng.random() < 0.3:
            end = min(n, i + int(rng.integers(1, 4)))
            ents.append((str(rng.choice(TYPES)), i, end))
            i = end
        else:
            i += 1
    return entities_to_tags(ents, n, scheme)


def _corrupt(rng, tags, prefixes, p=0.25):
    """Replace each tag with probability p by a random one (ill-formed sequences included)."""
    out = list(tags)
    for i in range(len(out)):
        if rng.random() < p:
            r = rng.integers(0, len(prefixes) + 1)
            out[i] = "O" if r == len(prefixes) else f"{prefixes[r]}-{rng.choice(TYPES)}"
    return out


def _random_corpus(rng, scheme, prefixes, n_sent=20):
    gold = [_gold_sentence(rng, int(rng.integers(0, 15)), scheme) for _ in range(n_sent)]
    pred = [_corrupt(rng, g, prefixes) for g in gold]
    if rng.random() < 0.3:  # sometimes the gold side is ill-formed too
        gold = [_corrupt(rng, g, prefixes, 0.1) for g in gold]
    return gold, pred


def _compare(ours, y_true, y_pred, **kw):
    sm = pytest.importorskip("seqeval.metrics")
    assert ours.precision == pytest.approx(sm.precision_score(y_true, y_pred, **kw))
    assert ours.recall == pytest.approx(sm.recall_score(y_true, y_pred, **kw))
    assert ours.f1 == pytest.approx(sm.f1_score(y_true, y_pred, **kw))
    assert ours.accuracy == pytest.approx(sm.accuracy_score(y_true, y_pred))
    if ours.type_counts:
        rep = sm.classification_report(y_true, y_pred, output_dict=True, **kw)
        for t, (p, r, f, support) in ours.per_type.items():
            assert rep[t]["precision"] == pytest.approx(p)
            assert rep[t]["recall"] == pytest.approx(r)
            assert rep[t]["f1-score"] == pytest.approx(f)
            assert rep[t]["support"] == support
        assert set(rep) - {"micro avg", "macro avg", "weighted avg"} == set(ours.per_type)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("scheme,prefixes", [("IOB2", "BI"), ("IOB1", "BI"), ("BIOES", "BIES")])
def test_conlleval_mode_matches_seqeval_default(scheme, prefixes):
    pytest.importorskip("seqeval")
    rng = np.random.default_rng(10)
    for _ in range(40):
        gold, pred = _random_corpus(rng, scheme, prefixes)
        _compare(evaluate(gold, pred), gold, pred)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("scheme,prefixes", [("IOB2", "BI"), ("BIOES", "BIES")])
def test_strict_mode_matches_seqeval_strict(scheme, prefixes):
    scheme_mod = pytest.importorskip("seqeval.scheme")
    ref_scheme = {"IOB2": scheme_mod.IOB2, "BIOES": scheme_mod.IOBES}[scheme]
    rng = np.random.default_rng(11)
    for _ in range(40):
        gold, pred = _random_corpus(rng, scheme, prefixes)
        ours = evaluate(gold, pred, mode="strict", scheme=scheme)
        _compare(ours, gold, pred, mode="strict", scheme=ref_scheme)


@pytest.mark.data
@pytest.mark.filterwarnings("ignore")
def test_conll2003_valid(conll_dir):
    from chainrule.apps.ner.conll import read_conll

    gold = [s.tags for s in read_conll(conll_dir / "valid.txt")]
    r = evaluate(gold, gold)
    assert (r.n_gold, r.n_pred, r.n_correct, r.f1, r.accuracy) == (5942, 5942, 5942, 1.0, 1.0)
    assert {t: s.support for t, s in r.per_type.items()} == {
        "LOC": 1837,
        "MISC": 922,
        "ORG": 1341,
        "PER": 1842,
    }
    assert r.format_table().splitlines()[0] == (
        "processed 51362 tokens with 5942 phrases; found: 5942 phrases; correct: 5942."
    )
    # A corrupted prediction over the whole dev set agrees with seqeval in both modes.
    scheme_mod = pytest.importorskip("seqeval.scheme")
    rng = np.random.default_rng(12)
    pred = [_corrupt(rng, g, "BI", p=0.05) for g in gold]
    _compare(evaluate(gold, pred), gold, pred)
    _compare(evaluate(gold, pred, mode="strict"), gold, pred, mode="strict", scheme=scheme_mod.IOB2)
