"""A small, safe arithmetic expression language.

This module backs ``chainrule explain "(x + y) * max(y, z)" --at x=1 y=2 z=0``: it turns a
user-typed formula into an immutable AST, and evaluates that AST with whatever values and
functions the caller supplies (floats and :mod:`math`, or chainrule Tensors and chainrule ops).

Safety is by construction rather than by filtering: the input is read by a hand-written
tokenizer and recursive-descent parser that only know numbers, names, ``+ - * / **``,
parentheses and calls to a fixed whitelist of functions. Nothing here calls ``eval``,
``exec``, ``compile`` or :mod:`ast`, names starting with ``_`` and Python keywords are
rejected outright, input length and nesting depth are capped, and the tree walkers
(:func:`evaluate`, :func:`variables`, :func:`to_source`) are iterative, so no input can reach
Python's recursion limit or run for long.

Grammar (Python's precedence; ``**`` is right-associative and binds tighter than a unary
minus on its left, so ``-x**2 == -(x**2)`` and ``2**-1 == 0.5``)::

    expression := term (("+" | "-") term)*
    term       := factor (("*" | "/") factor)*
    factor     := ("+" | "-") factor | power
    power      := primary ("**" factor)?
    primary    := NUMBER | NAME | FUNCTION "(" arguments ")" | "(" expression ")"

Examples
--------
>>> from chainrule.viz.expr import MATH_FUNCTIONS, evaluate, parse, to_source, variables
>>> tree = parse("(x + y) * max(y, z)")
>>> variables(tree)
['x', 'y', 'z']
>>> evaluate(tree, {"x": 1.0, "y": 2.0, "z": 0.0}, MATH_FUNCTIONS)
6.0
>>> to_source(parse("((a)) - (b - -c**2)"))
'a - (b - -c**2)'
"""

from __future__ import annotations

import keyword
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ChainruleError

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "FUNCTION_ARITY",
    "MATH_FUNCTIONS",
    "ExpressionError",
    "ExpressionTypeError",
    "Node",
    "Num",
    "Var",
    "Unary",
    "Binary",
    "Call",
    "parse",
    "variables",
    "evaluate",
    "to_source",
]

#: Longest accepted input, in characters; checked before tokenizing.
MAX_LENGTH = 1000
#: Deepest accepted nesting of parentheses (grouping or call) and unary operators.
MAX_DEPTH = 100


class _Installed(Mapping):
    """A read-only view of a table installed by :mod:`chainrule.viz.catalog`.

    The whitelist of functions is not written here: :mod:`chainrule.viz.catalog` builds it
    from the primitives' lecture text (``Lecture.expr_name``) and installs it when
    :mod:`chainrule.viz` is imported, so this module stays free of imports beyond the
    standard library and an op added to chainrule becomes typeable without touching it.
    """

    def __init__(self, key: str) -> None:
        self._key = key

    def _table(self) -> Mapping[str, Any]:
        return _TABLES.get(self._key, {})

    def __getitem__(self, name: str) -> Any:
        return self._table()[name]

    def __iter__(self) -> Any:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return repr(dict(self._table()))


_TABLES: dict[str, Mapping[str, Any]] = {}


def _install(**tables: Mapping[str, Any]) -> None:
    """Install the function tables (``arity=``, ``math=``); called by chainrule.viz.catalog."""
    _TABLES.update(tables)


#: The only callable functions, with the exact number of arguments each takes: the
#: primitives whose lecture text gives an ``expr_name`` (exp, log, sqrt, abs, sigmoid, tanh,
#: relu, max, min for the built-in ops).
FUNCTION_ARITY: Mapping[str, int] = _Installed("arity")
#: Implementations of every whitelisted function for plain Python floats (each op's own
#: NumPy forward; domain and range errors raise ValueError/OverflowError as math does).
MATH_FUNCTIONS: Mapping[str, Callable[..., float]] = _Installed("math")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

_SNIPPET_WIDTH = 72


