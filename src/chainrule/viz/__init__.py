"""See the backprop: explanations and pictures of chainrule computation graphs.

- :func:`explain` narrates a backward pass node by node (text, Markdown, HTML), also
  available as ``Tensor.explain()``;
- :func:`draw` draws the graph as Graphviz DOT, rendered to SVG/PNG when ``dot`` is
  installed, each edge labelled with its value and gradient;
- :func:`page` writes one self-contained HTML page that steps through the backward pass
  node by node (also what ``Tensor.explain()`` shows in Jupyter);
- :func:`explain_expression` does both for a formula typed as text, parsed safely by
  :mod:`chainrule.viz.expr` (this is what ``chainrule explain`` runs).

Importing this package binds ``Tensor.explain``.

Examples
--------
>>> import chainrule as cr
>>> import chainrule.viz
>>> x = cr.Tensor(2.0, requires_grad=True, name="x")
>>> float(cr.tanh(x).explain().grad("x")) == 1 - float(cr.tanh(x)) ** 2
True
"""

from __future__ import annotations

from typing import Any

from ..core.tensor import Tensor, install_methods
from .draw import Drawing, GraphvizMissingWarning, draw
from .explain import Explanation, Step, explain, explain_expression
from .expr import ExpressionError
from .page import Page, page


def _explain_method(self: Tensor, **kwargs: Any) -> Explanation:
    """Explain the backward pass from this tensor (see :func:`chainrule.viz.explain`)."""
    return explain(self, **kwargs)


install_methods({"explain": _explain_method})

__all__ = [
    "Drawing",
    "Explanation",
    "ExpressionError",
    "GraphvizMissingWarning",
    "Page",
    "Step",
    "draw",
    "explain",
    "explain_expression",
    "page",
]
