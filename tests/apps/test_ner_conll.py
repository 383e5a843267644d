"""Tests for chainrule.apps.ner.conll (CoNLL reading and writing)."""

from __future__ import annotations

import doctest
import io
from collections import Counter

import pytest

from chainrule.apps.ner import conll
from chainrule.apps.ner.conll import (
    ConllFormatError,
    Sentence,
    iter_tokens,
    read_conll,
    read_conll_text,
    write_conll,
)

FOUR_COL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

"""


def test_doctests():
    assert doctest.testmod(conll).failed == 0


def test_four_columns_with_docstart():
    sents = read_conll_text(FOUR_COL)
    assert len(sents) == 2
    assert sents[0].words == ["EU", "rejects", "German"]
    assert sents[0].tags == ["B-ORG", "O", "B-MISC"]
    assert sents[0].extra == [["NNP", "VBZ", "JJ"], ["B-NP", "B-VP", "B-NP"]]
    assert sents[1].words == ["Peter", "Blackburn"]
    assert sents[1].tags == ["B-PER", "I-PER"]
    assert all(w != conll.DOCSTART for s in sents for w in s.words)


def test_other_tag_column():
    # tag_column=1 reads the POS column; the NER column moves to `extra`.
    [s, _] = read_conll_text(FOUR_COL, tag_column=1)
    assert s.tags == ["NNP", "VBZ", "JJ"]
    assert s.extra == [["B-NP", "B-VP", "B-NP"], ["B-ORG", "O", "B-MISC"]]
    assert read_conll_text(FOUR_COL, tag_column=-2)[0].tags == ["B-NP", "B-VP", "B-NP"]


@pytest.mark.parametrize("bad", [0, -4, 4, 7])
def test_bad_tag_column(bad):
    with pytest.raises(ConllFormatError, match="tag_column"):
        read_conll_text(FOUR_COL, tag_column=bad)


def test_two_columns_tabs_runs_of_spaces_and_trailing_whitespace():
    text = "Peter\tB-PER\n  Blackburn    I-PER \t\n\n\n\nBRUSSELS \t B-LOC"  # no final newline
    sents = read_conll_text(text)
    assert [s.words for s in sents] == [["Peter", "Blackburn"], ["BRUSSELS"]]
    assert [s.tags for s in sents] == [["B-PER", "I-PER"], ["B-LOC"]]
    assert sents[0].extra == []


def test_docstart_without_blank_line_ends_sentence():
    text = "a O\n-DOCSTART- O\nb O\n"
    assert [s.words for s in read_conll_text(text)] == [["a"], ["b"]]


def test_non_breaking_space_stays_inside_token():
    # U+00A0 is not a field separator (str.split() would treat it as one).
    [s] = read_conll_text("New\u00a0York B-LOC\n")
    assert s.words == ["New\u00a0York"]


def test_crlf_and_bom_file(tmp_path):
    p = tmp_path / "crlf.txt"
    p.write_bytes(b"\xef\xbb\xbf-DOCSTART- O\r\n\r\nEU B-ORG\r\nrejects O\r\n\r\nok O\r\n")
    sents = read_conll(p)
    assert [s.words for s in sents] == [["EU", "rejects"], ["ok"]]
    assert [s.tags for s in sents] == [["B-ORG", "O"], ["O"]]
    # Same through the text entry point.
    assert read_conll_text("\ufeffEU B-ORG\r\n\r\n")[0].words == ["EU"]


def test_empty_input():
    assert read_conll_text("") == []
    assert read_conll_text("\n\n-DOCSTART- -X- -X- O\n\n") == []


def test_wrong_column_count_names_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nGerman JJ B-MISC\n")
    with pytest.raises(ConllFormatError) as info:
        read_conll(p)
    err = info.value
    assert isinstance(err, ValueError)
    msg = str(err)
    assert str(p) in msg and "line 4" in msg and "expected 4 columns" in msg and "got 3" in msg
    assert err.lineno == 4 and err.source == str(p)


def test_single_column_is_an_error():
    with pytest.raises(ConllFormatError, match=r"<string>, line 3: expected at least 2 columns"):
        read_conll_text("\n\nlonely\n")
    with pytest.raises(ConllFormatError, match=r"mine.txt, line 2: expected 2 columns"):
        read_conll_text("a O\nb\n", name="mine.txt")


def test_invalid_utf8_reports_line(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes(b"a O\nb O\n\ncaf\xe9 O\n")
    with pytest.raises(ConllFormatError, match="line 4: invalid UTF-8"):
        read_conll(p)


def test_sentence_validates_lengths():
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        Sentence(["a", "b"], ["O"])
    with pytest.raises(ValueError, match="extra column 0"):
        Sentence(["a"], ["O"], [["X", "Y"]])


def test_write_then_read_round_trip(tmp_path):
    sents = read_conll_text(FOUR_COL)
    pred = [["B-ORG", "O", "O"], ["B-PER", "B-PER"]]
    p = tmp_path / "out.txt"
    write_conll(p, sents, pred)
    text = p.read_text()
    assert text.splitlines()[:4] == ["EU B-ORG B-ORG", "rejects O O", "German B-MISC O", ""]
    assert text.endswith("Blackburn I-PER B-PER\n\n")
    back = read_conll(p)  # last column (prediction) is the tag column
    assert [s.words for s in back] == [s.words for s in sents]
    assert [s.tags for s in back] == pred
    assert [s.extra[0] for s in back] == [s.tags for s in sents]


def test_write_without_predictions_to_file_object():
    buf = io.StringIO()
    write_conll(buf, [Sentence(["a", "b"], ["O", "B-X"]), Sentence([], []), Sentence(["c"], ["O"])])
    assert buf.getvalue() == "a O\nb B-X\n\nc O\n\n"
    assert [s.tags for s in read_conll_text(buf.getvalue())] == [["O", "B-X"], ["O"]]


def test_write_errors():
    s = [Sentence(["a", "b"], ["O", "O"])]
    with pytest.raises(ConllFormatError, match="1 sentences but 2 predicted"):
        write_conll(io.StringIO(), s, [["O", "O"], ["O"]])
    with pytest.raises(ConllFormatError, match="sentence 0 has 2 tokens but 1 predicted"):
        write_conll(io.StringIO(), s, [["O"]])
    with pytest.raises(ConllFormatError, match="sentence 0, token 1: word 'b c'"):
        write_conll(io.StringIO(), [Sentence(["a", "b c"], ["O", "O"])])


def test_iter_tokens():
    sents = read_conll_text(FOUR_COL)
    toks = list(iter_tokens(sents))
    assert len(toks) == 5
    assert toks[0] == ("EU", "B-ORG") and toks[-1] == ("Blackburn", "I-PER")


# --- the real CoNLL-2003 files (../shared/data, never copied into the repository) --------

# From /work/shared/data/conll2003/README.md.
EXPECTED = {
    "train": (14041, 203621, 113, [169578, 6600, 4528, 7140, 1157, 6321, 3704, 3438, 1155]),
    "valid": (3250, 51362, 109, [42759, 1842, 1307, 1837, 257, 1341, 751, 922, 346]),
    "test": (3453, 46435, 124, [38323, 1617, 1156, 1668, 257, 1661, 835, 702, 216]),
}
TAG_ORDER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


@pytest.fixture(scope="module")
def corpus(conll_dir):
    return {split: read_conll(conll_dir / f"{split}.txt") for split in EXPECTED}


@pytest.mark.data
@pytest.mark.parametrize("split", list(EXPECTED))
def test_conll2003_counts(corpus, split):
    n_sent, n_tok, longest, tag_counts = EXPECTED[split]
    sents = corpus[split]
    assert len(sents) == n_sent
    assert sum(len(s) for s in sents) == n_tok
    assert max(len(s) for s in sents) == longest
    counts = Counter(tag for _, tag in iter_tokens(sents))
    assert counts == dict(zip(TAG_ORDER, tag_counts, strict=True))
    # POS and chunk columns are kept.
    assert all(len(s.extra) == 2 for s in sents)
    assert not any(w == conll.DOCSTART for s in sents for w in s.words)


@pytest.mark.data
def test_conll2003_vocabulary_facts(corpus):
    train_types = {w.lower() for s in corpus["train"] for w in s.words}
    assert len(train_types) == 21009
    for split, rate in (("valid", 7.54), ("test", 10.87)):
        toks = [w.lower() for s in corpus[split] for w in s.words]
        oov = 100 * sum(t not in train_types for t in toks) / len(toks)
        assert round(oov, 2) == rate