def _snippet(text: str, column: int) -> tuple[str, int]:
    """Return a one-line, printable window of ``text`` and the caret offset inside it."""
    # Every character maps to exactly one display character so the caret stays aligned.
    shown = "".join(" " if ch.isspace() else (ch if ch.isprintable() else "?") for ch in text)
    offset = column - 1
    if len(shown) <= _SNIPPET_WIDTH:
        return shown, offset
    # Long inputs (up to and beyond MAX_LENGTH) are cut to a window around the column.
    half = _SNIPPET_WIDTH // 2
    start = max(0, min(offset - half, len(shown) - _SNIPPET_WIDTH))
    end = start + _SNIPPET_WIDTH
    window = shown[start:end]
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(shown) else ""
    return prefix + window + suffix, len(prefix) + offset - start


class ExpressionError(ChainruleError, ValueError):
    """An expression could not be parsed or evaluated.

    A :class:`chainrule.ChainruleError` (so the command line reports it like every other
    library error) and a :class:`ValueError` (so existing ``except ValueError`` code works).

    Parameters
    ----------
    reason : str
        What went wrong, e.g. ``"unexpected '['"``.
    text : str or None
        The full expression, used to draw the caret; ``None`` when unknown (for example
        when :func:`evaluate` was given a bare AST).
    column : int
        1-based column of the first offending character (``len(text) + 1`` for problems
        at the end of the input).
    hint : str or None
        Optional extra advice, appended in parentheses.

    Attributes
    ----------
    reason, text, column, hint
        As passed in; ``str(error)`` combines them with a caret line.

    Examples
    --------
    >>> try:
    ...     parse("x + [1]")
    ... except ExpressionError as e:
    ...     print(e)
    ...     print(e.column, repr(e.text))
    unexpected '[' at column 5 (indexing is not allowed)
        x + [1]
            ^
    5 'x + [1]'
    """

    def __init__(self, reason: str, text: str | None, column: int, hint: str | None = None) -> None:
        self.reason = reason
        self.text = text
        self.column = column
        self.hint = hint
        message = f"{reason} at column {column}"
        if hint:
            message += f" ({hint})"
        if text is not None:
            line, caret = _snippet(text, column)
            message += f"\n    {line}\n    {' ' * caret}^"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error picklable (e.g. across multiprocessing) despite the custom __init__.
        return (type(self), (self.reason, self.text, self.column, self.hint))


class ExpressionTypeError(ExpressionError, TypeError):
    """A function of this module was given something that is not text or a tree.

    Also a :class:`TypeError`, which is what such a mistake used to raise.

    Examples
    --------
    >>> try:
    ...     parse(b"x + 1")
    ... except ExpressionTypeError as e:
    ...     print(e, isinstance(e, TypeError), isinstance(e, ChainruleError))
    expression must be a str, not bytes True True
    """

    def __init__(self, reason: str) -> None:
        # No text and no column: there is nothing to draw a caret under.
        self.reason = reason
        self.text = None
        self.column = 0
        self.hint = None
        Exception.__init__(self, reason)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason,))


# --------------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------------


class Node:
    """Base class of all AST nodes (immutable dataclasses).

    Every node has a ``column``: the 1-based column in the source text where the node's
    own text starts (for a binary operation, where its left operand starts, including any
    parentheses around that operand). Columns are excluded from ``==`` and ``hash`` so
    trees parsed from differently spaced text compare equal.
    """

    __slots__ = ()
    column: int


@dataclass(frozen=True)
class Num(Node):
    """A numeric literal; ``value`` is a finite, non-negative float when parsed."""

    value: float
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Var(Node):
    """A variable reference, looked up in the ``env`` given to :func:`evaluate`."""

    name: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary(Node):
    """A prefix operator: ``op`` is ``"-"`` or ``"+"``."""

    op: str
    operand: Node
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary(Node):
    """An infix operator: ``op`` is one of ``"+" "-" "*" "/" "**"``."""

    op: str
    left: Node
    right: Node
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call(Node):
    """A call of a whitelisted function (see :data:`FUNCTION_ARITY`) on ``args``."""

    func: str
    args: tuple[Node, ...]
    column: int = field(default=0, compare=False)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, (Num, Var)):
        return ()
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    raise ExpressionTypeError(f"not an expression node: {node!r}")


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

