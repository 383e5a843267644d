"""Reading and writing CoNLL-format column files.

The CoNLL-2003 NER files hold one token per line, ``word POS chunk NER``, with a blank line
after each sentence and ``-DOCSTART-`` lines marking documents. Two-column ``word tag``
files (and any other column count, as long as it is the same on every line) are read by
the same code. :func:`write_conll` writes the ``word gold pred`` format that the CoNLL
``conlleval`` script (and :func:`chainrule.apps.ner.metrics.evaluate_conll_file`) reads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

from chainrule.core.errors import ChainruleError

__all__ = [
    "DOCSTART",
    "ConllFormatError",
    "Sentence",
    "iter_tokens",
    "read_conll",
    "read_conll_text",
    "write_conll",
]

DOCSTART = "-DOCSTART-"
# Fields are separated by any run of spaces or tabs. Deliberately not str.split(): that
# would also split on other Unicode spaces (e.g. U+00A0) that can be part of a token.
_FIELD_SEP = re.compile(r"[ \t]+")
_WS = " \t\r"


class ConllFormatError(ChainruleError, ValueError):
    """A CoNLL file (or data being written as one) is malformed.

    The message names the source and the 1-based line number when they are known; they are
    also available as the ``source`` and ``lineno`` attributes.
    """

    def __init__(self, message: str, source: str | None = None, lineno: int | None = None):
        self.source = source
        self.lineno = lineno
        self.reason = message
        where = ""
        if source is not None and lineno is not None:
            where = f"{source}, line {lineno}: "
        elif source is not None:
            where = f"{source}: "
        super().__init__(where + message)

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable (multiprocessing) despite the custom __init__.
        return (type(self), (self.reason, self.source, self.lineno))


@dataclass
class Sentence:
    """One sentence: its words, its tags, and any other columns of the file.

    Attributes
    ----------
    words : list of str
        Tokens (first column).
    tags : list of str
        The tag column (by default the last one, e.g. the NER tag).
    extra : list of list of str
        The remaining columns in file order, one list per column (for CoNLL-2003: POS tags
        and syntactic chunk tags). Empty for two-column files.

    Examples
    --------
    >>> s = Sentence(["EU", "rejects"], ["B-ORG", "O"])
    >>> len(s), s.words[0], s.extra
    (2, 'EU', [])
    """

    words: list[str]
    tags: list[str]
    extra: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.words)
        if len(self.tags) != n:
            raise ConllFormatError(f"Sentence has {n} words but {len(self.tags)} tags")
        for j, col in enumerate(self.extra):
            if len(col) != n:
                raise ConllFormatError(
                    f"Sentence has {n} words but extra column {j} has {len(col)}"
                )

    def __len__(self) -> int:
        return len(self.words)


def _split(line: str) -> list[str]:
    stripped = line.strip(_WS)
    return _FIELD_SEP.split(stripped) if stripped else []


def _parse_lines(lines: Iterable[str], name: str, tag_column: int) -> list[Sentence]:
    sentences: list[Sentence] = []
    rows: list[list[str]] = []
    n_cols: int | None = None
    ref_line = 0
    tag_idx = 0

    def flush() -> None:
        if rows:
            cols = list(zip(*rows, strict=True))
            extra = [list(c) for j, c in enumerate(cols) if j not in (0, tag_idx)]
            sentences.append(Sentence(list(cols[0]), list(cols[tag_idx]), extra))
            rows.clear()

    for lineno, line in enumerate(lines, start=1):
        fields = _split(line)
        if not fields:  # blank line: end of sentence (several in a row are harmless)
            flush()
            continue
        if fields[0] == DOCSTART:
            # Document marker, not a sentence. Its own column count is not checked; the
            # blank line after it just ends an empty sentence.
            flush()
            continue
        if n_cols is None:
            n_cols, ref_line = len(fields), lineno
            if n_cols < 2:
                raise ConllFormatError(
                    f"expected at least 2 columns (word and tag), got 1: {line.rstrip()!r}",
                    name,
                    lineno,
                )
            if not -n_cols <= tag_column < n_cols or tag_column % n_cols == 0:
                raise ConllFormatError(
                    f"tag_column={tag_column} is not a tag column of a {n_cols}-column file "
                    f"(column 0 holds the words)",
                    name,
                    lineno,
                )
            tag_idx = tag_column % n_cols
        elif len(fields) != n_cols:
            raise ConllFormatError(
                f"expected {n_cols} columns (as on line {ref_line}), got {len(fields)}: "
                f"{line.rstrip()!r}",
                name,
                lineno,
            )
        rows.append(fields)
    flush()
    return sentences


def read_conll_text(text: str, name: str = "<string>", tag_column: int = -1) -> list[Sentence]:
    """Parse CoNLL-format text already in memory.

    Parameters
    ----------
    text : str
        File contents. CRLF line endings and a leading byte-order mark are accepted.
    name : str
        Name used in error messages.
    tag_column : int
        Index of the tag column (negative counts from the end; default: last column).

    Returns
    -------
    list of Sentence

    Raises
    ------
    ConllFormatError
        On a line whose column count differs from the first token line, or a file whose
        first token line has a single column.

    Examples
    --------
    >>> text = "-DOCSTART- -X- -X- O\\n\\nEU NNP B-NP B-ORG\\nrejects VBZ B-VP O\\n\\n"
    >>> [s] = read_conll_text(text)
    >>> s.words, s.tags, s.extra
    (['EU', 'rejects'], ['B-ORG', 'O'], [['NNP', 'VBZ'], ['B-NP', 'B-VP']])
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    # Split on "\n" only (CR is stripped per line): str.splitlines would also break lines at
    # characters such as U+2028 or U+001C that may legitimately occur inside a token.
    return _parse_lines(text.split("\n"), name, tag_column)


