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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .tags import get_entities

if TYPE_CHECKING:
    from .data import FeatureExtractor
    from .model import WindowTagger

__all__ = [
    "FORMATS", "TaggedSentence", "format_output", "split_sentences", "tag_text", "tokenize",
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
            out.append({
                "type": e.type,
                "start": e.start,
                "end": e.end,
                "char_start": self.starts[e.start],
                "char_end": self.ends[e.end - 1],
                "text": " ".join(self.tokens[e.start:e.end]),
            })
        return out


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Split ``text`` into ``(token, char_start, char_end)`` triples.

    Examples
    --------
    >>> [t for t, _, _ in tokenize("EU rejects German call, says U.S. official's 3.5%.")]
    ['EU', 'rejects', 'German', 'call', ',', 'says', 'U.S.', 'official', "'s", '3.5', '%', '.']
    """
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def split_sentences(text: str) -> list[list[tuple[str, int, int]]]:
    """Tokenise ``text`` and cut it into sentences (at . ! ? tokens and blank lines).

    Examples
    --------
    >>> [[t for t, _, _ in s] for s in split_sentences("Hi there. Bye!\\n\\nNew para")]
    [['Hi', 'there', '.'], ['Bye', '!'], ['New', 'para']]
    """
    sentences: list[list[tuple[str, int, int]]] = []
    for para in re.finditer(r"(?:[^\n]|\n(?![ \t\r]*\n))+", text):
        cur: list[tuple[str, int, int]] = []
        for tok, s, e in tokenize(para.group()):
            cur.append((tok, s + para.start(), e + para.start()))
            if tok in _SENT_END:
                sentences.append(cur)
                cur = []
        if cur:
            sentences.append(cur)
    return sentences


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
        raise ValueError(f"unknown output format {fmt!r}; choose one of {FORMATS}")
    lines: list[str] = []
    for s in sentences:
        if fmt == "conll":
            lines.extend(f"{w} {t}" for w, t in zip(s.tokens, s.tags, strict=True))
            lines.append("")
        elif fmt == "json":
            lines.append(json.dumps({"tokens": s.tokens, "tags": s.tags,
                                     "entities": s.entities()}, ensure_ascii=False))
        else:
            lines.extend(f"{e['char_start']}\t{e['char_end']}\t{e['type']}\t{e['text']}"
                         for e in s.entities())
    return "\n".join(lines)


def tag_text(model: WindowTagger, extractor: FeatureExtractor, text: str,
             constrained: bool = True, batch_size: int = 256) -> list[TaggedSentence]:
    """Tokenise raw ``text``, split it into sentences and tag them with ``model``.

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
    sentences = split_sentences(text)
    if not sentences:
        return []
    enc = extractor.encode([[t for t, _, _ in s] for s in sentences], with_tags=False)
    paths = model.predict(enc, batch_size=batch_size, constrained=constrained)
    out = []
    for s, p in zip(sentences, paths, strict=True):
        out.append(TaggedSentence([t for t, _, _ in s], [a for _, a, _ in s],
                                  [b for _, _, b in s], extractor.tagset.decode(p)))
    return out