# Token kinds.
_NUM = "number"
_NAME = "name"
_OP = "operator"
_LPAREN = "("
_RPAREN = ")"
_COMMA = ","
_END = "end"

# Advice for characters people plausibly type that the language deliberately lacks.
_CHAR_HINTS = {
    ".": "attribute access is not allowed",
    "[": "indexing is not allowed",
    "]": "indexing is not allowed",
    "{": "braces are not allowed",
    "}": "braces are not allowed",
    "'": "strings are not allowed",
    '"': "strings are not allowed",
    ":": "lambdas and slices are not allowed",
    "=": "assignments and comparisons are not allowed",
    "<": "comparisons are not allowed",
    ">": "comparisons are not allowed",
    "^": "use ** for powers",
    "%": "the modulo operator is not supported",
    "@": "matrix multiplication is not supported",
    ";": "only a single expression is allowed",
}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int
    value: float = 0.0

    def describe(self) -> str:
        if self.kind == _END:
            return "end of expression"
        if self.kind in (_NUM, _NAME):
            return f"{self.kind} {self.text!r}"
        return repr(self.text)


def _is_name_start(ch: str) -> bool:
    # ASCII only: keeps names typeable in any shell and avoids Unicode look-alikes.
    return ch.isascii() and (ch.isalpha() or ch == "_")


def _is_name_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


