"""Entity-level NER evaluation, as computed by the CoNLL shared task's ``conlleval`` script.

An entity (chunk) counts as correct only when the predicted chunk has the same type and
the same first and last token as a gold chunk. Precision, recall and F1 are micro-averaged
over all chunks, overall and per type; token accuracy counts tokens whose predicted tag
equals the gold tag.

Two decoding modes:

* ``"conlleval"`` (default) -- the chunk rules of the Perl script: every non-``O`` token
  belongs to a chunk, and a stray ``I-X`` (after ``O`` or after another type) starts one.
  For ``B-``/``I-`` tags this is exactly conlleval; ``E-``/``S-`` follow the IOBES
  extension used by seqeval's default mode (see :mod:`chainrule.apps.ner.tags`).
* ``"strict"`` -- only well-formed entities of the given scheme count (IOB2: ``B-X I-X*``),
  like seqeval's ``mode="strict", scheme=IOB2``. A prediction that opens an entity with
  ``I-`` then earns nothing.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from chainrule.core.errors import ChainruleError

from .conll import read_conll
from .tags import get_entities

__all__ = ["MODES", "EvaluationError", "Report", "TypeScore", "evaluate", "evaluate_conll_file"]

MODES = ("conlleval", "strict")


class EvaluationError(ChainruleError, ValueError):
    """Gold and predicted tags cannot be compared (different numbers of sentences/tokens)."""


class TypeScore(NamedTuple):
    """Scores of one entity type; ``support`` is the number of gold entities."""

    precision: float
    recall: float
    f1: float
    support: int


def _prf(n_correct: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    # Same conventions as conlleval: an undefined ratio is 0.
    p = n_correct / n_pred if n_pred else 0.0
    r = n_correct / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def _pct_prf(n_correct: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    # The table uses the Perl script's arithmetic (in percent) so the printed digits agree.
    p = 100 * n_correct / n_pred if n_pred else 0.0
    r = 100 * n_correct / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


@dataclass
class Report:
    """Result of :func:`evaluate`. Scores are fractions in [0, 1].

    Attributes
    ----------
    precision, recall, f1 : float
        Micro-averaged over all entities.
    accuracy : float
        Fraction of tokens whose predicted tag equals the gold tag.
    n_gold, n_pred, n_correct : int
        Gold entities, predicted entities, exactly matching predicted entities.
    n_tokens, n_correct_tokens : int
        Token counts behind ``accuracy``.
    type_counts : dict
        ``{type: (n_gold, n_pred, n_correct)}`` for every type seen in gold or predictions.
    mode : str
        ``"conlleval"`` or ``"strict"``.
    """

    n_gold: int
    n_pred: int
    n_correct: int
    n_tokens: int
    n_correct_tokens: int
    type_counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    mode: str = "conlleval"

    @property
    def precision(self) -> float:
        return _prf(self.n_correct, self.n_pred, self.n_gold)[0]

    @property
    def recall(self) -> float:
        return _prf(self.n_correct, self.n_pred, self.n_gold)[1]

    @property
    def f1(self) -> float:
        return _prf(self.n_correct, self.n_pred, self.n_gold)[2]

    @property
    def accuracy(self) -> float:
        return self.n_correct_tokens / self.n_tokens if self.n_tokens else 0.0

    @property
    def per_type(self) -> dict[str, TypeScore]:
        """``{type: TypeScore(precision, recall, f1, support)}``, types sorted."""
        out = {}
        for t in sorted(self.type_counts):
            g, p, c = self.type_counts[t]
            out[t] = TypeScore(*_prf(c, p, g), g)
        return out

    def to_dict(self) -> dict:
        """JSON-safe summary (plain floats and ints)."""
        per_type = {}
        for t, s in self.per_type.items():
            g, p, c = self.type_counts[t]
            per_type[t] = {
                "precision": s.precision,
                "recall": s.recall,
                "f1": s.f1,
                "support": g,
                "n_pred": p,
                "n_correct": c,
            }
        return {
            "mode": self.mode,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "accuracy": self.accuracy,
            "n_gold": self.n_gold,
            "n_pred": self.n_pred,
            "n_correct": self.n_correct,
            "n_tokens": self.n_tokens,
            "n_correct_tokens": self.n_correct_tokens,
            "per_type": per_type,
        }

    def format_table(self) -> str:
        """The report in ``conlleval``'s text layout (percentages, 2 decimals).

        As in conlleval, the number ending each per-type line is the number of *predicted*
        entities of that type.

        Examples
        --------
        >>> print(evaluate([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "B-LOC"]]).format_table())
        processed 3 tokens with 1 phrases; found: 2 phrases; correct: 1.
        accuracy:  66.67%; precision:  50.00%; recall: 100.00%; FB1:  66.67
                      LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1
                      PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1
        """
        lines = [
            f"processed {self.n_tokens} tokens with {self.n_gold} phrases; "
            f"found: {self.n_pred} phrases; correct: {self.n_correct}."
        ]
        if self.n_tokens > 0:
            p, r, f = _pct_prf(self.n_correct, self.n_pred, self.n_gold)
            acc = 100 * self.n_correct_tokens / self.n_tokens
            lines.append(
                f"accuracy: {acc:6.2f}%; precision: {p:6.2f}%; recall: {r:6.2f}%; FB1: {f:6.2f}"
            )
        for t in sorted(self.type_counts):
            g, n_p, c = self.type_counts[t]
            p, r, f = _pct_prf(c, n_p, g)
            lines.append(f"{t:>17}: precision: {p:6.2f}%; recall: {r:6.2f}%; FB1: {f:6.2f}  {n_p}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


def evaluate(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    mode: str = "conlleval",
    *,
    scheme: str = "IOB2",
) -> Report:
    """Score predicted tag sequences against gold ones at the entity level.

    Parameters
    ----------
    gold, pred : sequence of sequence of str
        One list of tags per sentence; ``pred[i]`` must be as long as ``gold[i]``.
    mode : {"conlleval", "strict"}
        Chunk decoding (see the module docstring).
    scheme : {"IOB2", "BIOES"}
        Scheme for ``mode="strict"``; ignored by ``"conlleval"``, which needs no scheme.

    Returns
    -------
    Report

    Raises
    ------
    EvaluationError
        If the numbers of sentences differ, or a sentence's gold and predicted lengths
        differ (the message names the sentence index).

    Examples
    --------
    >>> gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    >>> pred = [["B-PER", "I-PER", "O", "I-LOC"]]
    >>> r = evaluate(gold, pred)
    >>> r.n_correct, r.f1
    (2, 1.0)
    >>> evaluate(gold, pred, mode="strict").f1  # I-LOC does not open an entity when strict
    0.6666666666666666
    """
    if mode not in MODES:
        raise EvaluationError(f"unknown mode {mode!r}: expected one of {MODES}")
    if len(gold) != len(pred):
        raise EvaluationError(f"got {len(gold)} gold sentences but {len(pred)} predicted sentences")
    strict = mode == "strict"
    # conlleval mode validates only that the tags are O or <B|I|E|S>-<type> (IOB2 decoding
    # accepts E-/S- there through the BIOES rules, which give the same result on B/I/O).
    decode_scheme = scheme if strict else "BIOES"
    gold_counts: Counter[str] = Counter()
    pred_counts: Counter[str] = Counter()
    correct_counts: Counter[str] = Counter()
    n_tokens = n_correct_tokens = 0
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise EvaluationError(
                f"sentence {i}: gold has {len(g)} tags but prediction has {len(p)}"
            )
        n_tokens += len(g)
        n_correct_tokens += sum(a == b for a, b in zip(g, p, strict=True))
        g_ents = get_entities(g, decode_scheme, strict=strict)
        p_ents = get_entities(p, decode_scheme, strict=strict)
        gold_counts.update(e.type for e in g_ents)
        pred_counts.update(e.type for e in p_ents)
        # Exact match: same type and both boundaries (entities of one sentence are distinct).
        correct_counts.update(e.type for e in set(g_ents) & set(p_ents))
    types = set(gold_counts) | set(pred_counts)
    type_counts = {t: (gold_counts[t], pred_counts[t], correct_counts[t]) for t in sorted(types)}
    return Report(
        n_gold=sum(gold_counts.values()),
        n_pred=sum(pred_counts.values()),
        n_correct=sum(correct_counts.values()),
        n_tokens=n_tokens,
        n_correct_tokens=n_correct_tokens,
        type_counts=type_counts,
        mode=mode,
    )


def evaluate_conll_file(
    path: str | os.PathLike, mode: str = "conlleval", *, scheme: str = "IOB2"
) -> Report:
    """Evaluate a ``word ... gold pred`` file such as :func:`~.conll.write_conll` writes.

    As with conlleval, the last two columns are the gold and the predicted tag.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> _ = p.write_text("EU B-ORG B-ORG\\nrejects O O\\n\\n")
    >>> evaluate_conll_file(p).f1
    1.0
    """
    sentences = read_conll(path, tag_column=-1)
    if sentences and not sentences[0].extra:
        raise EvaluationError(
            f"{os.fspath(path)}: expected at least 3 columns (word, gold tag, predicted tag)"
        )
    gold = [s.extra[-1] for s in sentences]
    pred = [s.tags for s in sentences]
    return evaluate(gold, pred, mode=mode, scheme=scheme)
