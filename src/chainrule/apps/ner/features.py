"""Input features for the window-approach NER tagger (Collobert et al. 2011).

Each token is classified from a window of ``2 * window + 1`` tokens centred on it. The
network sees, per position, the id of the normalised word (lower-cased, digits mapped to
``0``) and a capitalisation feature, because normalising the word throws the case away.

Typical pipeline::

    vocab = Vocab.build(train_sentences, min_freq=1)
    ids = [vocab.lookup(s.words) for s in train_sentences]
    X_words = windows_for_corpus(ids, window=2, pad_id=PAD_ID)
    X_caps = windows_for_corpus([cap_features(s.words) for s in train_sentences], 2, CAP_PAD)
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import DTypeLike

from chainrule.core.errors import ChainruleError

__all__ = [
    "CAP_ALL_LOWER",
    "CAP_ALL_UPPER",
    "CAP_FIRST_UPPER",
    "CAP_MIXED",
    "CAP_NO_LETTERS",
    "CAP_PAD",
    "N_CAP_FEATURES",
    "PAD",
    "PAD_ID",
    "UNK",
    "UNK_ID",
    "FeatureError",
    "VectorFileWarning",
    "Vocab",
    "cap_feature",
    "cap_features",
    "load_vectors",
    "make_windows",
    "normalize_word",
    "replace_rare",
    "windows_for_corpus",
]

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

CAP_PAD = 0  # padding position outside the sentence
CAP_ALL_LOWER = 1  # "rejects", "1990s"
CAP_FIRST_UPPER = 2  # "Peter", "A"
CAP_ALL_UPPER = 3  # "EU", "U.S."
CAP_MIXED = 4  # "McDonald", "iPhone"
CAP_NO_LETTERS = 5  # "1996-08-22", ",", and scripts without case
N_CAP_FEATURES = 6

_DIGIT = re.compile(r"\d")
_FIELD_SEP = re.compile(r"[ \t]+")


class FeatureError(ChainruleError, ValueError):
    """Invalid input to a feature-extraction function (bad shape, window, vocabulary...)."""


class VectorFileWarning(UserWarning):
    """Some lines of a word-vector file were malformed and skipped."""


def normalize_word(word: str) -> str:
    """Lower-case ``word`` and replace every digit by ``"0"``.

    Digits carry little lexical meaning ("1996" vs "1997"), so merging them shrinks the
    vocabulary and gives numbers shared, well-trained embeddings.

    Examples
    --------
    >>> normalize_word("Sept-1996")
    'sept-0000'
    """
    return _DIGIT.sub("0", word.lower())


def _words_of(item: object) -> Sequence[str]:
    # Accept Sentence objects (anything with .words) as well as plain lists of words.
    words = getattr(item, "words", item)
    if isinstance(words, str):
        raise FeatureError("expected a sentence (list of words), got a single string")
    return words


class Vocab:
    """Word <-> id mapping with reserved ``<pad>`` (id 0) and ``<unk>`` (id 1).

    Parameters
    ----------
    words : iterable of str
        Vocabulary words in id order (ids start at 2); already normalised if ``normalize``.
    counts : iterable of int, optional
        Training frequency of each word (same order), used by :func:`replace_rare`.
    normalize : bool
        Apply :func:`normalize_word` to words looked up (default ``True``).

    Examples
    --------
    >>> v = Vocab.build([["The", "cat"], ["the", "dog", "1996"]], min_freq=1)
    >>> len(v), v.index("THE"), v.index("zebra") == UNK_ID
    (6, 2, True)
    >>> v.lookup(["the", "1997", "zebra"]).tolist()
    [2, 3, 1]
    """

    def __init__(
        self,
        words: Iterable[str] = (),
        counts: Iterable[int] | None = None,
        *,
        normalize: bool = True,
    ) -> None:
        self.normalize = bool(normalize)
        self._itos: list[str] = [PAD, UNK]
        self._stoi: dict[str, int] = {PAD: PAD_ID, UNK: UNK_ID}
        for w in words:
            if not isinstance(w, str):
                raise FeatureError(f"vocabulary entries must be strings, got {w!r}")
            if w in self._stoi:
                raise FeatureError(f"duplicate or reserved vocabulary entry {w!r}")
            self._stoi[w] = len(self._itos)
            self._itos.append(w)
        n = len(self._itos)
        self.counts = np.zeros(n, dtype=np.int64)
        if counts is not None:
            c = np.asarray(list(counts), dtype=np.int64)
            if c.shape != (n - 2,):
                raise FeatureError(f"got {c.shape[0]} counts for {n - 2} vocabulary words")
            self.counts[2:] = c

    @classmethod
    def build(
        cls,
        sentences: Iterable[Sequence[str]],
        min_freq: int = 1,
        *,
        normalize: bool = True,
        max_size: int | None = None,
    ) -> Vocab:
        """Build a vocabulary from training sentences.

        Parameters
        ----------
        sentences : iterable of Sentence or list of str
            Training data only (building from dev/test would leak their words).
        min_freq : int
            Keep words seen at least this many times (after normalisation).
        normalize : bool
            Count and store normalised words (see :func:`normalize_word`).
        max_size : int, optional
            Keep at most this many words (most frequent first), reserved tokens excluded.

        Words are ordered by decreasing frequency, ties alphabetically, so the ids do not
        depend on corpus order.

        Examples
        --------
        >>> Vocab.build([["a", "b", "a"]], min_freq=2).words
        ('<pad>', '<unk>', 'a')
        """
        if min_freq < 1:
            raise FeatureError(f"min_freq must be >= 1, got {min_freq}")
        counter: Counter[str] = Counter()
        for s in sentences:
            words = _words_of(s)
            counter.update([normalize_word(w) for w in words] if normalize else words)
        for reserved in (PAD, UNK):
            counter.pop(reserved, None)
        kept = sorted(
            ((w, c) for w, c in counter.items() if c >= min_freq), key=lambda wc: (-wc[1], wc[0])
        )
        if max_size is not None:
            kept = kept[:max_size]
        return cls([w for w, _ in kept], [c for _, c in kept], normalize=normalize)

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._key(word) in self._stoi

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocab)
            and self._itos == other._itos
            and self.normalize == other.normalize
            and np.array_equal(self.counts, other.counts)
        )

    __hash__ = None  # mutable-looking container; equality is by value

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, normalize={self.normalize})"

    def _key(self, word: str) -> str:
        return normalize_word(word) if self.normalize else word

    @property
    def words(self) -> tuple[str, ...]:
        """All entries in id order, reserved tokens included."""
        return tuple(self._itos)

    def word(self, i: int) -> str:
        """Entry with id ``i``."""
        return self._itos[i]

    def index(self, word: str) -> int:
        """Id of ``word`` (normalised first if the vocabulary is); ``UNK_ID`` if unknown."""
        return self._stoi.get(self._key(word), UNK_ID)

    def lookup(self, words: Iterable[str]) -> np.ndarray:
        """Ids of a sequence of words as an ``int64`` array of the same length."""
        get, key = self._stoi.get, self._key
        return np.array([get(key(w), UNK_ID) for w in words], dtype=np.int64)

    def to_dict(self) -> dict:
        """JSON-safe contents, for saving alongside a checkpoint."""
        return {
            "format": "chainrule.ner.Vocab",
            "version": 1,
            "normalize": self.normalize,
            "words": self._itos[2:],
            "counts": [int(c) for c in self.counts[2:]],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> v = Vocab.build([["a", "b"]])
        >>> Vocab.from_dict(v.to_dict()) == v
        True
        """
        if not isinstance(d, dict) or d.get("format") != "chainrule.ner.Vocab":
            raise FeatureError("not a Vocab dictionary (missing format 'chainrule.ner.Vocab')")
        if d.get("version") != 1:
            raise FeatureError(f"unsupported Vocab format version {d.get('version')!r}")
        return cls(d["words"], d.get("counts"), normalize=d.get("normalize", True))


