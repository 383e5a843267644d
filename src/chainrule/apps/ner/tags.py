"""Named-entity tag schemes: parsing, chunk extraction, conversion and tag <-> id mapping.

Three schemes are supported (Tjong Kim Sang & Veenstra 1999; Ratinov & Roth 2009):

* ``"IOB1"`` -- an entity starts with ``I-`` unless it directly follows an entity of the
  same type, in which case its first token is ``B-`` (the original CoNLL-2003 release).
* ``"IOB2"`` -- every entity starts with ``B-`` (the copy of CoNLL-2003 we use).
* ``"BIOES"`` -- ``B-`` begin, ``I-`` inside, ``E-`` end, ``S-`` single-token entity
  (``"IOBES"`` is accepted as an alias).

A tag is either ``"O"`` or ``"<prefix>-<type>"``; the type may itself contain hyphens
(everything after the first ``-`` is the type, as in ``conlleval``).

Chunks ("entities") are ``(type, start, end)`` with ``end`` exclusive, so
``tokens[start:end]`` is the entity's text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from chainrule.core.errors import ChainruleError

__all__ = [
    "SCHEMES",
    "Entity",
    "TagSchemeError",
    "TagSet",
    "allowed_transition",
    "bioes_to_iob2",
    "convert",
    "entities_to_tags",
    "get_entities",
    "iob1_to_iob2",
    "iob2_to_bioes",
    "iob2_to_iob1",
    "normalize_scheme",
    "split_tag",
]

SCHEMES: tuple[str, ...] = ("IOB1", "IOB2", "BIOES")
_ALIASES = {"IOBES": "BIOES", "BIO": "IOB2"}
# Prefixes each scheme may use (besides the bare "O").
_PREFIXES = {"IOB1": ("B", "I"), "IOB2": ("B", "I"), "BIOES": ("B", "I", "E", "S")}
_ALL_PREFIXES = frozenset("BIES")


class TagSchemeError(ChainruleError, ValueError):
    """A tag or tag sequence does not fit the requested scheme (or is not a NER tag)."""


class Entity(NamedTuple):
    """One chunk: ``type`` spanning tokens ``start`` (inclusive) to ``end`` (exclusive)."""

    type: str
    start: int
    end: int


def normalize_scheme(scheme: str) -> str:
    """Return the canonical name (``"IOB1"``, ``"IOB2"`` or ``"BIOES"``) of ``scheme``.

    Case-insensitive; ``"IOBES"`` and ``"BIO"`` are accepted as aliases.

    Examples
    --------
    >>> normalize_scheme("iobes")
    'BIOES'
    """
    if not isinstance(scheme, str):
        raise TagSchemeError(f"scheme must be a string, got {type(scheme).__name__}")
    key = scheme.upper()
    key = _ALIASES.get(key, key)
    if key not in _PREFIXES:
        raise TagSchemeError(f"unknown tag scheme {scheme!r}: expected one of {SCHEMES}")
    return key


def split_tag(tag: str) -> tuple[str, str]:
    """Split a tag into ``(prefix, type)``; ``"O"`` gives ``("O", "")``.

    Raises
    ------
    TagSchemeError
        If ``tag`` is neither ``"O"`` nor ``"<B|I|E|S>-<type>"``.

    Examples
    --------
    >>> split_tag("B-PER")
    ('B', 'PER')
    >>> split_tag("I-ORG-X")
    ('I', 'ORG-X')
    >>> split_tag("O")
    ('O', '')
    """
    if tag == "O":
        return ("O", "")
    if not isinstance(tag, str) or len(tag) < 3 or tag[1] != "-" or tag[0] not in _ALL_PREFIXES:
        raise TagSchemeError(
            f"malformed tag {tag!r}: expected 'O' or '<prefix>-<type>' with prefix B, I, E or S"
        )
    return (tag[0], tag[2:])


def _parse(tags: Iterable[str], scheme: str | None) -> list[tuple[str, str]]:
    """Split every tag, checking its prefix is allowed in ``scheme`` (any if ``None``)."""
    parsed = [split_tag(t) for t in tags]
    if scheme is not None:
        allowed = _PREFIXES[scheme]
        for i, (p, _) in enumerate(parsed):
            if p != "O" and p not in allowed:
                raise TagSchemeError(
                    f"tag {p}-{parsed[i][1]!s} at position {i} is not valid in scheme {scheme} "
                    f"(allowed prefixes: {', '.join(allowed)})"
                )
    return parsed


# --- chunk boundaries, conlleval style ---------------------------------------------------
# These two predicates are the conlleval rules. For B-/I-/O tags they are exactly those of
# the Perl script. The Perl script predates BIOES and has no S- rule (it would merge
# "S-X S-X" into one chunk); like seqeval's default mode we add the natural IOBES rules
# (a chunk always ends after E-/S-, and B-/S- always start one).


def _chunk_ends(prev_p: str, p: str, prev_t: str, t: str) -> bool:
    """True if a chunk ended between the previous token and this one."""
    if prev_p in ("E", "S"):
        return True
    if prev_p in ("B", "I") and p in ("B", "S", "O"):
        return True
    # A change of type always closes the running chunk (a stray I-Y after I-X, ...).
    return prev_p != "O" and prev_t != t


def _chunk_starts(prev_p: str, p: str, prev_t: str, t: str) -> bool:
    """True if a chunk starts at this token."""
    if p in ("B", "S"):
        return True
    # A stray I-/E- after O (or after a finished chunk) opens a new chunk.
    if p in ("I", "E") and prev_p in ("E", "S", "O"):
        return True
    return p != "O" and prev_t != t


def _lenient_entities(parsed: Sequence[tuple[str, str]]) -> list[Entity]:
    entities: list[Entity] = []
    prev_p, prev_t = "O", ""
    start = -1
    # The sentinel ("O", "") closes a chunk still open at the end of the sentence.
    for i, (p, t) in enumerate([*parsed, ("O", "")]):
        if start >= 0 and _chunk_ends(prev_p, p, prev_t, t):
            entities.append(Entity(prev_t, start, i))
            start = -1
        if _chunk_starts(prev_p, p, prev_t, t):
            start = i
        prev_p, prev_t = p, t
    return entities


def _strict_entities(parsed: Sequence[tuple[str, str]], scheme: str) -> list[Entity]:
    """Entities that are well formed in ``scheme``; ill-formed fragments are ignored."""
    n = len(parsed)
    entities: list[Entity] = []
    i = 0
    while i < n:
        p, t = parsed[i]
        if p == "S":  # only reachable for BIOES (prefixes were validated)
            entities.append(Entity(t, i, i + 1))
            i += 1
        elif p == "B":
            j = i + 1
            while j < n and parsed[j] == ("I", t):
                j += 1
            if scheme == "IOB2":
                entities.append(Entity(t, i, j))
                i = j
            elif j < n and parsed[j] == ("E", t):
                entities.append(Entity(t, i, j + 1))
                i = j + 1
            else:  # BIOES: a B- run that never reaches its E- is not an entity
                i = j
        else:
            i += 1
    return entities


def get_entities(
    tags: Sequence[str], scheme: str = "IOB2", *, strict: bool = False
) -> list[Entity]:
    """Extract the chunks of one sentence's tag sequence.

    Parameters
    ----------
    tags : sequence of str
        Tags of one sentence.
    scheme : {"IOB1", "IOB2", "BIOES"}
        Scheme the tags are written in; a prefix the scheme does not use raises.
    strict : bool
        ``False`` (default): decode like ``conlleval`` -- every non-``O`` token belongs to a
        chunk, and an ill-formed ``I-X`` (after ``O`` or another type) opens a new one.
        ``True``: only well-formed entities count (IOB2: ``B-X I-X*``; BIOES: ``B-X I-X* E-X``
        or ``S-X``), like seqeval's ``mode="strict"``. Not defined for IOB1.

    Returns
    -------
    list of Entity
        ``(type, start, end)`` tuples, ``end`` exclusive, in sentence order.

    Examples
    --------
    >>> get_entities(["B-PER", "I-PER", "O", "I-LOC"])
    [Entity(type='PER', start=0, end=2), Entity(type='LOC', start=3, end=4)]
    >>> get_entities(["B-PER", "I-PER", "O", "I-LOC"], strict=True)
    [Entity(type='PER', start=0, end=2)]
    """
    scheme = normalize_scheme(scheme)
    parsed = _parse(tags, scheme)
    if not strict:
        return _lenient_entities(parsed)
    if scheme == "IOB1":
        raise TagSchemeError("strict decoding is defined for IOB2 and BIOES only, not IOB1")
    return _strict_entities(parsed, scheme)


def entities_to_tags(entities: Iterable[Sequence], length: int, scheme: str = "IOB2") -> list[str]:
    """Write chunks back as a tag sequence of ``length`` tokens in ``scheme``.

    Parameters
    ----------
    entities : iterable of (type, start, end)
        Non-overlapping chunks, ``end`` exclusive.
    length : int
        Number of tokens in the sentence.
    scheme : {"IOB1", "IOB2", "BIOES"}

    Examples
    --------
    >>> entities_to_tags([("PER", 0, 2), ("PER", 2, 3)], 4, "IOB1")
    ['I-PER', 'I-PER', 'B-PER', 'O']
    >>> entities_to_tags([("PER", 0, 2), ("LOC", 3, 4)], 4, "BIOES")
    ['B-PER', 'E-PER', 'O', 'S-LOC']
    """
    scheme = normalize_scheme(scheme)
    out = ["O"] * length
    prev_type, prev_end = None, -1
    for ent in sorted(entities, key=lambda e: e[1]):
        t, start, end = ent[0], int(ent[1]), int(ent[2])
        if not (0 <= start < end <= length):
            raise TagSchemeError(f"entity {tuple(ent)!r} does not fit a sentence of {length}")
        if start < prev_end:
            raise TagSchemeError(f"entity {tuple(ent)!r} overlaps the previous one")
        if scheme == "IOB2":
            out[start] = f"B-{t}"
            out[start + 1 : end] = [f"I-{t}"] * (end - start - 1)
        elif scheme == "IOB1":
            # B- is only needed to separate two adjacent entities of the same type.
            first = "B" if (prev_type == t and prev_end == start) else "I"
            out[start] = f"{first}-{t}"
            out[start + 1 : end] = [f"I-{t}"] * (end - start - 1)
        elif end - start == 1:
            out[start] = f"S-{t}"
        else:
            out[start] = f"B-{t}"
            out[start + 1 : end - 1] = [f"I-{t}"] * (end - start - 2)
            out[end - 1] = f"E-{t}"
        prev_type, prev_end = t, end
    return out


def convert(tags: Sequence[str], src: str, dst: str) -> list[str]:
    """Convert one sentence's tags from scheme ``src`` to scheme ``dst``.

    The tags are decoded into chunks with the lenient (conlleval) rules of ``src`` and
    re-encoded in ``dst``, so ill-formed input (a stray ``I-X`` after ``O`` in IOB2) is
    repaired rather than rejected. With ``src == dst`` the tags are validated and copied.

    Examples
    --------
    >>> convert(["I-PER", "I-PER", "B-PER", "O"], "IOB1", "IOB2")
    ['B-PER', 'I-PER', 'B-PER', 'O']
    >>> convert(["B-LOC", "O", "B-PER", "I-PER"], "IOB2", "BIOES")
    ['S-LOC', 'O', 'B-PER', 'E-PER']
    """
    src, dst = normalize_scheme(src), normalize_scheme(dst)
    tags = list(tags)
    if src == dst:
        _parse(tags, src)
        return tags
    return entities_to_tags(get_entities(tags, src), len(tags), dst)


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 -> IOB2: every entity's first token becomes ``B-``.

    Examples
    --------
    >>> iob1_to_iob2(["I-ORG", "O", "I-PER", "B-PER"])
    ['B-ORG', 'O', 'B-PER', 'B-PER']
    """
    return convert(tags, "IOB1", "IOB2")


