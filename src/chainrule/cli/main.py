"""Entry point of the ``chainrule`` command (also ``python -m chainrule``).

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a
parser whose ``func`` default runs the command and returns an exit status. Modules are
imported lazily by name so that ``chainrule --help`` stays fast and a sub-command's optional
dependencies (matplotlib, tqdm) are only needed when it runs.

Exit statuses follow one rule: 0 success, 2 usage error, 1 any other failure (the
conventional 128 + signal number when the user or a pipe stops the command). Failures are
reported here, once for every command, as a single line on stderr:

=============================================  ===================================  ======
what                                           printed                              status
=============================================  ===================================  ======
bad option value or usage                      argparse's ``usage`` + one line      2
no command (``chainrule``, ``chainrule ner``)  the help, on stderr                  2
any :class:`chainrule.ChainruleError`          ``chainrule: error: <message>``      1
a missing optional package (checked first)     the same, with the pip command       1
a file problem (:class:`OSError`)              ``chainrule: error: <message>``      1
out of memory                                  ``chainrule: error: out of memory``  1
a bug in chainrule                             one line asking for a report         1
Ctrl-C                                         nothing                              130
stdout closed early (``... | head -1``)        nothing                              141
=============================================  ===================================  ======

For a bug the traceback is shown only when ``CHAINRULE_TRACEBACK=1``. ``--help`` of every
command shows each option's meaning and default.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# sub-command name -> module under chainrule.cli (the module registers the name)
COMMANDS = {
    "demo": "demo",
    "train": "train",
    "ner": "ner",
    "explain": "explain",
}

EXIT_ERROR = 1
EXIT_USAGE = 2  # what argparse exits with on a usage error
EXIT_SOFTWARE = EXIT_ERROR  # an internal error is a failure like any other (status 1)
EXIT_SIGPIPE = 128 + 13  # what a shell reports for a process killed by SIGPIPE
EXIT_INTERRUPTED = 128 + 2


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ._common import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="chainrule: backpropagation you can read, check and train with.",
        epilog="Run `chainrule COMMAND --help` for a command's options. Exit status: 0 "
        "success, 2 usage error, 1 any other failure.",
        formatter_class=HelpFormatter,
    )

    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"cli.{module}"):
                continue  # sub-command not shipped in this build
            raise
        mod.register(sub)
    return parser


def _move_positional_after_options(argv: list[str]) -> list[str]:
    """``explain -- "-x*y" --at x=1`` -> ``explain --at x=1 -- "-x*y"``.

    A formula starting with ``-`` must follow ``--`` (or argparse takes it for an option),
    but argparse then treats *everything* after ``--`` as positional, so options written
    after the formula (the documented form) would be rejected. Moving them before the
    ``--`` keeps the meaning and lets argparse parse them.

    Examples
    --------
    >>> _move_positional_after_options(["explain", "--", "-x*y", "--at", "x=1", "y=2"])
    ['explain', '--at', 'x=1', 'y=2', '--', '-x*y']
    >>> _move_positional_after_options(["explain", "x", "--at", "x=1"])
    ['explain', 'x', '--at', 'x=1']
    """
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if command is None or argv[command] != "explain" or "--" not in argv[command:]:
        return argv
    dd = argv.index("--", command)
    after = argv[dd + 1 :]
    if len(after) < 2:
        return argv
    return argv[:dd] + after[1:] + ["--", after[0]]


def _error(message: str) -> None:
    # One line: a multi-line message (an expression error's caret) stays readable indented.
    print(f"chainrule: error: {message}", file=sys.stderr)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout without a file descriptor (captured in tests): nothing to silence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse usage errors exit with 2)."""
    from ..core import ChainruleError

    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(_move_positional_after_options(args_list))
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)  # no command: a usage error, like `chainrule train`
        return EXIT_USAGE
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not in the interpreter's exit
        return status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_SIGPIPE
    except ChainruleError as exc:
        _error(str(exc))
    except OSError as exc:
        # FileNotFoundError & co. from opening the user's files: the message names the path.
        if exc.filename is not None and exc.strerror:
            _error(f"{exc.strerror}: {exc.filename!r}")
        else:
            _error(str(exc))
    except MemoryError:
        _error("out of memory (try smaller sizes or a smaller input)")
    except Exception as exc:  # a bug: say so in one line; the traceback on request
        if os.environ.get("CHAINRULE_TRACEBACK") == "1":
            raise
        _error(
            f"internal error ({type(exc).__name__}: {exc}); please report it "
            f"(CHAINRULE_TRACEBACK=1 shows the traceback)"
        )
        return EXIT_SOFTWARE
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