class _Lexer:
    """Produces tokens on demand, so errors surface in left-to-right order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _error(self, reason: str, pos: int, hint: str | None = None) -> ExpressionError:
        return ExpressionError(reason, self.text, pos + 1, hint)

    def next(self) -> _Token:
        text, n = self.text, len(self.text)
        pos = self.pos
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            self.pos = n
            return _Token(_END, "", n + 1)
        ch = text[pos]
        nxt = text[pos + 1] if pos + 1 < n else ""
        if ch.isdigit() or (ch == "." and nxt.isdigit()):
            return self._number(pos)
        if _is_name_start(ch):
            return self._name(pos)
        if ch == "*" and nxt == "*":
            self.pos = pos + 2
            return _Token(_OP, "**", pos + 1)
        if ch == "/" and nxt == "/":
            raise self._error("unexpected '//'", pos, "floor division is not supported")
        if ch in "+-*/":
            self.pos = pos + 1
            return _Token(_OP, ch, pos + 1)
        if ch in "(),":
            self.pos = pos + 1
            return _Token(ch, ch, pos + 1)
        raise self._error(f"unexpected {ch!r}", pos, _CHAR_HINTS.get(ch))

    def _number(self, start: int) -> _Token:
        text, n = self.text, len(self.text)
        pos = start
        while pos < n and text[pos].isdigit():
            pos += 1
        if pos < n and text[pos] == ".":
            pos += 1
            while pos < n and text[pos].isdigit():
                pos += 1
        if pos < n and text[pos] in "eE":
            exp = pos + 1
            if exp < n and text[exp] in "+-":
                exp += 1
            if exp < n and text[exp].isdigit():
                pos = exp
                while pos < n and text[pos].isdigit():
                    pos += 1
        # "2x", "1.2.3", "1e", "1_0": a number glued to more name/number characters.
        if pos < n and (_is_name_char(text[pos]) or text[pos] == "."):
            end = pos
            while end < n and (_is_name_char(text[end]) or text[end] == "."):
                end += 1
            raise self._error(f"malformed number {text[start:end]!r}", start)
        literal = text[start:pos]
        # str.isdigit() accepts non-ASCII digits such as '²', which float() rejects.
        try:
            value = float(literal)
        except ValueError:
            raise self._error(f"malformed number {literal!r}", start) from None
        if not math.isfinite(value):
            raise self._error(f"number {literal!r} is too large", start)
        self.pos = pos
        return _Token(_NUM, literal, start + 1, value)

    def _name(self, start: int) -> _Token:
        text, n = self.text, len(self.text)
        pos = start
        while pos < n and _is_name_char(text[pos]):
            pos += 1
        name = text[start:pos]
        if name.startswith("_"):
            # Dunder names are the classic sandbox escape; no legitimate formula needs them.
            raise self._error(
                f"name {name!r} is not allowed", start, "names starting with '_' are reserved"
            )
        if keyword.iskeyword(name):
            raise self._error(
                f"keyword {name!r} is not allowed", start, "only arithmetic expressions are allowed"
            )
        self.pos = pos
        return _Token(_NAME, name, start + 1)


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------

_BINARY_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _function_list() -> str:
    return ", ".join(sorted(FUNCTION_ARITY))


class _Parser:
    """Recursive descent that only recurses on parentheses (bounded by MAX_DEPTH).

    Left-associative operators are folded with explicit stacks and ``**`` chains and unary
    prefixes with loops, so long flat inputs such as ``x+x+...+x`` or ``x**x**...**x``
    cost no Python stack at all.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.lexer = _Lexer(text)
        self.depth = 0
        # One token of lookahead, lexed only when the previous one is consumed.
        self.tok = self.lexer.next()

    # -- helpers -----------------------------------------------------------------------------

    def _advance(self) -> _Token:
        tok = self.tok
        self.tok = self.lexer.next()
        return tok

    def _error(self, reason: str, column: int, hint: str | None = None) -> ExpressionError:
        return ExpressionError(reason, self.text, column, hint)

    def _enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(
                "expression is nested too deeply",
                tok.column,
                f"at most {MAX_DEPTH} levels of parentheses and unary operators",
            )

    def _unexpected(self, tok: _Token, expected: str | None = None) -> ExpressionError:
        if tok.kind == _END:
            reason = "unexpected end of expression"
        elif tok.kind == _RPAREN and expected is None:
            reason = "unmatched ')'"
        else:
            reason = f"unexpected {tok.describe()}"
        hint: str | None = None
        if tok.kind == _COMMA:
            hint = "commas are only allowed between function arguments"
        elif expected:
            hint = f"expected {expected}"
        elif tok.kind in (_NUM, _NAME, _LPAREN):
            hint = "missing operator?"
        return self._error(reason, tok.column, hint)

    # -- grammar -----------------------------------------------------------------------------

    def parse(self) -> Node:
        if self.tok.kind == _END:
            raise self._error("empty expression", 1)
        node = self._expression()
        if self.tok.kind != _END:
            raise self._unexpected(self.tok)
        return node

    def _expression(self) -> Node:
        """expression/term: shunting-yard over the left-associative + - * /."""
        start = self.tok.column
        operands: list[tuple[Node, int]] = [(self._factor(), start)]
        ops: list[str] = []

        def reduce() -> None:
            right, _ = operands.pop()
            left, left_start = operands.pop()
            operands.append((Binary(ops.pop(), left, right, left_start), left_start))

        while self.tok.kind == _OP and self.tok.text in _BINARY_PRECEDENCE:
            op = self._advance().text
            prec = _BINARY_PRECEDENCE[op]
            while ops and _BINARY_PRECEDENCE[ops[-1]] >= prec:
                reduce()
            ops.append(op)
            start = self.tok.column
            operands.append((self._factor(), start))
        while ops:
            reduce()
        return operands[0][0]

    def _factor(self) -> Node:
        """factor/power: unary prefixes and a right-associative ``**`` chain, iteratively."""
        # Each link is (prefix operator tokens, base, column where the base's text starts).
        links: list[tuple[list[_Token], Node, int]] = []
        entered = 0
        while True:
            prefixes: list[_Token] = []
            while self.tok.kind == _OP and self.tok.text in ("+", "-"):
                self._enter(self.tok)
                entered += 1
                prefixes.append(self._advance())
            base_start = self.tok.column
            links.append((prefixes, self._primary(), base_start))
            if not (self.tok.kind == _OP and self.tok.text == "**"):
                break
            self._advance()
        self.depth -= entered
        # Fold from the right: a ** -b ** c  ==  a ** (-(b ** c)).
        node: Node | None = None
        for prefixes, base, base_start in reversed(links):
            # A ``**`` node starts where its base's text starts (possibly at a '(').
            node = base if node is None else Binary("**", base, node, base_start)
            for tok in reversed(prefixes):
                node = Unary(tok.text, node, tok.column)
        assert node is not None
        return node

    def _primary(self) -> Node:
        tok = self.tok
        if tok.kind == _NUM:
            self._advance()
            return Num(tok.value, tok.column)
        if tok.kind == _NAME:
            self._advance()
            if self.tok.kind == _LPAREN:
                return self._call(tok)
            if tok.text in FUNCTION_ARITY:
                raise self._error(
                    f"function {tok.text!r} must be called",
                    tok.column,
                    f"e.g. {tok.text}({', '.join('xy'[: FUNCTION_ARITY[tok.text]])})",
                )
            return Var(tok.text, tok.column)
        if tok.kind == _LPAREN:
            self._enter(tok)
            self._advance()
            inner = self._expression()
            if self.tok.kind == _END:
                raise self._missing_rparen("(", tok)
            if self.tok.kind != _RPAREN:
                raise self._unexpected(self.tok, "')'")
            self._advance()
            self.depth -= 1
            return inner
        raise self._unexpected(tok, "a number, a name or '('")

    def _missing_rparen(self, opener: str, lparen: _Token) -> ExpressionError:
        return self._error(
            "missing ')'", self.tok.column, f"to close the {opener!r} at column {lparen.column}"
        )

    def _call(self, name: _Token) -> Node:
        func = name.text
        if func not in FUNCTION_ARITY:
            raise self._error(
                f"unknown function {func!r}", name.column, f"allowed: {_function_list()}"
            )
        arity = FUNCTION_ARITY[func]
        takes = f"{func}() takes exactly {arity} argument{'' if arity == 1 else 's'}"
        lparen = self.tok
        self._enter(lparen)
        self._advance()
        args: list[Node] = []
        while True:
            if self.tok.kind == _RPAREN and not args:
                raise self._error(f"too few arguments for {func}()", self.tok.column, takes)
            args.append(self._expression())
            if self.tok.kind == _COMMA:
                if len(args) == arity:
                    # Reported at the first surplus comma: the first token that is wrong.
                    raise self._error(f"too many arguments for {func}()", self.tok.column, takes)
                self._advance()
            elif self.tok.kind == _RPAREN:
                if len(args) < arity:
                    raise self._error(
                        f"too few arguments for {func}()",
                        self.tok.column,
                        f"{takes}, got {len(args)}",
                    )
                self._advance()
                self.depth -= 1
                return Call(func, tuple(args), name.column)
            elif self.tok.kind == _END:
                raise self._missing_rparen(f"{func}(", lparen)
            else:
                raise self._unexpected(self.tok, "',' or ')'")


