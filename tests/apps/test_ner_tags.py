"""Tests for chainrule.apps.ner.tags (tag schemes, chunks, conversion, TagSet)."""

from __future__ import annotations

import doctest
import itertools
import json

import numpy as np
import pytest

from chainrule.apps.ner import tags as tagmod
from chainrule.apps.ner.tags import (
    Entity,
    TagSchemeError,
    TagSet,
    allowed_transition,
    bioes_to_iob2,
    convert,
    entities_to_tags,
    get_entities,
    iob1_to_iob2,
    iob2_to_bioes,
    iob2_to_iob1,
    normalize_scheme,
    split_tag,
)

TYPES = ["PER", "LOC", "ORG"]
PREFIXES = {"IOB1": "BI", "IOB2": "BI", "BIOES": "BIES"}


def random_tags(rng: np.random.Generator, n: int, prefixes: str, types=TYPES) -> list[str]:
    """Arbitrary (often ill-formed) tag sequence; O about half the time."""
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append("O")
        else:
            out.append(f"{rng.choice(list(prefixes))}-{rng.choice(types)}")
    return out


def random_entities(rng: np.random.Generator, n: int, types=TYPES) -> list[tuple[str, int, int]]:
    """Random non-overlapping entities in a sentence of n tokens (adjacent ones included)."""
    ents, i = [], 0
    while i < n:
        if rng.random() < 0.4:
            length = int(rng.integers(1, 4))
            end = min(n, i + length)
            ents.append((str(rng.choice(types)), i, end))
            i = end
        else:
            i += 1
    return ents


def test_doctests():
    assert doctest.testmod(tagmod).failed == 0


def test_split_tag():
    assert split_tag("O") == ("O", "")
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("S-ORG-X") == ("S", "ORG-X")  # hyphens allowed in the type
    for bad in ["PER", "X-PER", "B-", "B", "b-PER", "BPER", ""]:
        with pytest.raises(TagSchemeError, match="malformed tag"):
            split_tag(bad)


def test_normalize_scheme():
    assert normalize_scheme("iob2") == "IOB2"
    assert normalize_scheme("IOBES") == "BIOES"
    assert normalize_scheme("bio") == "IOB2"
    with pytest.raises(TagSchemeError, match="unknown tag scheme"):
        normalize_scheme("BILOU")


def test_get_entities_iob2_lenient():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "I-ORG", "B-ORG", "B-ORG", "I-ORG"]
    # Conlleval rules: the stray I-LOC after O opens LOC(3,5); I-ORG after I-LOC is a type
    # change, so it opens ORG(5,6); each B- opens a new chunk.
    assert get_entities(tags) == [
        ("PER", 0, 2),
        ("LOC", 3, 5),
        ("ORG", 5, 6),
        ("ORG", 6, 7),
        ("ORG", 7, 9),
    ]
    assert get_entities(tags)[0] == Entity("PER", 0, 2)
    assert get_entities(tags)[0].type == "PER"
    assert get_entities([]) == []
    assert get_entities(["O", "O"]) == []


def test_get_entities_iob2_strict():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-ORG", "I-PER", "B-ORG"]
    # Only B-X I-X* counts; I-PER after B-ORG ends ORG(5,6) and is itself ignored.
    assert get_entities(tags, strict=True) == [("PER", 0, 2), ("ORG", 5, 6), ("ORG", 7, 8)]


def test_get_entities_iob1():
    tags = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert get_entities(tags, "IOB1") == [
        ("PER", 0, 2),
        ("PER", 2, 3),
        ("LOC", 4, 5),
        ("ORG", 5, 6),
    ]
    with pytest.raises(TagSchemeError, match="strict decoding"):
        get_entities(tags, "IOB1", strict=True)


def test_get_entities_bioes():
    tags = ["B-PER", "I-PER", "E-PER", "S-LOC", "S-LOC", "E-ORG", "E-ORG", "B-PER", "O"]
    # Lenient: S- always makes its own chunk; a stray E- opens (and closes) a chunk; a B-
    # without its E- still gives a chunk up to where it is interrupted.
    assert get_entities(tags, "BIOES") == [
        ("PER", 0, 3),
        ("LOC", 3, 4),
        ("LOC", 4, 5),
        ("ORG", 5, 6),
        ("ORG", 6, 7),
        ("PER", 7, 8),
    ]
    # Strict: only B I* E and S.
    assert get_entities(tags, "BIOES", strict=True) == [
        ("PER", 0, 3),
        ("LOC", 3, 4),
        ("LOC", 4, 5),
    ]


def test_prefix_not_in_scheme_raises():
    with pytest.raises(TagSchemeError, match="position 1 is not valid in scheme IOB2"):
        get_entities(["B-PER", "E-PER"], "IOB2")
    with pytest.raises(TagSchemeError):
        convert(["S-PER"], "IOB1", "IOB2")