def iob2_to_iob1(tags: Sequence[str]) -> list[str]:
    """IOB2 -> IOB1: ``B-`` is kept only right after an entity of the same type.

    Examples
    --------
    >>> iob2_to_iob1(["B-ORG", "O", "B-PER", "B-PER"])
    ['I-ORG', 'O', 'I-PER', 'B-PER']
    """
    return convert(tags, "IOB2", "IOB1")


def iob2_to_bioes(tags: Sequence[str]) -> list[str]:
    """IOB2 -> BIOES.

    Examples
    --------
    >>> iob2_to_bioes(["B-PER", "I-PER", "I-PER", "B-LOC"])
    ['B-PER', 'I-PER', 'E-PER', 'S-LOC']
    """
    return convert(tags, "IOB2", "BIOES")


def bioes_to_iob2(tags: Sequence[str]) -> list[str]:
    """BIOES -> IOB2.

    Examples
    --------
    >>> bioes_to_iob2(["B-PER", "I-PER", "E-PER", "S-LOC"])
    ['B-PER', 'I-PER', 'I-PER', 'B-LOC']
    """
    return convert(tags, "BIOES", "IOB2")


def allowed_transition(prev: str | None, cur: str | None, scheme: str = "IOB2") -> bool:
    """Whether tag ``cur`` may follow tag ``prev`` in a well-formed ``scheme`` sequence.

    ``prev=None`` means "sentence start" and ``cur=None`` "sentence end", so the same
    function gives the start/end constraints of a constrained Viterbi decoder.

    * IOB2: ``I-X`` only after ``B-X`` or ``I-X``.
    * IOB1: ``B-X`` only after ``B-X`` or ``I-X`` (it separates same-type neighbours).
    * BIOES: after ``B-X``/``I-X`` only ``I-X``/``E-X``; elsewhere only ``O``, ``B-``,
      ``S-`` or the end.

    Examples
    --------
    >>> allowed_transition("O", "I-PER")
    False
    >>> allowed_transition("B-PER", "I-PER")
    True
    >>> allowed_transition("B-PER", None, "BIOES")
    False
    """
    scheme = normalize_scheme(scheme)
    pp, pt = ("O", "") if prev is None else _parse([prev], scheme)[0]
    cp, ct = ("O", "") if cur is None else _parse([cur], scheme)[0]
    if scheme == "IOB2":
        return cp != "I" or (pp in ("B", "I") and pt == ct)
    if scheme == "IOB1":
        return cp != "B" or (pp in ("B", "I") and pt == ct)
    # BIOES
    if pp in ("B", "I"):
        return cp in ("I", "E") and pt == ct
    return cur is None or cp in ("O", "B", "S")


