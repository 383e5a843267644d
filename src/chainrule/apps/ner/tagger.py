"""Tagging raw text: tokenise, split sentences, predict, and format the result.

The tokeniser is deliberately simple, close to the CoNLL-2003 conventions: words, numbers
(``1,000``, ``3.5``, ``1996-08-22``), abbreviations with dots (``U.S.``), hyphenated and
apostrophe words stay whole; every other punctuation character is its own token; a
possessive ``'s`` is split off. Sentences end at ``.``, ``!`` or ``?`` tokens and at
blank lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from chainrule.core.errors import ChainruleError

from .features import make_windows
from .tags import get_entities

if TYPE_CHECKING:
    from .data import FeatureExtractor
    from .model import WindowTagger

__all__ = [
    "FORMATS",
    "TaggedSentence",
    "TaggingError",
    "format_output",
    "iter_sentences",
    "iter_tag_text",
    "split_sentences",
    "tag_text",
    "tokenize",
]

FORMATS = ("conll", "json", "spans")

_TOKEN = re.compile(
    r"""(?:[A-Za-z]\.){2,}                # abbreviations: U.S., U.N.
      | \d+(?:[.,:/-]\d+)*                # numbers, dates, times, scores: 1,000 3.5 2-1
      | \w+(?:[-'&]\w+)*(?=['’][sS]\b)    # word before a possessive 's
      | ['’][sS]\b                        # the possessive itself
      | \w+(?:[-'’&.]\w+)*                # words, hyphenated words, o'clock, e-mail
      | \S                                # any other character on its own
    """,
    re.VERBOSE,
)
_SENT_END = frozenset({".", "!", "?"})
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


class TaggingError(ChainruleError, ValueError):
    """Bad arguments to the tagging functions (an unknown output format, ...)."""


@dataclass
class TaggedSentence:
    """Tokens of one sentence with character offsets into the input and predicted tags."""

    tokens: list[str]
    starts: list[int]
    ends: list[int]
    tags: list[str]

    def entities(self) -> list[dict]:
        """Entities as dicts with type, token span, character span and text."""
        out = []
        for e in get_entities(self.tags):
            out.append(
                {
                    "type": e.type,
                    "start": e.start,
                    "end": e.end,
                    "char_start": self.starts[e.start],
                    "char_end": self.ends[e.end - 1],
                    "text": " ".join(self.tokens[e.start : e.end]),
                }
            )
        return out


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Split ``text`` into ``(token, char_start, char_end)`` triples.

    Examples
    --------
    >>> [t for t, _, _ in tokenize("EU rejects German call, says U.S. official's 3.5%.")]
    ['EU', 'rejects', 'German', 'call', ',', 'says', 'U.S.', 'official', "'s", '3.5', '%', '.']
    """
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def iter_sentences(text: str) -> Iterator[list[tuple[str, int, int]]]:
    """Like :func:`split_sentences`, one sentence at a time (no list of the whole text)."""
    # Paragraphs are the stretches between blank lines. Found by searching for the blank
    # lines themselves: a pattern matching a whole paragraph, (?:[^\n]|\n(?!...))+,
    # makes the regex engine keep backtracking state per character (hundreds of MB
    # for a one-line 2 MB input).
    starts = [0]
    ends = []
    for sep in _BLANK_LINE.finditer(text):
        ends.append(sep.start())
        starts.append(sep.end())
    ends.append(len(text))
    for p_start, p_end in zip(starts, ends, strict=True):
        cur: list[tuple[str, int, int]] = []
        for m in _TOKEN.finditer(text, p_start, p_end):
            tok = m.group()
            cur.append((tok, m.start(), m.end()))
            if tok in _SENT_END:
                yield cur
                cur = []
        if cur:
            yield cur


def split_sentences(text: str) -> list[list[tuple[str, int, int]]]:
    """Tokenise ``text`` and cut it into sentences (at . ! ? tokens and blank lines).

    Examples
    --------
    >>> [[t for t, _, _ in s] for s in split_sentences("Hi there. Bye!\\n\\nNew para")]
    [['Hi', 'there', '.'], ['Bye', '!'], ['New', 'para']]
    """
    return list(iter_sentences(text))


def format_output(sentences: Sequence[TaggedSentence], fmt: str = "conll") -> str:
    """Render tagged sentences as ``conll`` (token and tag per line), ``json`` (one object
    per sentence, one per line) or ``spans`` (one entity per line: char start, char end,
    type, text; tab-separated).

    Examples
    --------
    >>> s = TaggedSentence(["EU", "rejects"], [0, 3], [2, 10], ["B-ORG", "O"])
    >>> print(format_output([s], "spans"))
    0	2	ORG	EU
    """
    if fmt not in FORMATS:
        raise TaggingError(f"unknown output format {fmt!r}; choose one of {FORMATS}")
    lines: list[str] = []
    for s in sentences:
        if fmt == "conll":
            lines.extend(f"{w} {t}" for w, t in zip(s.tokens, s.tags, strict=True))
            lines.append("")
        elif fmt == "json":
            lines.append(
                json.dumps(
                    {"tokens": s.tokens, "tags": s.tags, "entities": s.entities()},
                    ensure_ascii=False,
                )
            )
        else:
            lines.extend(
                f"{e['char_start']}\t{e['char_end']}\t{e['type']}\t{e['text']}"
                for e in s.entities()
            )
    return "\n".join(lines)


def _long_sentence_scores(
    model: WindowTagger, extractor: FeatureExtractor, words: Sequence[str], chunk: int
) -> np.ndarray:
    """Tag scores of one long sentence, ``chunk`` tokens at a time.

    A token's window only reaches ``window`` neighbours on each side, so a chunk's windows
    are built from the chunk plus that margin: the features and windows of the whole
    sentence are never held at once.
    """
    w, n = extractor.config.window, len(words)
    out = np.empty((n, model.n_tags), dtype=model.out.weight.dtype)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        lo, hi = max(0, a - w), min(n, b + w)
        ids = extractor.token_ids(list(words[lo:hi]))
        # Padding at lo/hi is only seen by margin tokens, whose rows are dropped, unless
        # lo/hi is the real sentence edge, where padding is right.
        windows = {
            f: make_windows(v, w, extractor.pad_id(f))[a - lo : b - lo] for f, v in ids.items()
        }
        out[a:b] = model.emission_scores(windows, chunk_size=chunk)
    return out


def iter_tag_text(
    model: WindowTagger,
    extractor: FeatureExtractor,
    text: str,
    constrained: bool = True,
    max_tokens: int = 1024,
) -> Iterator[TaggedSentence]:
    """Tag raw ``text`` sentence by sentence, in memory bounded by ``max_tokens``.

    Sentences are tagged in groups of about ``max_tokens`` tokens; a longer sentence is
    scored ``max_tokens`` windows at a time and decoded alone (the Viterbi table is one
    byte per token and tag). Peak memory therefore grows with the longest sentence only by
    a few dozen bytes per token, not by the network's hundreds.
    """
    if max_tokens < 1:
        raise TaggingError(f"max_tokens must be >= 1, got {max_tokens}")
    group: list[list[tuple[str, int, int]]] = []
    size = 0

    def flush() -> Iterator[TaggedSentence]:
        enc = extractor.encode([[t for t, _, _ in s] for s in group], with_tags=False)
        scores = model.emission_scores(enc.windows, chunk_size=max_tokens)
        paths = model.decode(scores, enc.lengths, constrained, max_cells=max_tokens)
        for s, p in zip(group, paths, strict=True):
            yield _tagged(s, extractor.tagset.decode(p))

    for sent in iter_sentences(text):
        if len(sent) > max_tokens:
            if group:
                yield from flush()
                group, size = [], 0
            scores = _long_sentence_scores(model, extractor, [t for t, _, _ in sent], max_tokens)
            [path] = model.decode(scores, np.array([len(sent)]), constrained)
            yield _tagged(sent, extractor.tagset.decode(path))
            continue
        group.append(sent)
        size += len(sent)
        if size >= max_tokens:
            yield from flush()
            group, size = [], 0
    if group:
        yield from flush()


def _tagged(sent: list[tuple[str, int, int]], tags: list[str]) -> TaggedSentence:
    return TaggedSentence(
        [t for t, _, _ in sent], [a for _, a, _ in sent], [b for _, _, b in sent], tags
    )


def tag_text(
    model: WindowTagger,
    extractor: FeatureExtractor,
    text: str,
    constrained: bool = True,
    max_tokens: int = 1024,
) -> list[TaggedSentence]:
    """Tokenise raw ``text``, split it into sentences and tag them with ``model``.

    See :func:`iter_tag_text`, which this collects into a list.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.apps.ner.conll import Sentence
    >>> from chainrule.apps.ner.data import FeatureExtractor
    >>> from chainrule.apps.ner.model import WindowTagger
    >>> fx = FeatureExtractor.build([Sentence(["EU", "rejects"], ["B-ORG", "O"])])
    >>> m = WindowTagger({"word": 4, "caps": 6}, {"word": 3, "caps": 2}, 2, len(fx.tagset),
    ...                  hidden=4, rng=np.random.default_rng(0))
    >>> [s.tokens for s in tag_text(m, fx, "EU rejects it. Fine!")]
    [['EU', 'rejects', 'it', '.'], ['Fine', '!']]
    """
    return list(iter_tag_text(model, extractor, text, constrained, max_tokens))