def test_conversions_by_hand():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "O", "I-ORG", "I-MISC"]
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "O", "B-ORG", "B-MISC"]
    bioes = ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "O", "S-ORG", "S-MISC"]
    assert iob1_to_iob2(iob1) == iob2
    assert iob2_to_iob1(iob2) == iob1
    assert iob2_to_bioes(iob2) == bioes
    assert bioes_to_iob2(bioes) == iob2
    assert convert(iob1, "IOB1", "BIOES") == bioes
    assert convert(bioes, "IOBES", "iob1") == iob1
    assert iob2_to_bioes(["B-X", "I-X", "I-X", "I-X"]) == ["B-X", "I-X", "I-X", "E-X"]


def test_convert_repairs_ill_formed_input():
    # A stray I- after O opens an entity (conlleval reading) and is written as B- / S-.
    assert convert(["O", "I-PER", "I-PER"], "IOB2", "IOB2") == ["O", "I-PER", "I-PER"]
    assert iob2_to_bioes(["O", "I-PER", "I-PER"]) == ["O", "B-PER", "E-PER"]
    assert bioes_to_iob2(["E-PER", "E-PER"]) == ["B-PER", "B-PER"]
    assert iob2_to_iob1(["O", "I-PER", "B-PER"]) == ["O", "I-PER", "B-PER"]


def test_entities_to_tags_errors():
    with pytest.raises(TagSchemeError, match="does not fit"):
        entities_to_tags([("PER", 2, 5)], 4)
    with pytest.raises(TagSchemeError, match="overlaps"):
        entities_to_tags([("PER", 0, 2), ("LOC", 1, 3)], 4)


@pytest.mark.parametrize("src,dst", list(itertools.permutations(["IOB1", "IOB2", "BIOES"], 2)))
def test_conversion_preserves_entities_random(src, dst):
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(0, 12))
        # Arbitrary input: the chunks read leniently in src are exactly those of the output.
        tags = random_tags(rng, n, PREFIXES[src])
        out = convert(tags, src, dst)
        assert len(out) == n
        assert get_entities(out, dst) == get_entities(tags, src)
        # Well-formed input round-trips exactly.
        good = entities_to_tags(random_entities(rng, n), n, src)
        assert convert(convert(good, src, dst), dst, src) == good


def _valid_by_transitions(tags, scheme):
    seq = [None, *tags, None]
    return all(allowed_transition(a, b, scheme) for a, b in itertools.pairwise(seq))


@pytest.mark.parametrize("scheme", ["IOB2", "BIOES"])
def test_allowed_transition_matches_strict_decoding(scheme):
    # A sequence obeys every transition constraint iff strict decoding loses nothing.
    rng = np.random.default_rng(2)
    n_valid = 0
    for _ in range(2000):
        tags = random_tags(rng, int(rng.integers(0, 6)), PREFIXES[scheme], ["A", "B"])
        lenient = get_entities(tags, scheme)
        strict = get_entities(tags, scheme, strict=True)
        valid = _valid_by_transitions(tags, scheme)
        n_valid += valid
        assert valid == (lenient == strict), tags
    assert n_valid > 100  # the random sequences do exercise both outcomes


def test_allowed_transition_iob1():
    # IOB1 is well formed iff the canonical IOB1 re-encoding leaves it unchanged.
    rng = np.random.default_rng(3)
    for _ in range(1000):
        tags = random_tags(rng, int(rng.integers(0, 6)), "BI", ["A", "B"])
        assert _valid_by_transitions(tags, "IOB1") == (iob2_to_iob1(iob1_to_iob2(tags)) == tags)


def test_allowed_transition_by_hand():
    assert allowed_transition(None, "B-PER")
    assert not allowed_transition(None, "I-PER")
    assert allowed_transition("I-PER", "I-PER")
    assert not allowed_transition("B-LOC", "I-PER")
    assert allowed_transition("I-PER", None)
    assert allowed_transition(None, "I-PER", "IOB1")
    assert not allowed_transition("O", "B-PER", "IOB1")
    assert allowed_transition("I-PER", "B-PER", "IOB1")
    assert not allowed_transition("I-LOC", "B-PER", "IOB1")
    assert allowed_transition("B-PER", "E-PER", "BIOES")
    assert not allowed_transition("B-PER", "O", "BIOES")
    assert not allowed_transition("E-PER", "I-PER", "BIOES")
    assert allowed_transition("S-PER", "S-PER", "BIOES")
    assert allowed_transition("E-PER", None, "BIOES")
    assert not allowed_transition("I-PER", None, "BIOES")
    with pytest.raises(TagSchemeError):
        allowed_transition("O", "S-PER", "IOB2")