class TagSet:
    """Bidirectional mapping between tag strings and integer ids.

    The order is stable and independent of corpus order: ``"O"`` is id 0, then for each
    entity type in sorted order its tags in prefix order ``B, I`` (IOB1/IOB2) or
    ``B, I, E, S`` (BIOES).

    Parameters
    ----------
    types : iterable of str
        Entity types, e.g. ``["PER", "LOC", "ORG", "MISC"]`` (order does not matter).
    scheme : {"IOB1", "IOB2", "BIOES"}

    Examples
    --------
    >>> ts = TagSet(["PER", "LOC"])
    >>> ts.tags
    ('O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER')
    >>> ts.encode(["B-PER", "O"]).tolist()
    [3, 0]
    >>> ts.decode([1, 2])
    ['B-LOC', 'I-LOC']
    """

    OUTSIDE_ID = 0

    def __init__(self, types: Iterable[str], scheme: str = "IOB2") -> None:
        self.scheme = normalize_scheme(scheme)
        clean = set()
        for t in types:
            if not isinstance(t, str) or not t or t == "O":
                raise TagSchemeError(f"invalid entity type {t!r}")
            clean.add(t)
        self.types: tuple[str, ...] = tuple(sorted(clean))
        prefixes = _PREFIXES[self.scheme]
        self.tags: tuple[str, ...] = ("O",) + tuple(
            f"{p}-{t}" for t in self.types for p in prefixes
        )
        self._index = {tag: i for i, tag in enumerate(self.tags)}

    @classmethod
    def from_tags(cls, tag_sequences: Iterable[Iterable[str]], scheme: str = "IOB2") -> TagSet:
        """Build the tag set of all types seen in ``tag_sequences`` (lists of tags).

        Examples
        --------
        >>> TagSet.from_tags([["B-ORG", "O"], ["I-MISC"]]).types
        ('MISC', 'ORG')
        """
        scheme = normalize_scheme(scheme)
        types = set()
        for seq in tag_sequences:
            types.update(t for p, t in _parse(seq, scheme) if p != "O")
        return cls(types, scheme)

    def __len__(self) -> int:
        return len(self.tags)

    def __contains__(self, tag: object) -> bool:
        return tag in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TagSet) and other.tags == self.tags

    def __hash__(self) -> int:
        return hash(self.tags)

    def __repr__(self) -> str:
        return f"TagSet(types={list(self.types)!r}, scheme={self.scheme!r})"

    def index(self, tag: str) -> int:
        """Id of ``tag``; raises :class:`TagSchemeError` for a tag outside the set."""
        try:
            return self._index[tag]
        except KeyError:
            raise TagSchemeError(
                f"tag {tag!r} is not in this {self.scheme} tag set {list(self.tags)}"
            ) from None

    def encode(self, tags: Iterable[str]) -> np.ndarray:
        """Map tags to an ``int64`` array of ids."""
        return np.array([self.index(t) for t in tags], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Map ids back to tag strings."""
        n = len(self.tags)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise TagSchemeError(f"tag id {i} out of range for a tag set of {n} tags")
            out.append(self.tags[i])
        return out

    def transition_mask(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean masks of allowed transitions for constrained decoding.

        Returns
        -------
        start : ndarray of bool, shape (n_tags,)
            ``start[j]``: tag ``j`` may open a sentence.
        trans : ndarray of bool, shape (n_tags, n_tags)
            ``trans[i, j]``: tag ``j`` may follow tag ``i``.
        end : ndarray of bool, shape (n_tags,)
            ``end[i]``: tag ``i`` may close a sentence.

        Examples
        --------
        >>> start, trans, end = TagSet(["PER"]).transition_mask()
        >>> start.tolist(), trans[0].tolist(), end.tolist()
        ([True, True, False], [True, True, False], [True, True, True])
        """
        tags = self.tags
        start = np.array([allowed_transition(None, t, self.scheme) for t in tags])
        end = np.array([allowed_transition(t, None, self.scheme) for t in tags])
        trans = np.array(
            [[allowed_transition(a, b, self.scheme) for b in tags] for a in tags], dtype=bool
        )
        return start.astype(bool), trans, end.astype(bool)

    def to_dict(self) -> dict:
        """JSON-safe description (for checkpoints)."""
        return {"scheme": self.scheme, "types": list(self.types), "tags": list(self.tags)}

    @classmethod
    def from_dict(cls, d: dict) -> TagSet:
        """Inverse of :meth:`to_dict`; checks the stored tag order still matches."""
        try:
            ts = cls(d["types"], d["scheme"])
        except (KeyError, TypeError) as e:
            raise TagSchemeError(f"not a TagSet dictionary: {e}") from None
        if "tags" in d and list(d["tags"]) != list(ts.tags):
            raise TagSchemeError(
                f"stored tag order {d['tags']} differs from the rebuilt one {list(ts.tags)}"
            )
        return ts