def cap_feature(word: str) -> int:
    """Capitalisation class of ``word`` (one of the ``CAP_*`` constants).

    Only cased letters count: ``1`` all lower-case, ``2`` first letter upper-case and the
    rest lower-case (a single capital such as ``"A"`` counts here), ``3`` all upper-case
    (at least two letters), ``4`` mixed, ``5`` no cased letter. ``0`` is reserved for
    padding positions.

    Examples
    --------
    >>> [cap_feature(w) for w in ["rejects", "Peter", "EU", "McDonald", "1996", "A"]]
    [1, 2, 3, 4, 5, 2]
    """
    letters = [c for c in word if c.isupper() or c.islower()]
    if not letters:
        return CAP_NO_LETTERS
    upper = [c.isupper() for c in letters]
    if not any(upper):
        return CAP_ALL_LOWER
    if upper[0] and not any(upper[1:]):
        return CAP_FIRST_UPPER
    if all(upper):
        return CAP_ALL_UPPER
    return CAP_MIXED


def cap_features(words: Iterable[str]) -> np.ndarray:
    """:func:`cap_feature` of each word, as an ``int64`` array.

    Examples
    --------
    >>> cap_features(["EU", "rejects"]).tolist()
    [3, 1]
    """
    return np.array([cap_feature(w) for w in words], dtype=np.int64)


