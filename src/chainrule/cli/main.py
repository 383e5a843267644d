"""Entry point of the ``chainrule`` command (also ``python -m chainrule``).

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a
parser whose ``func`` default runs the command and returns an exit status. Modules are
imported lazily by name so that ``chainrule --help`` stays fast and a sub-command's optional
dependencies (matplotlib, tqdm) are only needed when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# sub-command name -> module under chainrule.cli (the module registers the name)
COMMANDS = {
    "demo": "demo",
    "train": "train",
    "ner": "ner",
    "explain": "explain",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="chainrule: backpropagation you can read, check and train with.")
    from .. import __version__

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
