"""``chainrule explain``: backpropagation through a typed formula, step by step.

::

    chainrule explain "(x + y) * max(y, z)" --at x=1 y=2 z=0
    chainrule explain "1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))" \\
        --at w0=2 x0=-1 w1=-3 x1=-2 w2=-3 --precision 2 --draw neuron.svg

The formula is parsed by :mod:`chainrule.viz.expr`, a small parser that only knows numbers,
variables, ``+ - * / **``, parentheses and the functions exp, log, sqrt, abs, sigmoid,
tanh, relu, max and min: nothing typed is ever passed to ``eval``. Each variable becomes a
float64 tensor requiring grad, named after it. Values given with ``--at`` are themselves
small formulas without variables (``x=-2``, ``y=1e-3``, ``z=exp(1)``).

Errors in the formula or in ``--at`` (with a caret under the offending column), a
variable without a value, or a value for a name the formula does not use, print a message
to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

from ..core import ChainruleError
from ..viz.expr import MATH_FUNCTIONS, ExpressionError, Var, evaluate, parse, variables
from ._common import RawHelpFormatter, int_option

FORMATS = {"text": "text", "md": "markdown", "markdown": "markdown", "html": "html"}

EPILOG = """\
examples:
  chainrule explain "(x + y) * z" --at x=-2 y=5 z=-4
  chainrule explain "(x + y) * max(y, z)" --at x=1 y=2 z=0 --draw graph.svg
  chainrule explain "(x + y) * max(y, z)" --at x=1 y=2 z=0 --html page.html
  chainrule explain "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2 x0=-1 w1=-3 x1=-2 w2=-3 \\
      --precision 2 --format md

allowed: numbers, variables, + - * / ** ( ), and the ops that name an expression function in
their lecture text (built in: exp log sqrt abs sigmoid tanh relu max min).
An expression starting with '-' needs '--' before it: chainrule explain -- "-x*y" --at ...
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="explain backprop through a formula, node by node",
        description="Evaluate a formula on the given values, run backpropagation and explain\n"
        "every step: values, upstream gradients, local rules, downstream\n"
        "gradients, and where contributions are summed.",
        epilog=EPILOG,
        formatter_class=RawHelpFormatter,
    )
    p.add_argument("expression", help='the formula, e.g. "(x + y) * max(y, z)"')
    p.add_argument(
        "--at",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="a value for every variable, e.g. --at x=1 y=2 z=0 (default: none, "
        "for a formula without variables)",
    )
    p.add_argument(
        "--draw",
        metavar="FILE",
        help="also draw the graph (.svg/.png/.pdf need Graphviz's dot; .dot is "
        "DOT text) (default: no drawing)",
    )
    p.add_argument(
        "--html",
        metavar="FILE",
        help="also write a self-contained HTML page that steps through the backward "
        "pass node by node (no network needed: open it from disk) "
        "(default: no page)",
    )
    p.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default="text",
        help="output format of the explanation on stdout (default: text)",
    )
    p.add_argument(
        "--precision",
        type=int_option(minimum=0, maximum=15),
        default=4,
        metavar="N",
        help="decimals of non-integer numbers (default 4; 2 as in the lectures)",
    )
    p.set_defaults(func=run)


def parse_assignment(item: str) -> tuple[str, float]:
    """Read one ``NAME=VALUE`` of ``--at``; VALUE may be a formula without variables.

    Raises
    ------
    ExpressionError
        With the column in ``item`` where it goes wrong.
    """
    name, eq, value = item.partition("=")
    if not eq:
        raise ExpressionError(
            "expected NAME=VALUE in --at", item, len(item) + 1, "e.g. --at x=1 y=2"
        )
    stripped = name.strip()
    lead = len(name) - len(name.lstrip())
    if not stripped:
        raise ExpressionError("missing variable name before '=' in --at", item, 1)
    try:
        tree = parse(stripped)
    except ExpressionError as exc:
        raise ExpressionError(
            f"bad variable name {stripped!r} in --at: {exc.reason}",
            item,
            lead + exc.column,
            exc.hint,
        ) from None
    if not (isinstance(tree, Var) and tree.name == stripped):
        raise ExpressionError(
            f"bad variable name {stripped!r} in --at",
            item,
            lead + 1,
            "a name is letters, digits and '_', not starting with a digit",
        )
    offset = len(name) + 1
    if not value.strip():
        raise ExpressionError(f"missing value for {stripped!r} in --at", item, offset + 1)
    try:
        number = evaluate(parse(value), {}, MATH_FUNCTIONS, text=value)
    except ExpressionError as exc:
        hint = exc.hint
        if exc.reason.startswith("undefined variable"):
            hint = "a value is a number, or a formula of numbers such as 2*exp(1)"
        raise ExpressionError(
            f"bad value for {stripped!r} in --at: {exc.reason}", item, offset + exc.column, hint
        ) from None
    number = float(number)
    if not math.isfinite(number):
        raise ExpressionError(f"the value of {stripped!r} is not finite", item, offset + 1)
    return stripped, number


def _fail(message: str, status: int = 2) -> int:
    print(f"chainrule explain: error: {message}", file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    from ..viz import draw, explain_expression

    if sys.stdout.encoding and sys.stdout.encoding.lower().replace("-", "") != "utf8":
        # ∂, σ and · must not crash a terminal that cannot show them.
        try:
            sys.stdout.reconfigure(errors="replace")
        except (AttributeError, ValueError):
            pass
    if args.precision < 0 or args.precision > 15:
        return _fail(f"--precision must be between 0 and 15, got {args.precision}")
    try:
        tree = parse(args.expression)
        values: dict[str, float] = {}
        for item in args.at:
            name, number = parse_assignment(item)
            if name in values:
                raise ExpressionError(f"{name!r} is given twice in --at", item, 1)
            values[name] = number
    except ExpressionError as exc:
        return _fail(str(exc))
    names = variables(tree)
    missing = [n for n in names if n not in values]
    if missing:
        return _fail(
            f"no value for {', '.join(missing)}: give "
            f"{'it' if len(missing) == 1 else 'them'} with --at, e.g. --at "
            + " ".join(f"{n}=1" for n in missing)
        )
    unused = [n for n in values if n not in names]
    if unused:
        return _fail(
            f"--at gives {', '.join(unused)}, which the expression does not use "
            f"(its variables: {', '.join(names) or 'none'})"
        )
    try:
        explanation, out = explain_expression(
            args.expression, values, format=FORMATS[args.format], precision=args.precision
        )
    except ExpressionError as exc:
        return _fail(str(exc))
    print(explanation.render(), end="")
    if args.html:
        try:
            explanation.to_page(args.html)
        except (ChainruleError, OSError) as exc:
            return _fail(f"could not write the page to {args.html}: {exc}", 1)
        print(f"chainrule explain: wrote the step-through page to {args.html}", file=sys.stderr)
    if args.draw:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                drawing = draw(out, args.draw, precision=min(args.precision, 4))
            except (ChainruleError, OSError) as exc:
                return _fail(f"could not draw the graph to {args.draw}: {exc}", 1)
        for w in caught:
            print(f"chainrule explain: warning: {w.message}", file=sys.stderr)
        if drawing.rendered:
            print(f"chainrule explain: drew the graph to {drawing.path}", file=sys.stderr)
        elif drawing.command is None:
            print(f"chainrule explain: wrote the graph (DOT) to {drawing.path}", file=sys.stderr)
    return 0