def _check_window(window: int) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise FeatureError(f"window must be a non-negative integer, got {window!r}")
    return int(window)


def _as_ids(ids: object, what: str) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise FeatureError(f"{what} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise FeatureError(f"{what} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def make_windows(ids: np.ndarray, window: int, pad_id: int) -> np.ndarray:
    """Windows of ``2 * window + 1`` ids around each token of one sentence.

    Parameters
    ----------
    ids : ndarray of int, shape (n_tokens,)
    window : int
        Context size on each side.
    pad_id : int
        Id used for positions beyond the sentence edges.

    Returns
    -------
    ndarray of int64, shape (n_tokens, 2 * window + 1)
        Row ``i`` is ``ids[i - window : i + window + 1]`` with out-of-range positions padded.

    Examples
    --------
    >>> make_windows(np.array([5, 6, 7]), 1, 0).tolist()
    [[0, 5, 6], [5, 6, 7], [6, 7, 0]]
    """
    return windows_for_corpus([ids], window, pad_id)


def windows_for_corpus(sequences: Sequence[np.ndarray], window: int, pad_id: int) -> np.ndarray:
    """Windows for every token of every sentence, concatenated in corpus order.

    Sentences never see each other: ``window`` pad ids separate them. Vectorised: the
    sentences are laid out once in a padded buffer and all windows are gathered with one
    fancy-indexing operation (no Python loop per token).

    Parameters
    ----------
    sequences : sequence of 1-D int arrays
        Ids of each sentence (word ids, or capitalisation features with ``CAP_PAD``).
    window : int
        Context size on each side.
    pad_id : int
        Padding id.

    Returns
    -------
    ndarray of int64, shape (total_tokens, 2 * window + 1)

    Examples
    --------
    >>> windows_for_corpus([np.array([3, 4]), np.array([5])], 1, 0).tolist()
    [[0, 3, 4], [3, 4, 0], [0, 5, 0]]
    """
    w = _check_window(window)
    arrays = [_as_ids(s, f"sentence {i}") for i, s in enumerate(sequences)]
    width = 2 * w + 1
    if not arrays:
        return np.empty((0, width), dtype=np.int64)
    lengths = np.array([a.size for a in arrays], dtype=np.int64)
    total = int(lengths.sum())
    # Layout: [pad*w, s0, pad*w, s1, pad*w, ..., s_last, pad*w]; sentence k is shifted by
    # w * (k + 1) from its position in the plain concatenation.
    shift = w * (np.repeat(np.arange(len(arrays), dtype=np.int64), lengths) + 1)
    positions = np.arange(total, dtype=np.int64) + shift
    buffer = np.full(total + w * (len(arrays) + 1), pad_id, dtype=np.int64)
    buffer[positions] = np.concatenate(arrays)
    return buffer[positions[:, None] + np.arange(-w, w + 1, dtype=np.int64)[None, :]]


def replace_rare(
    ids: np.ndarray,
    counts: np.ndarray,
    rng: np.random.Generator,
    p: float,
    unk_id: int = UNK_ID,
) -> np.ndarray:
    """Randomly replace singleton words by ``unk_id`` (word dropout for rare words).

    At test time unknown words all share the ``<unk>`` vector; it is only trained if some
    training tokens use it, so each occurrence of a word seen once in training is replaced
    with probability ``p``.

    Parameters
    ----------
    ids : ndarray of int, any shape
        Word ids (e.g. a batch of windows). Not modified.
    counts : ndarray of int, shape (vocab_size,)
        Training frequency per id (:attr:`Vocab.counts`).
    rng : numpy.random.Generator
        Source of randomness (explicit, for reproducibility).
    p : float
        Replacement probability in [0, 1].
    unk_id : int
        Id written in place of replaced words.

    Returns
    -------
    ndarray of int64, same shape as ``ids``

    Examples
    --------
    >>> counts = np.array([0, 0, 5, 1])
    >>> replace_rare(np.array([2, 3, 3]), counts, np.random.default_rng(0), p=1.0).tolist()
    [2, 1, 1]
    """
    if not isinstance(rng, np.random.Generator):
        raise FeatureError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not 0.0 <= p <= 1.0:
        raise FeatureError(f"p must be in [0, 1], got {p}")
    ids = np.asarray(ids)
    counts = np.asarray(counts)
    if counts.ndim != 1:
        raise FeatureError(f"counts must be 1-D, got shape {counts.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= counts.size):
        raise FeatureError(f"ids must lie in [0, {counts.size}), got [{ids.min()}, {ids.max()}]")
    out = ids.astype(np.int64, copy=True)
    rare = counts[out] == 1
    out[rare & (rng.random(out.shape) < p)] = unk_id
    return out


def load_vectors(
    path: str | os.PathLike,
    vocab: Vocab,
    dim: int | None = None,
    *,
    rng: np.random.Generator | None = None,
    scale: float = 0.1,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, int]:
    """Read pre-trained word vectors (GloVe or word2vec text format) for ``vocab``.

    Each line is ``word v1 ... vD``; a word2vec header line ``"N D"`` is recognised and
    skipped. File words are matched through the vocabulary's normalisation (so "Paris"
    fills the row of "paris"); when several file words map to one row, an exact match wins,
    otherwise the first one. Lines with the wrong number of fields, or matching lines whose
    numbers do not parse, are skipped and counted; a :class:`VectorFileWarning` reports
    the count.

    Parameters
    ----------
    path : path
        UTF-8 text file (invalid bytes are replaced, those words just won't match).
    vocab : Vocab
    dim : int, optional
        Vector size; by default taken from the header or the first line.
    rng : numpy.random.Generator, optional
        If given, rows not found are drawn uniformly from ``[-scale, scale]``; otherwise
        they are zero. The ``<pad>`` row is always zero.
    scale : float
        Range of the random initialisation.
    dtype : numpy dtype
        Dtype of the returned matrix.

    Returns
    -------
    matrix : ndarray, shape (len(vocab), dim)
    n_found : int
        Number of vocabulary rows filled from the file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "vec.txt"
    >>> _ = p.write_text("2 3\\nParis 1 2 3\\ncat 4 5 6\\n")
    >>> v = Vocab.build([["paris", "london"]])
    >>> m, n = load_vectors(p, v)
    >>> n, m.shape, m[v.index("paris")].tolist()
    (1, (4, 3), [1.0, 2.0, 3.0])
    """
    if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 1):
        raise FeatureError(f"dim must be a positive integer, got {dim!r}")
    name = os.fspath(path)
    rows: dict[int, np.ndarray] = {}
    exact: set[int] = set()
    n_bad = 0
    bad_lines: list[int] = []
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            stripped = line.strip(" \t\r\n")
            if not stripped:
                continue
            fields = _FIELD_SEP.split(stripped)
            if lineno == 1 and len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
                header_dim = int(fields[1])
                if dim is not None and dim != header_dim:
                    raise FeatureError(
                        f"{name}: header says dimension {header_dim}, but dim={dim} was requested"
                    )
                dim = header_dim
                continue
            if dim is None:
                dim = len(fields) - 1
                if dim < 1:
                    raise FeatureError(f"{name}, line {lineno}: no vector values on first line")
            if len(fields) != dim + 1:
                n_bad += 1
                bad_lines.append(lineno)
                continue
            word = fields[0]
            i = vocab._stoi.get(vocab._key(word))
            # Parse the numbers only for words we need: most of a large file is skipped.
            if i is None or i == PAD_ID or (i in exact):
                continue
            is_exact = word == vocab.word(i)
            if i in rows and not is_exact:
                continue
            try:
                vec = np.array(fields[1:], dtype=np.float64)
            except ValueError:
                n_bad += 1
                bad_lines.append(lineno)
                continue
            rows[i] = vec
            if is_exact:
                exact.add(i)
    if dim is None:
        raise FeatureError(f"{name}: no vectors found (empty file)")
    if n_bad:
        shown = ", ".join(str(n) for n in bad_lines[:5]) + (", ..." if n_bad > 5 else "")
        warnings.warn(
            f"{name}: skipped {n_bad} malformed line(s) (expected a word and {dim} numbers): "
            f"line {shown}",
            VectorFileWarning,
            stacklevel=2,
        )
    if rng is not None:
        matrix = rng.uniform(-scale, scale, size=(len(vocab), dim))
    else:
        matrix = np.zeros((len(vocab), dim))
    matrix[PAD_ID] = 0.0
    for i, vec in rows.items():
        matrix[i] = vec
    return matrix.astype(dtype, copy=False), len(rows)