def read_conll(path: str | os.PathLike, tag_column: int = -1) -> list[Sentence]:
    """Read a CoNLL-format file (UTF-8) into a list of sentences.

    ``-DOCSTART-`` lines are skipped together with the blank line after them; blank lines
    end sentences; fields are split on runs of spaces or tabs. See :func:`read_conll_text`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.txt"
    >>> _ = p.write_text("Peter B-PER\\nBlackburn I-PER\\n\\nBRUSSELS B-LOC\\n")
    >>> [s.tags for s in read_conll(p)]
    [['B-PER', 'I-PER'], ['B-LOC']]
    """
    name = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        lineno = data.count(b"\n", 0, e.start) + 1
        raise ConllFormatError(f"invalid UTF-8 ({e.reason})", name, lineno) from None
    return read_conll_text(text, name=name, tag_column=tag_column)


def _check_field(value: str, what: str, i: int, j: int) -> str:
    # Everything read_conll would not give back unchanged: the reader splits lines at "\n",
    # fields at spaces/tabs, strips "\r" at line ends (CRLF files) and a leading byte-order
    # mark, and skips -DOCSTART- lines.
    if (
        not isinstance(value, str)
        or not value
        or _FIELD_SEP.search(value)
        or "\n" in value
        or "\r" in value
        or value.startswith("\ufeff")
    ):
        raise ConllFormatError(
            f"sentence {i}, token {j}: {what} {value!r} cannot be written as one CoNLL field "
            f"(it is empty or contains whitespace, a carriage return or a leading byte-order "
            f"mark)"
        )
    if what == "word" and value == DOCSTART:
        raise ConllFormatError(
            f"sentence {i}, token {j}: the word {DOCSTART!r} would be read "
            f"back as a document marker"
        )
    return value


def write_conll(
    path_or_file: str | os.PathLike | IO[str],
    sentences: Sequence[Sentence],
    predicted: Sequence[Sequence[str]] | None = None,
) -> None:
    """Write sentences as ``word gold pred`` lines (``word gold`` without predictions).

    A blank line follows every sentence, which is the input format of ``conlleval``.

    Parameters
    ----------
    path_or_file : path or text file object
        Destination; a path is written as UTF-8 with LF line endings.
    sentences : sequence of Sentence
        Words and gold tags.
    predicted : sequence of list of str, optional
        Predicted tags, one list per sentence, same lengths as the sentences.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> write_conll(buf, [Sentence(["EU", "rejects"], ["B-ORG", "O"])], [["B-ORG", "B-PER"]])
    >>> print(buf.getvalue(), end="")
    EU B-ORG B-ORG
    rejects O B-PER
    <BLANKLINE>
    """
    if predicted is not None and len(predicted) != len(sentences):
        raise ConllFormatError(
            f"got {len(sentences)} sentences but {len(predicted)} predicted tag sequences"
        )
    lines: list[str] = []
    for i, sent in enumerate(sentences):
        if len(sent) == 0:
            continue  # an empty sentence would only add a second blank line
        pred = None
        if predicted is not None:
            pred = predicted[i]
            if len(pred) != len(sent):
                raise ConllFormatError(
                    f"sentence {i} has {len(sent)} tokens but {len(pred)} predicted tags"
                )
        for j, (w, g) in enumerate(zip(sent.words, sent.tags, strict=True)):
            cols = [_check_field(w, "word", i, j), _check_field(g, "tag", i, j)]
            if pred is not None:
                cols.append(_check_field(pred[j], "predicted tag", i, j))
            lines.append(" ".join(cols))
        lines.append("")
    text = "\n".join(lines) + ("\n" if lines else "")
    if hasattr(path_or_file, "write"):
        path_or_file.write(text)
    else:
        with open(path_or_file, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def iter_tokens(sentences: Iterable[Sentence]) -> Iterator[tuple[str, str]]:
    """Yield ``(word, tag)`` for every token of every sentence, in order.

    Examples
    --------
    >>> list(iter_tokens([Sentence(["a", "b"], ["O", "B-X"]), Sentence(["c"], ["O"])]))
    [('a', 'O'), ('b', 'B-X'), ('c', 'O')]
    """
    for sent in sentences:
        yield from zip(sent.words, sent.tags, strict=True)
