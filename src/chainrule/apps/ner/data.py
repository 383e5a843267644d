"""Turning sentences into the integer arrays the window network reads.

A :class:`FeatureExtractor` holds one vocabulary per *feature*, built from the training
data only. Each feature maps a token to an id; the network embeds each id and concatenates
the embeddings of the ``2 * window + 1`` tokens around the word being tagged.

Features (``FeatureConfig.features``):

``word``
    the normalised word (lower-cased, digits -> ``0``), as in Collobert et al. (2011).
``caps``
    the capitalisation class (:func:`~chainrule.apps.ner.features.cap_feature`), which
    normalisation throws away.
``suffixN`` / ``prefixN``
    the last / first ``N`` characters of the lower-cased word (digits -> ``0``); a
    character-level hint for words never seen in training ("-ville", "-berg", "-ese").
``shape``
    the word's shape with repeats collapsed: ``Xx`` for "Peter", ``X.X.`` for "U.S.",
    ``d-d-d`` for "1996-08-22".

All of them use only the training text itself (no gazetteers, no pre-trained vectors).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .conll import Sentence
from .features import (
    CAP_PAD,
    N_CAP_FEATURES,
    PAD_ID,
    FeatureError,
    Vocab,
    cap_feature,
    normalize_word,
    windows_for_corpus,
)
from .tags import TagSet

__all__ = [
    "Batch",
    "EncodedCorpus",
    "FeatureConfig",
    "FeatureExtractor",
    "toy_corpus",
    "word_shape",
]

_FEATURE_RE = re.compile(r"^(word|caps|shape|(?:suffix|prefix)([1-9]))$")


def word_shape(word: str) -> str:
    """Collapsed word shape: ``X`` upper, ``x`` lower, ``d`` digit, other characters kept.

    Runs of the same symbol are collapsed to one.

    Examples
    --------
    >>> [word_shape(w) for w in ["Peter", "EU", "McDonald", "1996-08-22", "U.S.", "'s"]]
    ['Xx', 'X', 'XxXx', 'd-d-d', 'X.X.', "'x"]
    """
    out: list[str] = []
    for c in word:
        if c.isdigit():
            s = "d"
        elif c.isupper():
            s = "X"
        elif c.islower():
            s = "x"
        else:
            s = c
        if not out or out[-1] != s:
            out.append(s)
    return "".join(out)


@dataclass
class FeatureConfig:
    """Which token features to use, and how their vocabularies are built.

    Parameters
    ----------
    features : tuple of str
        Any of ``"word"`` (required), ``"caps"``, ``"shape"``, ``"suffixN"``, ``"prefixN"``.
    window : int
        Context words on each side of the tagged word.
    min_freq : int
        Minimum training frequency of a word to get its own embedding.
    affix_min_freq : int
        Minimum frequency of a suffix/prefix/shape value.
    """

    features: tuple[str, ...] = ("word", "caps")
    window: int = 2
    min_freq: int = 1
    affix_min_freq: int = 2

    def __post_init__(self) -> None:
        self.features = tuple(self.features)
        if "word" not in self.features:
            raise FeatureError("the feature list must contain 'word'")
        for f in self.features:
            if not _FEATURE_RE.match(f):
                raise FeatureError(
                    f"unknown feature {f!r}: use word, caps, shape, suffixN or prefixN (N = 1..9)"
                )
        if len(set(self.features)) != len(self.features):
            raise FeatureError(f"repeated feature in {self.features}")
        if self.window < 0:
            raise FeatureError(f"window must be >= 0, got {self.window}")


def _token_value(feature: str, word: str) -> str:
    if feature == "shape":
        return word_shape(word)
    m = _FEATURE_RE.match(feature)
    n = int(m.group(2))
    w = normalize_word(word)
    return w[-n:] if feature.startswith("suffix") else w[:n]


@dataclass
class EncodedCorpus:
    """Integer features of a corpus, ready for batching.

    Attributes
    ----------
    windows : dict of str -> ndarray of int64, shape (n_tokens, 2 * window + 1)
        Per feature, the ids of the window around every token, in corpus order.
    tags : ndarray of int64, shape (n_tokens,)
        Gold tag ids (all 0 when the sentences have no usable tags).
    offsets : ndarray of int64, shape (n_sentences + 1,)
        Sentence ``i`` is tokens ``offsets[i]:offsets[i + 1]``.
    """

    windows: dict[str, np.ndarray]
    tags: np.ndarray
    offsets: np.ndarray

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_sentences(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass
class Batch:
    """A mini-batch: per-feature window ids and targets.

    For word-level batches ``mask`` is None and ``tags`` has shape ``(n,)``. For sentence
    batches the tokens of ``B`` sentences are laid out padded in ``(B, T)``: ``windows``
    hold only the real tokens (in row order), ``mask`` marks them and ``tags`` is
    ``(B, T)``.
    """

    windows: dict[str, np.ndarray]
    tags: np.ndarray
    mask: np.ndarray | None = None
    token_index: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_tokens(self) -> int:
        return int(next(iter(self.windows.values())).shape[0])


class FeatureExtractor:
    """Vocabularies of all features, plus the tag set: everything to encode a sentence.

    Examples
    --------
    >>> from chainrule.apps.ner.conll import Sentence
    >>> sents = [Sentence(["Peter", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"])]
    >>> fx = FeatureExtractor.build(sents, FeatureConfig(("word", "caps", "suffix2"),
    ...                                                   window=1, affix_min_freq=1))
    >>> enc = fx.encode(sents)
    >>> enc.windows["word"].shape, enc.windows["caps"][0].tolist()
    ((4, 3), [0, 2, 1])
    >>> fx.tagset.decode(enc.tags)
    ['B-PER', 'O', 'O', 'B-LOC']
    """

    def __init__(self, config: FeatureConfig, vocabs: dict[str, Vocab], tagset: TagSet) -> None:
        missing = [f for f in config.features if f != "caps" and f not in vocabs]
        if missing:
            raise FeatureError(f"no vocabulary for feature(s) {missing}")
        self.config = config
        self.vocabs = vocabs
        self.tagset = tagset

    @classmethod
    def build(
        cls,
        sentences: Sequence[Sentence],
        config: FeatureConfig | None = None,
        tagset: TagSet | None = None,
    ) -> FeatureExtractor:
        """Build the vocabularies (and the tag set, unless given) from training sentences."""
        config = config or FeatureConfig()
        if not sentences:
            raise FeatureError("cannot build features from an empty training set")
        vocabs: dict[str, Vocab] = {"word": Vocab.build(sentences, min_freq=config.min_freq)}
        types = {w for s in sentences for w in s.words}
        counts: dict[str, int] = {}
        for s in sentences:
            for w in s.words:
                counts[w] = counts.get(w, 0) + 1
        for f in config.features:
            if f in ("word", "caps"):
                continue
            value = {w: _token_value(f, w) for w in types}
            freq: dict[str, int] = {}
            for w, c in counts.items():
                freq[value[w]] = freq.get(value[w], 0) + c
            kept = sorted(
                (v for v, c in freq.items() if c >= config.affix_min_freq),
                key=lambda v: (-freq[v], v),
            )
            vocabs[f] = Vocab(kept, [freq[v] for v in kept], normalize=False)
        if tagset is None:
            tagset = TagSet.from_tags(s.tags for s in sentences)
        return cls(config, vocabs, tagset)

    # ------------------------------------------------------------------ sizes
    def table_size(self, feature: str) -> int:
        """Number of embedding rows the feature needs (padding and unknown included)."""
        return N_CAP_FEATURES if feature == "caps" else len(self.vocabs[feature])

    def pad_id(self, feature: str) -> int:
        return CAP_PAD if feature == "caps" else PAD_ID

    # ------------------------------------------------------------------ encoding
    def token_ids(self, words: Sequence[str]) -> dict[str, np.ndarray]:
        """Per feature, the id of each word (no windows)."""
        # Features depend only on the word type: compute them once per distinct word.
        types = list(dict.fromkeys(words))
        pos = {w: i for i, w in enumerate(types)}
        where = np.fromiter((pos[w] for w in words), dtype=np.int64, count=len(words))
        out = {}
        for f in self.config.features:
            if f == "caps":
                per_type = np.array([cap_feature(w) for w in types], dtype=np.int64)
            elif f == "word":
                per_type = self.vocabs["word"].lookup(types)
            else:
                per_type = self.vocabs[f].lookup([_token_value(f, w) for w in types])
            out[f] = per_type[where] if len(types) else np.zeros(0, np.int64)
        return out

    def encode(
        self, sentences: Sequence[Sentence] | Sequence[Sequence[str]], with_tags: bool = True
    ) -> EncodedCorpus:
        """Encode sentences (``Sentence`` objects, or lists of words when ``with_tags`` is
        False) into windows of ids."""
        word_lists = [getattr(s, "words", s) for s in sentences]
        lengths = np.array([len(w) for w in word_lists], dtype=np.int64)
        if (lengths == 0).any():
            raise FeatureError(f"sentence {int(np.argmin(lengths))} is empty")
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = [w for ws in word_lists for w in ws]
        ids = self.token_ids(flat)
        windows = {}
        for f, arr in ids.items():
            per_sentence = np.split(arr, offsets[1:-1])
            windows[f] = windows_for_corpus(per_sentence, self.config.window, self.pad_id(f))
        if with_tags:
            tags = self.tagset.encode([t for s in sentences for t in s.tags])
        else:
            tags = np.zeros(len(flat), dtype=np.int64)
        return EncodedCorpus(windows, tags, offsets)

    # ------------------------------------------------------------------ batching
    @staticmethod
    def word_batches(
        corpus: EncodedCorpus, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterable[Batch]:
        """Mini-batches of single tokens (shuffled when ``rng`` is given)."""
        n = corpus.n_tokens
        order = rng.permutation(n) if rng is not None else np.arange(n)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            yield Batch({f: w[idx] for f, w in corpus.windows.items()}, corpus.tags[idx])

    @staticmethod
    def sentence_batches(
        corpus: EncodedCorpus, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterable[Batch]:
        """Mini-batches of whole sentences, padded to the longest one in the batch.

        Sentences of similar length are grouped (sorted by length, with random tie-breaks
        when ``rng`` is given) to waste little padding; the batch order is shuffled.
        """
        lengths = corpus.lengths
        n = corpus.n_sentences
        if rng is not None:
            order = np.lexsort((rng.random(n), lengths))
        else:
            order = np.argsort(lengths, kind="stable")
        chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        if rng is not None:
            chunks = [chunks[j] for j in rng.permutation(len(chunks))]
        for sel in chunks:
            yield FeatureExtractor.gather_sentences(corpus, sel)

    @staticmethod
    def gather_sentences(corpus: EncodedCorpus, sel: np.ndarray) -> Batch:
        """The sentences ``sel`` of ``corpus`` as one padded batch."""
        lens = corpus.lengths[sel]
        t_max = int(lens.max())
        mask = np.arange(t_max)[None, :] < lens[:, None]
        # token_index[b, t] = corpus position of token t of sentence b (row-major order).
        token_index = corpus.offsets[sel][:, None] + np.arange(t_max)[None, :]
        flat = token_index[mask]
        tags = np.zeros(mask.shape, dtype=np.int64)
        tags[mask] = corpus.tags[flat]
        return Batch({f: w[flat] for f, w in corpus.windows.items()}, tags, mask, flat)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """JSON-safe contents (vocabularies, tag set, feature settings)."""
        return {
            "format": "chainrule.ner.FeatureExtractor",
            "version": 1,
            "config": {
                "features": list(self.config.features),
                "window": self.config.window,
                "min_freq": self.config.min_freq,
                "affix_min_freq": self.config.affix_min_freq,
            },
            "vocabs": {f: v.to_dict() for f, v in self.vocabs.items()},
            "tagset": self.tagset.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> FeatureExtractor:
        """Inverse of :meth:`to_dict`; raises :class:`FeatureError` on a malformed dict.

        Examples
        --------
        >>> from chainrule.apps.ner.conll import Sentence
        >>> fx = FeatureExtractor.build([Sentence(["EU", "rejects"], ["B-ORG", "O"])])
        >>> FeatureExtractor.from_dict(fx.to_dict()).vocabs["word"] == fx.vocabs["word"]
        True
        """
        if not isinstance(d, dict) or d.get("format") != "chainrule.ner.FeatureExtractor":
            raise FeatureError(
                "not a feature-extractor description (missing format "
                "'chainrule.ner.FeatureExtractor')"
            )
        if d.get("version") != 1:
            raise FeatureError(f"unsupported feature-extractor version {d.get('version')!r}")
        try:
            c = d["config"]
            config = FeatureConfig(
                tuple(c["features"]), int(c["window"]), int(c["min_freq"]), int(c["affix_min_freq"])
            )
            vocabs = {f: Vocab.from_dict(v) for f, v in d["vocabs"].items()}
            tagset = TagSet.from_dict(d["tagset"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            # AttributeError: e.g. "vocabs" holding a list where a mapping belongs.
            raise FeatureError(f"malformed feature-extractor description: {e!r}") from None
        return cls(config, vocabs, tagset)


# A tiny synthetic language for tests, examples and benchmarks (never the real data).
_TOY = {
    "PER": ["Peter Blackburn", "Anna Schmidt", "John", "Maria Lopez", "Chen Wei", "Olga"],
    "LOC": ["Paris", "New York", "Berlin", "Kenya", "Rio de Janeiro", "Oslo"],
    "ORG": ["Reuters", "European Union", "Acme Corp", "UN", "Bayern Munich"],
    "MISC": ["German", "Olympic Games", "Christmas", "Swiss"],
}
_TOY_FRAMES = [
    "{PER} visited {LOC} on Monday .",
    "{ORG} said {PER} would travel to {LOC} .",
    "the {MISC} delegation met {ORG} officials in {LOC} .",
    "{PER} , a spokesman for {ORG} , declined to comment .",
    "shares in {ORG} rose 3.5 percent to 1,200 points .",
    "it rained in {LOC} .",
]


def toy_corpus(n: int, rng: np.random.Generator) -> list[Sentence]:
    """``n`` random sentences of a small synthetic newswire language with IOB2 tags.

    Used by the tests and benchmarks as a stand-in for CoNLL-2003 (which must not be
    copied into the repository).

    Examples
    --------
    >>> s = toy_corpus(1, np.random.default_rng(1))[0]
    >>> len(s.words) == len(s.tags) and set(s.tags) <= {
    ...     "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"}
    True
    """
    out = []
    for _ in range(n):
        frame = _TOY_FRAMES[int(rng.integers(len(_TOY_FRAMES)))]
        words: list[str] = []
        tags: list[str] = []
        for piece in frame.split():
            if piece.startswith("{"):
                typ = piece[1:-1]
                names = _TOY[typ]
                name = names[int(rng.integers(len(names)))].split()
                words.extend(name)
                tags.extend([f"B-{typ}"] + [f"I-{typ}"] * (len(name) - 1))
            else:
                words.append(piece)
                tags.append("O")
        out.append(Sentence(words, tags))
    return out