def parse(text: str) -> Node:
    """Parse an arithmetic expression into an immutable AST.

    Parameters
    ----------
    text : str
        The expression, at most :data:`MAX_LENGTH` characters, e.g. ``"(x + y) * max(y, z)"``.
        Numbers are ints, decimals or exponent notation (``3``, ``.5``, ``1e-3``); names
        are ASCII identifiers not starting with ``_``; calls are limited to
        :data:`FUNCTION_ARITY`.

    Returns
    -------
    Node
        The root of a tree of :class:`Num`, :class:`Var`, :class:`Unary`, :class:`Binary` and
        :class:`Call` nodes. Parentheses leave no node of their own.

    Raises
    ------
    ExpressionError
        For any input that is not a valid expression, pointing at the first bad token.
    ExpressionTypeError
        If ``text`` is not a string (also a ``TypeError``).

    Examples
    --------
    >>> parse("-x**2") == Unary("-", Binary("**", Var("x"), Num(2.0)))
    True
    >>> parse("-x**2").operand.column
    2
    >>> try:
    ...     parse("max(x)")
    ... except ExpressionError as e:
    ...     print(e)
    too few arguments for max() at column 6 (max() takes exactly 2 arguments, got 1)
        max(x)
             ^
    """
    if not isinstance(text, str):
        raise ExpressionTypeError(f"expression must be a str, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        # Checked before any tokenizing so the cost of rejecting is independent of the input.
        raise ExpressionError(
            f"expression is too long ({len(text)} characters)",
            text,
            MAX_LENGTH + 1,
            f"the limit is {MAX_LENGTH}",
        )
    return _Parser(text).parse()


# --------------------------------------------------------------------------------------------
# Tree walkers (all iterative: flat chains like x+x+...+x make trees ~500 deep)
# --------------------------------------------------------------------------------------------


def variables(node: Node) -> list[str]:
    """Names of the variables in ``node``, each once, in order of first appearance.

    Parameters
    ----------
    node : Node
        An expression tree, e.g. from :func:`parse`.

    Returns
    -------
    list of str

    Examples
    --------
    >>> variables(parse("y * exp(x) + y / z"))
    ['y', 'x', 'z']
    """
    seen: dict[str, None] = {}
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Var):
            seen.setdefault(current.name, None)
        else:
            # Reversed so the leftmost child is visited first (source order).
            stack.extend(reversed(_children(current)))
    return list(seen)


