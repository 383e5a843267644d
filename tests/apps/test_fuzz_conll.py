"""Fuzzing the CoNLL reader: any text or bytes give sentences or a ChainruleError, fast."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.apps.ner.conll import ConllFormatError, read_conll, read_conll_text, write_conll
from chainrule.core import ChainruleError

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Text that looks like CoNLL often enough to get past the first line.
_pieces = st.sampled_from(
    [
        "EU",
        "B-ORG",
        "O",
        "I-PER",
        "-DOCSTART-",
        " ",
        "\t",
        "\n",
        "\r\n",
        "\n\n",
        "\ufeff",
        "\u00a0",
        "\u2028",
        "x",
        "é",
        "\x00",
        "  ",
    ]
)
conll_like = st.lists(_pieces, max_size=60).map("".join)


def _check(call) -> None:
    start = time.perf_counter()
    try:
        sentences = call()
    except ChainruleError:
        pass
    else:
        for s in sentences:
            assert len(s.words) == len(s.tags) > 0
    assert time.perf_counter() - start < 1.0  # a hang guard, not a benchmark


@FUZZ
@given(st.one_of(st.text(max_size=300), conll_like), st.integers(-5, 5))
def test_read_conll_text_raises_only_library_errors(text, tag_column):
    _check(lambda: read_conll_text(text, tag_column=tag_column))


@FUZZ
@given(st.one_of(st.binary(max_size=300), conll_like.map(lambda t: t.encode("utf-8"))))
def test_read_conll_file_raises_only_library_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.txt"
    path.write_bytes(data)
    _check(lambda: read_conll(path))


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), min_size=1, max_size=5))
def test_write_conll_round_trips_or_raises_a_library_error(tmp_path_factory, rows):
    from chainrule.apps.ner.conll import Sentence

    sent = Sentence([w for w, _ in rows], [t for _, t in rows])
    path = tmp_path_factory.mktemp("fuzzw") / "f.txt"
    try:
        write_conll(path, [sent])
    except ConllFormatError:
        return
    [back] = read_conll(path)
    assert back.words == sent.words and back.tags == sent.tags