def test_tagset_order_and_mapping():
    ts = TagSet(["PER", "MISC", "ORG", "LOC", "PER"])
    assert ts.tags == (
        "O",
        "B-LOC",
        "I-LOC",
        "B-MISC",
        "I-MISC",
        "B-ORG",
        "I-ORG",
        "B-PER",
        "I-PER",
    )
    assert len(ts) == 9 and ts.index("O") == TagSet.OUTSIDE_ID == 0
    ids = ts.encode(["O", "B-PER", "I-LOC"])
    assert ids.dtype == np.int64 and ids.tolist() == [0, 7, 2]
    assert ts.decode(np.array([0, 7, 2])) == ["O", "B-PER", "I-LOC"]
    assert "B-PER" in ts and "S-PER" not in ts
    with pytest.raises(TagSchemeError, match="not in this IOB2 tag set"):
        ts.index("B-DATE")
    with pytest.raises(TagSchemeError, match="out of range"):
        ts.decode([9])
    with pytest.raises(TagSchemeError):
        TagSet(["O"])


def test_tagset_bioes_and_from_tags():
    ts = TagSet.from_tags([["S-PER", "O"], ["B-LOC", "E-LOC"]], "BIOES")
    assert ts.tags == ("O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER")
    # Order does not depend on the order the tags were seen in.
    assert TagSet.from_tags([["B-LOC"], ["S-PER"]], "BIOES") == ts


def test_tagset_dict_round_trip():
    ts = TagSet(["PER", "LOC"], "BIOES")
    d = json.loads(json.dumps(ts.to_dict()))
    assert TagSet.from_dict(d) == ts
    d["tags"] = list(reversed(d["tags"]))
    with pytest.raises(TagSchemeError, match="stored tag order"):
        TagSet.from_dict(d)
    with pytest.raises(TagSchemeError, match="not a TagSet"):
        TagSet.from_dict({"scheme": "IOB2"})


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "BIOES"])
def test_transition_mask_matches_allowed_transition(scheme):
    ts = TagSet(["PER", "LOC"], scheme)
    start, trans, end = ts.transition_mask()
    n = len(ts)
    assert start.shape == (n,) and end.shape == (n,) and trans.shape == (n, n)
    assert start.dtype == trans.dtype == end.dtype == np.bool_
    for i, a in enumerate(ts.tags):
        assert start[i] == allowed_transition(None, a, scheme)
        assert end[i] == allowed_transition(a, None, scheme)
        for j, b in enumerate(ts.tags):
            assert trans[i, j] == allowed_transition(a, b, scheme)


@pytest.mark.filterwarnings("ignore")
def test_lenient_and_strict_match_seqeval():
    seqeval_labeling = pytest.importorskip("seqeval.metrics.sequence_labeling")
    scheme_mod = pytest.importorskip("seqeval.scheme")
    rng = np.random.default_rng(4)
    for _ in range(500):
        tags = random_tags(rng, int(rng.integers(0, 10)), "BIES")
        ref = [(t, s, e + 1) for t, s, e in seqeval_labeling.get_entities(tags)]  # end incl.
        assert get_entities(tags, "BIOES") == ref, tags
        for ours, theirs, prefixes in (
            ("IOB2", scheme_mod.IOB2, "BI"),
            ("BIOES", scheme_mod.IOBES, "BIES"),
        ):
            t2 = random_tags(rng, int(rng.integers(0, 10)), prefixes)
            ref = [(e.tag, e.start, e.end) for e in scheme_mod.Entities([t2], theirs).entities[0]]
            assert get_entities(t2, ours, strict=True) == ref, t2


# --- the real CoNLL-2003 files ------------------------------------------------------------

ENTITY_COUNTS = {  # README.md, "Entities (IOB2 chunks) per type"
    "train": {"PER": 6600, "LOC": 7140, "ORG": 6321, "MISC": 3438},
    "valid": {"PER": 1842, "LOC": 1837, "ORG": 1341, "MISC": 922},
    "test": {"PER": 1617, "LOC": 1668, "ORG": 1661, "MISC": 702},
}


@pytest.mark.data
@pytest.mark.parametrize("split", list(ENTITY_COUNTS))
def test_conll2003_entities_and_round_trips(conll_dir, split):
    from collections import Counter

    from chainrule.apps.ner.conll import read_conll

    sents = read_conll(conll_dir / f"{split}.txt")
    counts = Counter()
    for s in sents:
        ents = get_entities(s.tags)
        counts.update(e.type for e in ents)
        # README: the files are well-formed IOB2, so strict decoding loses nothing ...
        assert get_entities(s.tags, strict=True) == ents
        # ... and conversions round-trip exactly.
        assert iob1_to_iob2(iob2_to_iob1(s.tags)) == s.tags
        assert bioes_to_iob2(iob2_to_bioes(s.tags)) == s.tags
    assert counts == ENTITY_COUNTS[split]
    assert TagSet.from_tags(s.tags for s in sents).types == ("LOC", "MISC", "ORG", "PER")