_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}


def evaluate(
    node: Node | str,
    env: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]],
    *,
    text: str | None = None,
) -> Any:
    """Evaluate an expression tree with the caller's values and functions.

    Operators are applied with Python's ``+ - * / **`` (unary ``-`` with ``operator.neg``;
    unary ``+`` is the identity), so ``env`` may hold floats, NumPy arrays or chainrule
    Tensors alike. Literals evaluate to Python floats.

    Parameters
    ----------
    node : Node or str
        The tree to evaluate; a string is parsed first (and used as ``text``).
    env : Mapping[str, Any]
        Value of every variable in the expression.
    functions : Mapping[str, Callable]
        Implementation of each function the expression calls, e.g. :data:`MATH_FUNCTIONS`
        for floats or chainrule's own ops for Tensors.
    text : str, optional
        The source ``node`` was parsed from; lets errors draw a caret under the column.

    Returns
    -------
    Any
        Whatever the operators and functions produce for the given values.

    Raises
    ------
    ExpressionError
        For an undefined variable (naming it, its column, and the variables given), a
        function missing from ``functions``, or an ``ArithmeticError``/``ValueError``
        raised by an operator or function (chained as ``__cause__``).

    Examples
    --------
    >>> evaluate("2 * x**2 - 1", {"x": 3.0}, MATH_FUNCTIONS)
    17.0
    >>> try:
    ...     evaluate("x + y", {"x": 1.0}, MATH_FUNCTIONS)
    ... except ExpressionError as e:
    ...     print(e)
    undefined variable 'y' at column 5 (given: x)
        x + y
            ^
    """
    if isinstance(node, str):
        text = node
        node = parse(node)
    values: list[Any] = []
    # Post-order walk: a node is pushed once to schedule its children, again to combine them.
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, ready = stack.pop()
        if isinstance(current, Num):
            values.append(current.value)
        elif isinstance(current, Var):
            if current.name not in env:
                given = ", ".join(env) if env else "none"
                raise ExpressionError(
                    f"undefined variable {current.name!r}", text, current.column, f"given: {given}"
                )
            values.append(env[current.name])
        elif not ready:
            stack.append((current, True))
            stack.extend((child, False) for child in reversed(_children(current)))
        else:
            count = len(_children(current))
            args = values[len(values) - count :]
            del values[len(values) - count :]
            values.append(_apply(current, args, functions, text))
    return values[0]


def _short_source(node: Node) -> str:
    source = to_source(node)
    return source if len(source) <= 60 else source[:57] + "..."


