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
import importlib.util
import math
import sys
from collections.abc import Callable, Mapping

__all__ = [
    "HelpFormatter",
    "RawHelpFormatter",
    "float_option",
    "int_option",
    "missing_modules",
    "read_text",
    "require_modules",
    "stderr_is_terminal",
    "write_text",
]


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` with every option's default: ``(default: X)`` is appended to its help.

    Unlike :class:`argparse.ArgumentDefaultsHelpFormatter`, nothing is appended where the
    help already says what the default is (``"default: per --optimizer"``), for flags
    (default False), required options, or a default of None or ``[]`` (whose meaning the
    help text has to say in words: ``"(default: no time limit)"``); it never prints
    ``(default: None)``.

    Examples
    --------
    >>> p = argparse.ArgumentParser(prog="demo", formatter_class=HelpFormatter)
    >>> _ = p.add_argument("--seed", type=int, default=0, help="random seed")
    >>> _ = p.add_argument("--budget", type=float, help="seconds (default: no limit)")
    >>> text = p.format_help()
    >>> "random seed (default: 0)" in text, "(default: None)" in text
    (True, False)
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or not action.option_strings
            or action.required
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or (isinstance(default, list | tuple) and not default)
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class RawHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """:class:`HelpFormatter` that keeps the description's and epilog's line breaks."""


def stderr_is_terminal(stream: object = None) -> bool:
    """Whether progress bars may draw on ``stream`` (default ``sys.stderr``): a terminal.

    Piped, redirected to a file, or captured (CI logs, tests), progress bars stay quiet.
    """
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def missing_modules(modules: Mapping[str, str]) -> list[str]:
    """The distributions (values) of ``modules`` (module name -> distribution) that are not
    importable, found without importing anything (``importlib.util.find_spec``).

    Examples
    --------
    >>> missing_modules({"math": "math", "no_such_module_xyz": "no-such-dist"})
    ['no-such-dist']
    """
    missing = []
    for module, dist in modules.items():
        if module in sys.modules:
            if sys.modules[module] is None:  # import blocked (tests, embedding apps)
                missing.append(dist)
            continue
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(dist)
    return missing


def require_modules(
    what: str, modules: Mapping[str, str], extra: str = "apps", alternative: str = ""
) -> None:
    """Fail before any work starts when an optional dependency is missing.

    Raises :class:`chainrule.ChainruleError` with one line naming what is missing and the
    exact command that installs it (``pip install 'chainrule[apps]'``), plus
    ``alternative`` (a way to run without it) when given.
    """
    missing = missing_modules(modules)
    if not missing:
        return
    from ..core import ChainruleError

    names = " and ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    raise ChainruleError(
        f"{what} needs {names}, which {verb} not installed: "
        f"pip install 'chainrule[{extra}]'" + (f" ({alternative})" if alternative else "")
    )


def _bounds(
    minimum: float | None, maximum: float | None, min_inclusive: bool, max_inclusive: bool
) -> str:
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
    what = "an integer" + (
        " " + _bounds(minimum, maximum, True, True)
        if minimum is not None or maximum is not None
        else ""
    )

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


def float_option(
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> Callable[[str], float]:
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
        if minimum is not None or maximum is not None
        else ""
    )

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
        raise ChainruleError(
            f"{what} {name} is not valid UTF-8: byte 0x{data[e.start]:02x} at "
            f"offset {e.start} ({e.reason})"
        ) from None


def write_text(text: str) -> None:
    """Write ``text`` to stdout as UTF-8 whatever the locale says (JSON output must be UTF-8)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()  # keep the order with anything already written as text
    buffer.write(text.encode("utf-8"))
    buffer.flush()
