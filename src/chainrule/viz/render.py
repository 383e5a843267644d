"""Running Graphviz's ``dot`` program (an optional system tool, not a Python package).

``dot`` is looked up on ``PATH``, or taken from the ``CHAINRULE_DOT`` environment variable
when set. Install it with your system's package manager: ``apt-get install graphviz``,
``brew install graphviz``, ``conda install graphviz``.

Examples
--------
>>> from chainrule.viz.render import render_command
>>> render_command("graph.dot", "graph.svg")
'dot -Tsvg graph.dot -o graph.svg'
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from ..core import ChainruleError

__all__ = [
    "GraphvizError",
    "INSTALL_HINT",
    "RENDER_FORMATS",
    "find_dot",
    "render",
    "render_command",
]

#: Output formats rendered through ``dot`` (others are written as DOT text).
RENDER_FORMATS = ("svg", "png", "pdf")

INSTALL_HINT = (
    "install Graphviz to render it: apt-get install graphviz / brew install "
    "graphviz / conda install graphviz"
)


class GraphvizError(ChainruleError, RuntimeError):
    """``dot`` failed on a graph (the message carries its error output)."""


def find_dot() -> str | None:
    """The path of the ``dot`` program, or None when Graphviz is not installed."""
    env = os.environ.get("CHAINRULE_DOT")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    return shutil.which("dot")


def render_command(
    dot_path: str | os.PathLike[str], out_path: str | os.PathLike[str], fmt: str | None = None
) -> str:
    """The shell command that renders a .dot file, e.g. ``dot -Tsvg g.dot -o g.svg``."""
    fmt = fmt or Path(out_path).suffix.lstrip(".") or "svg"
    return f"dot -T{fmt} {shlex.quote(str(dot_path))} -o {shlex.quote(str(out_path))}"


def render(source: str, fmt: str = "svg", *, timeout: float = 60.0) -> bytes:
    """Render DOT text with ``dot -T<fmt>``; returns the image bytes.

    Raises
    ------
    GraphvizError
        If ``dot`` is not installed, fails, or runs longer than ``timeout`` seconds.
    """
    dot = find_dot()
    if dot is None:
        raise GraphvizError(f"Graphviz's `dot` program was not found on PATH; {INSTALL_HINT}")
    try:
        done = subprocess.run(
            [dot, f"-T{fmt}"],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GraphvizError(
            f"`dot -T{fmt}` took longer than {timeout:g} s; the graph may "
            f"be too large (draw(..., max_nodes=...) collapses more)"
        ) from exc
    if done.returncode != 0:
        raise GraphvizError(
            f"`dot -T{fmt}` failed (exit status {done.returncode}): "
            f"{done.stderr.decode('utf-8', 'replace').strip()}"
        )
    return done.stdout