def _apply(
    node: Node, args: list[Any], functions: Mapping[str, Callable[..., Any]], text: str | None
) -> Any:
    try:
        if isinstance(node, Unary):
            # Unary plus is the identity: not every array-like type implements __pos__.
            result = operator.neg(args[0]) if node.op == "-" else args[0]
        elif isinstance(node, Binary):
            result = _OPERATORS[node.op](args[0], args[1])
        else:
            assert isinstance(node, Call)
            fn = functions.get(node.func)
            if fn is None:
                raise ExpressionError(
                    f"function {node.func!r} is not available",
                    text,
                    node.column,
                    f"available: {', '.join(functions) or 'none'}",
                )
            result = fn(*args)
    except ExpressionError:
        raise
    except (ArithmeticError, ValueError) as exc:
        raise ExpressionError(
            f"cannot evaluate {_short_source(node)!r}",
            text,
            node.column,
            f"{type(exc).__name__}: {exc}",
        ) from exc
    if isinstance(result, complex):
        # Python's float ** float is complex for a negative base and a fractional power,
        # e.g. (-8)**0.5; the language has real numbers only.
        raise ExpressionError(
            f"cannot evaluate {_short_source(node)!r}",
            text,
            node.column,
            "the result is not a real number",
        )
    return result


def _format_number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # "2" reads better than "2.0" in labels
    return repr(value)  # shortest text that round-trips the float exactly


# Binding strength of each printed form; higher binds tighter.
_PREC_ADD, _PREC_MUL, _PREC_UNARY, _PREC_POW, _PREC_ATOM = 1, 2, 3, 4, 5
_PREC_OF_OP = {"+": _PREC_ADD, "-": _PREC_ADD, "*": _PREC_MUL, "/": _PREC_MUL, "**": _PREC_POW}


def to_source(node: Node) -> str:
    """Print a tree as expression text with the fewest parentheses that keep its structure.

    ``parse(to_source(tree)) == tree`` for any tree :func:`parse` can produce (columns are
    not compared). Binary operators get spaces, except ``**`` between two simple operands,
    which is printed tight (``x**2`` but ``(x + 1) ** 2``).

    Parameters
    ----------
    node : Node
        An expression tree.

    Returns
    -------
    str

    Examples
    --------
    >>> to_source(parse("((x+y))*max(y,z)"))
    '(x + y) * max(y, z)'
    >>> to_source(parse("(a - b) - (c - d)"))
    'a - b - (c - d)'
    >>> to_source(parse("(-x)**2 + -(x**2) + 2**(-x)"))
    '(-x) ** 2 + -x**2 + 2**-x'
    """
    # Each entry: (text, precedence, simple?) where "simple" operands let ** print tight.
    out: list[tuple[str, int, bool]] = []
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, ready = stack.pop()
        if isinstance(current, Num):
            text = _format_number(current.value)
            negative = text.startswith("-")
            out.append((text, _PREC_UNARY if negative else _PREC_ATOM, True))
        elif isinstance(current, Var):
            out.append((current.name, _PREC_ATOM, True))
        elif not ready:
            stack.append((current, True))
            stack.extend((child, False) for child in reversed(_children(current)))
        elif isinstance(current, Unary):
            text, prec, simple = out.pop()
            if prec < _PREC_UNARY:
                text, simple = f"({text})", False
            out.append((current.op + text, _PREC_UNARY, simple))
        elif isinstance(current, Binary):
            right, right_prec, right_simple = out.pop()
            left, left_prec, left_simple = out.pop()
            prec = _PREC_OF_OP[current.op]
            if current.op == "**":
                # Right-associative, and its right operand may carry a unary prefix (2**-x).
                left_wrap = left_prec <= _PREC_POW
                right_wrap = right_prec < _PREC_UNARY
            else:
                # Left-associative: an equal-precedence right operand needs parentheses.
                left_wrap = left_prec < prec
                right_wrap = right_prec <= prec
            if left_wrap:
                left, left_simple = f"({left})", False
            if right_wrap:
                right, right_simple = f"({right})", False
            if current.op == "**" and left_simple and right_simple:
                # A tight chain stays simple, so 2**3**2 prints tight throughout.
                out.append((f"{left}**{right}", prec, True))
            else:
                out.append((f"{left} {current.op} {right}", prec, False))
        else:
            assert isinstance(current, Call)
            count = len(current.args)
            args = [entry[0] for entry in out[len(out) - count :]]
            del out[len(out) - count :]
            out.append((f"{current.func}({', '.join(args)})", _PREC_ATOM, False))
    return out[0][0]
