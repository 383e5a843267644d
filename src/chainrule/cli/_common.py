"""Helpers shared by the sub-commands: checked numeric options and UTF-8 text streams.

Every numeric option of every command is parsed by one of the ``argparse`` type functions
built here, so a bad value (``--seed -1``, ``--clip-norm -1``, ``--lr nan``) is a usage error
(exit status 2, one line naming the option) before any work starts, rather than a traceback
or, worse, a run that silently does something else (a negative clipping norm would turn
gradient descent into gradient ascent).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(prog="demo")
>>> _ = p.add_argument("--seed", type=int_option(minimum=0), default=0)
>>> _ = p.add_argument("--dropout", type=float_option(minimum=0.0, maximum=1.0,
...                                                   max_inclusive=False))
>>> p.parse_args(["--seed", "3", "--dropout", "0.5"])
Namespace(seed=3, dropout=0.5)
>>> int_option(minimum=0)("-1")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be an integer >= 0, got '-1'
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

__all__ = ["float_option", "int_option", "read_text", "write_text"]


def _bounds(minimum: float | None, maximum: float | None, min_inclusive: bool,
            max_inclusive: bool) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>=' if min_inclusive else '>'} {minimum:g}")
    if maximum is not None:
        parts.append(f"{'<=' if max_inclusive else '<'} {maximum:g}")
    return " and ".join(parts)


def int_option(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An ``argparse`` type: a decimal integer in ``[minimum, maximum]``.

    Examples
    --------
    >>> int_option(minimum=1)("16")
    16
    >>> int_option(minimum=1)("2.5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer >= 1, got '2.5'
    """
    what = "an integer" + (" " + _bounds(minimum, maximum, True, True)
                           if minimum is not None or maximum is not None else "")

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


def float_option(minimum: float | None = None, maximum: float | None = None, *,
                 min_inclusive: bool = True, max_inclusive: bool = True) -> Callable[[str], float]:
    """An ``argparse`` type: a finite number in the given range (NaN and inf are rejected).

    Examples
    --------
    >>> positive = float_option(minimum=0.0, min_inclusive=False)
    >>> positive("1e-3")
    0.001
    >>> positive("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a finite number > 0, got '0'
    """
    what = "a finite number" + (
        " " + _bounds(minimum, maximum, min_inclusive, max_inclusive)
        if minimum is not None or maximum is not None else "")

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        bad = not math.isfinite(value)
        if minimum is not None:
            bad = bad or (value < minimum if min_inclusive else value <= minimum)
        if maximum is not None:
            bad = bad or (value > maximum if max_inclusive else value >= maximum)
        if bad:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


# Seeds go to numpy.random.default_rng, which takes non-negative integers only.
SEED = int_option(minimum=0)


def read_text(path: str | None, what: str = "input") -> str:
    """Read a whole file, or stdin when ``path`` is None, as strict UTF-8.

    The bytes are decoded here rather than by the locale's text layer: under ``LC_ALL=C``
    Python would smuggle undecodable bytes through as lone surrogates, which split words
    and come back out as invalid UTF-8. A leading byte-order mark is dropped.

    Raises
    ------
    UnicodeError
        Never: invalid UTF-8 raises :class:`chainrule.ChainruleError` naming the byte offset.
    """
    from ..core import ChainruleError

    name = "stdin" if path is None else repr(path)
    if path is None:
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:  # a text stream without bytes underneath (tests, IDEs)
            return sys.stdin.read()
        data = buffer.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ChainruleError(f"{what} {name} is not valid UTF-8: byte 0x{data[e.start]:02x} at "
                             f"offset {e.start} ({e.reason})") from None


def write_text(text: str) -> None:
    """Write ``text`` to stdout as UTF-8 whatever the locale says (JSON output must be UTF-8)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()  # keep the order with anything already written as text
    buffer.write(text.encode("utf-8"))
    buffer.flush()
