"""Tests for the safe expression language behind ``chainrule explain``."""

from __future__ import annotations

import dataclasses
import io
import math
import string
import time
import tokenize
from pathlib import Path

import numpy as np
import pytest

from chainrule.viz import expr as expr_module
from chainrule.viz.expr import (
    FUNCTION_ARITY,
    MATH_FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    Binary,
    Call,
    ExpressionError,
    Node,
    Num,
    Unary,
    Var,
    evaluate,
    parse,
    to_source,
    variables,
)

ENV = {"x": 2.0, "y": 3.0, "z": 0.5}


def _value(text: str, env: dict[str, float] | None = None) -> float:
    return evaluate(parse(text), ENV if env is None else env, MATH_FUNCTIONS)


def _caret_offset(error: ExpressionError) -> int:
    """Index of the caret within the echoed expression line (both indented by 4)."""
    return error.args[0].splitlines()[-1].index("^") - 4


# --------------------------------------------------------------------------------------------
# Precedence and associativity, checked numerically against hand-computed values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("10 - 4 - 3", 3.0),  # left-associative
        ("1 - 2 + 3", 2.0),
        ("64 / 4 / 2", 8.0),
        ("2 * 3 / 4 * 5", 7.5),
        ("2 ** 3 ** 2", 512.0),  # right-associative
        ("(2 ** 3) ** 2", 64.0),
        ("-x ** 2", -4.0),  # ** binds tighter than unary minus
        ("(-x) ** 2", 4.0),
        ("-x**2 + y", -1.0),
        ("2 ** -1", 0.5),  # unary minus allowed on the right of **
        ("-2 ** -2", -0.25),
        ("-x ** -y", -0.125),
        ("2 * -x", -4.0),
        ("--x", 2.0),
        ("-+-x", 2.0),
        ("+x", 2.0),
        ("x - -y", 5.0),
        ("x * y ** 2 / 6", 3.0),
        ("x ** y ** z", 2.0 ** (3.0**0.5)),
        ("1 + 2 * 3 ** 2 - 4 / 2", 17.0),
        ("1e-3 * 1000", 1.0),
        (".5 + 1.5E+1", 15.5),
        ("2. * 3", 6.0),
        ("2.5e2", 250.0),
        ("(x + y) * max(y, z)", 15.0),
        ("max(x, y) - min(x, y)", 1.0),
        ("max(-x, -y) * 2", -4.0),
        ("relu(-x) + relu(x)", 2.0),
        ("abs(-y)", 3.0),
        ("exp(log(y))", 3.0),
        ("sqrt(16) ** 2", 16.0),
        ("sigmoid(0) + tanh(0)", 0.5),
        ("sigmoid(-1000) + sigmoid(1000)", 1.0),
        ("max(x, max(y, min(z, 10)))", 3.0),
        ("  x\t*\n y  ", 6.0),  # any whitespace separates tokens
    ],
)
def test_precedence_and_associativity(text: str, expected: float) -> None:
    assert _value(text) == pytest.approx(expected, rel=1e-12)


def test_ast_shapes() -> None:
    assert parse("-x**2") == Unary("-", Binary("**", Var("x"), Num(2.0)))
    assert parse("a - b - c") == Binary("-", Binary("-", Var("a"), Var("b")), Var("c"))
    assert parse("a ** b ** c") == Binary("**", Var("a"), Binary("**", Var("b"), Var("c")))
    assert parse("2 ** -x") == Binary("**", Num(2.0), Unary("-", Var("x")))
    assert parse("max(x, 1)") == Call("max", (Var("x"), Num(1.0)))
    assert parse("((x))") == Var("x")  # parentheses leave no node


def test_columns_are_one_based_starts() -> None:
    tree = parse("(x + y) * max(y, z)")
    assert isinstance(tree, Binary) and tree.column == 1  # starts at its left operand's '('
    assert isinstance(tree.left, Binary) and tree.left.column == 2
    assert tree.left.right.column == 6
    call = tree.right
    assert isinstance(call, Call) and call.column == 11
    assert [arg.column for arg in call.args] == [15, 18]
    assert parse("   x").column == 4
    neg = parse("1 + -x ** 2")
    assert isinstance(neg, Binary)
    assert neg.right.column == 5  # the unary minus
    assert isinstance(neg.right, Unary) and neg.right.operand.column == 6  # x ** 2


def test_nodes_are_immutable_hashable_and_columns_do_not_compare() -> None:
    a, b = parse("x+1"), parse("  x  +  1")
    assert a == b and hash(a) == hash(b)
    assert a.column != b.column
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.op = "-"  # type: ignore[misc]
    call = parse("max(x, y)")
    assert isinstance(call, Call) and isinstance(call.args, tuple)


def test_variables_in_order_of_first_appearance() -> None:
    assert variables(parse("y * exp(x) + y / z")) == ["y", "x", "z"]
    assert variables(parse("-(b ** a) + max(c, b)")) == ["b", "a", "c"]
    assert variables(parse("3 * 4")) == []


# --------------------------------------------------------------------------------------------
# to_source
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("((x+y))*max(y,z)", "(x + y) * max(y, z)"),
        ("(a - b) - (c - d)", "a - b - (c - d)"),
        ("a / (b * c)", "a / (b * c)"),
        ("(a * b) / c", "a * b / c"),
        ("a + (b + c)", "a + (b + c)"),  # kept: the tree is right-nested
        ("-(x ** 2)", "-x**2"),
        ("(-x) ** 2", "(-x) ** 2"),
        ("2 ** (-x)", "2**-x"),
        ("(2 ** 3) ** 2", "(2**3) ** 2"),
        ("2 ** (3 ** 2)", "2**3**2"),
        ("2 ** (3 ** 2) ** x", "2 ** (3**2) ** x"),
        ("(x + 1) ** y ** 2", "(x + 1) ** y**2"),
        ("(x + 1) ** 2", "(x + 1) ** 2"),
        ("-(x + 1)", "-(x + 1)"),
        ("-(-x)", "--x"),
        ("-(x * y)", "-(x * y)"),
        ("(-x) * y", "-x * y"),
        ("x * (-y)", "x * -y"),
        ("exp(x) ** 2", "exp(x) ** 2"),
        ("1e-3 + 2.50 + 1e20 + 007", "0.001 + 2.5 + 1e+20 + 7"),
        ("1.5e20 * 1e-300", "1.5e+20 * 1e-300"),
    ],
)
def test_to_source_minimal_parentheses(text: str, expected: str) -> None:
    assert to_source(parse(text)) == expected
    assert parse(expected) == parse(text)


_ROUND_TRIP_TEXTS = [
    "(x + y) * max(y, z)",
    "-x**2 - -(y - z) / (x * (y / z))",
    "a ** -b ** c + (a ** b) ** c",
    "sigmoid(relu(x) - 0.5) * tanh(-y) ** 2",
    "x / y / z - x / (y / z) - (x - y) * (x + y)",
    "min(max(a, b), -+-c) ** (1 / 3)",
    "3.14159 * r ** 2 + 6.02e23 + 1e-07",
]


@pytest.mark.parametrize("text", _ROUND_TRIP_TEXTS)
def test_to_source_round_trips_parsed_text(text: str) -> None:
    tree = parse(text)
    printed = to_source(tree)
    assert parse(printed) == tree
    assert to_source(parse(printed)) == printed  # printing is idempotent


def _random_tree(rng: np.random.Generator, depth: int) -> Node:
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.5:
            return Var(str(rng.choice(["x", "y", "z", "w1", "rate"])))
        value = float(rng.choice([0.0, 1.0, 2.5, 1e-3, 12345.678, 1e20, 3e-300, 0.1]))
        return Num(value)
    kind = rng.integers(0, 3)
    if kind == 0:
        return Unary(str(rng.choice(["-", "+"])), _random_tree(rng, depth - 1))
    if kind == 1:
        op = str(rng.choice(["+", "-", "*", "/", "**"]))
        return Binary(op, _random_tree(rng, depth - 1), _random_tree(rng, depth - 1))
    func = str(rng.choice(sorted(FUNCTION_ARITY)))
    args = tuple(_random_tree(rng, depth - 1) for _ in range(FUNCTION_ARITY[func]))
    return Call(func, args)


def test_to_source_round_trips_random_trees() -> None:
    rng = np.random.default_rng(2024)
    checked = 0
    for _ in range(400):
        tree = _random_tree(rng, depth=5)
        printed = to_source(tree)
        if len(printed) > MAX_LENGTH:
            continue
        assert parse(printed) == tree, printed
        checked += 1
    assert checked > 300


# --------------------------------------------------------------------------------------------
# Rejections: every error is an ExpressionError at the first bad token
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        # sandbox escapes
        ("__import__('os')", 1, "names starting with '_'"),
        ("x + _secret", 5, "'_secret'"),
        ("eval('1')", 1, "unknown function 'eval'"),
        ("foo(x)", 1, "unknown function 'foo'"),
        ("x.y", 2, "attribute access"),
        ("(x).real", 4, "attribute access"),
        ("os.system('ls')", 3, "attribute access"),
        ("x[0]", 2, "indexing"),
        ("lambda x: x", 1, "keyword 'lambda'"),
        ("x if y else z", 3, "keyword 'if'"),
        ("import os", 1, "keyword 'import'"),
        ("'abc'", 1, "strings"),
        ('x + "s"', 5, "strings"),
        ("{}", 1, "braces"),
        # commas and argument counts
        ("x, y", 2, "commas"),
        ("(x, y)", 3, "commas"),
        ("max(x)", 6, "too few arguments for max()"),
        ("max()", 5, "too few arguments for max()"),
        ("max(x, y, z)", 9, "too many arguments for max()"),
        ("exp(x, y)", 6, "too many arguments for exp()"),
        ("exp()", 5, "too few arguments for exp()"),
        ("max(x,)", 7, "unexpected ')'"),
        ("max(x y)", 7, "expected ',' or ')'"),
        ("exp", 1, "must be called"),
        ("exp + 1", 1, "must be called"),
        # empty, unbalanced, trailing garbage
        ("", 1, "empty expression"),
        ("   \t", 1, "empty expression"),
        ("(x + y", 7, "missing ')'"),
        ("((x)", 5, "missing ')'"),
        ("max(x, y", 9, "missing ')'"),
        ("x + y)", 6, "unmatched ')'"),
        (")", 1, "unexpected ')'"),
        ("()", 2, "unexpected ')'"),
        ("x y", 3, "missing operator"),
        ("2 3", 3, "unexpected number '3'"),
        ("x (y)", 1, "unknown function 'x'"),  # a name followed by '(' is a call
        ("2 (y)", 3, "unexpected '('"),
        ("x + 1 $", 7, "unexpected '$'"),
        ("x +", 4, "unexpected end of expression"),
        ("* x", 1, "unexpected '*'"),
        ("x ** * y", 6, "unexpected '*'"),
        ("x +\x00", 4, "unexpected '\\x00'"),
        # numbers and operators the language lacks
        ("2x", 1, "malformed number '2x'"),
        ("1.2.3", 1, "malformed number"),
        ("1e", 1, "malformed number"),
        ("1_000", 1, "malformed number"),
        ("x²", 2, "malformed number"),
        ("1e400", 1, "too large"),
        ("x // y", 3, "floor division"),
        ("x ^ 2", 3, "use ** for powers"),
        ("x % 2", 3, "modulo"),
        ("x = 1", 3, "assignments"),
        ("x < 1", 3, "comparisons"),
        ("x; y", 2, "single expression"),
        ("x + é", 5, "unexpected 'é'"),
        # the first bad token wins, even when later ones are bad too
        ("x + * y . z", 5, "unexpected '*'"),
        ("foo(x.y)", 1, "unknown function"),
        ("x $ [", 3, "unexpected '$'"),
        ("(x, __import__)", 3, "commas"),
    ],
)
def test_rejections(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.column == column, str(error)
    assert error.text == text
    assert fragment in str(error)
    assert f"at column {column}" in str(error)
    assert _caret_offset(error) == column - 1  # caret under the reported column


def test_error_message_format() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("x + [1]")
    assert str(info.value) == (
        "unexpected '[' at column 5 (indexing is not allowed)\n    x + [1]\n        ^"
    )
    assert info.value.reason == "unexpected '['"


def test_non_string_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse(42)  # type: ignore[arg-type]


def test_too_long_input_is_rejected_before_tokenizing() -> None:
    ok = "x" + "+x" * ((MAX_LENGTH - 1) // 2)
    ok = ok + " " * (MAX_LENGTH - len(ok))
    assert len(ok) == MAX_LENGTH
    assert variables(parse(ok)) == ["x"]
    # Garbage far beyond the limit must not be reached: the length error comes first.
    with pytest.raises(ExpressionError, match="too long") as info:
        parse("x" * (MAX_LENGTH + 1))
    assert info.value.column == MAX_LENGTH + 1
    with pytest.raises(ExpressionError, match="too long"):
        parse("[" + "x" * MAX_LENGTH)
    assert len(str(info.value).splitlines()[1]) < 100  # the echo is a window, not 1001 chars


def _nested(kind: str, levels: int) -> str:
    if kind == "parens":
        return "(" * levels + "x" + ")" * levels
    if kind == "unary":
        return "-" * levels + "x"
    if kind == "mixed":  # "-(" counts two levels
        return "-(" * (levels // 2) + "-" * (levels % 2) + "x" + ")" * (levels // 2)
    if kind == "calls":
        return "max(" * levels + "x" + ", 1)" * levels
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["parens", "unary", "mixed", "calls"])
def test_nesting_up_to_the_limit_parses(kind: str) -> None:
    tree = parse(_nested(kind, MAX_DEPTH))
    assert variables(tree) == ["x"]
    assert abs(evaluate(tree, {"x": 2.0}, MATH_FUNCTIONS)) == 2.0
    assert parse(to_source(tree)) == tree


@pytest.mark.parametrize(
    ("kind", "column"),
    [
        ("parens", MAX_DEPTH + 1),
        ("unary", MAX_DEPTH + 1),
        ("mixed", MAX_DEPTH + 1),
        ("calls", 4 * (MAX_DEPTH + 1)),  # the 101st '(' of "max(max(..."
    ],
)
def test_nesting_beyond_the_limit_is_rejected(kind: str, column: int) -> None:
    with pytest.raises(ExpressionError, match="nested too deeply") as info:
        parse(_nested(kind, MAX_DEPTH + 1))
    assert info.value.column == column


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000 + "x" + ")" * 5000,  # over the length limit
        "(" * 499 + "x" + ")" * 499,  # within it: caught by the depth limit
        "-" * 999 + "x",
        "-(" * 333 + "x" + ")" * 333,
    ],
)
def test_deep_nesting_fails_fast(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ExpressionError):
        parse(text)
    assert time.perf_counter() - start < 0.5  # a guard against blow-ups, not a benchmark


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("+", 1000.0),  # left-deep chains, ~500 levels of Binary
        ("-", -996.0),
        ("*", 2.0**500),
        ("/", 2.0**-498),
        ("**", None),  # right-deep
    ],
)
def test_long_flat_chains_need_no_recursion(op: str, value: float | None) -> None:
    text = "x" + f"{op}x" * ((MAX_LENGTH - 1) // (len(op) + 1))
    tree = parse(text)
    assert variables(tree) == ["x"]
    expected = text if op == "**" else text.replace(op, f" {op} ")
    assert to_source(tree) == expected
    if value is None:
        # 2 ** 2 ** ... overflows; 1 ** 1 ** ... == 1 shows the whole chain is evaluated.
        assert evaluate(tree, {"x": 1.0}, MATH_FUNCTIONS) == 1.0
        with pytest.raises(ExpressionError, match="OverflowError"):
            evaluate(tree, {"x": 2.0}, MATH_FUNCTIONS)
    else:
        assert evaluate(tree, {"x": 2.0}, MATH_FUNCTIONS) == pytest.approx(value)


# --------------------------------------------------------------------------------------------
# Evaluation errors and pluggable values/functions
# --------------------------------------------------------------------------------------------


def test_undefined_variable_names_it_with_column_and_hint() -> None:
    text = "x + y * zz"
    with pytest.raises(ExpressionError) as info:
        evaluate(text, {"x": 1.0, "y": 2.0}, MATH_FUNCTIONS)
    error = info.value
    assert error.column == 9 and error.text == text
    assert "undefined variable 'zz'" in str(error)
    assert "given: x, y" in str(error)
    assert _caret_offset(error) == 8


def test_undefined_variable_on_a_bare_tree_and_the_first_one_wins() -> None:
    tree = parse("a * b + c")
    with pytest.raises(ExpressionError, match="undefined variable 'a'") as info:
        evaluate(tree, {}, MATH_FUNCTIONS)
    assert info.value.column == 1 and info.value.text is None
    assert "given: none" in str(info.value)
    with pytest.raises(ExpressionError, match="undefined variable 'b'") as info:
        evaluate(tree, {"a": 1.0, "c": 1.0}, MATH_FUNCTIONS, text="a * b + c")
    assert info.value.column == 5 and _caret_offset(info.value) == 4


def test_function_missing_from_table() -> None:
    with pytest.raises(ExpressionError, match="function 'relu' is not available") as info:
        evaluate("1 + relu(x)", {"x": 1.0}, {"exp": math.exp})
    assert info.value.column == 5
    assert "available: exp" in str(info.value)


@pytest.mark.parametrize(
    ("text", "column", "cause"),
    [
        ("1 + x / (x - x)", 5, ZeroDivisionError),
        ("log(x - x)", 1, ValueError),
        ("sqrt(-x)", 1, ValueError),
        ("exp(1000 * x)", 1, OverflowError),
    ],
)
def test_arithmetic_failures_become_expression_errors(
    text: str, column: int, cause: type[Exception]
) -> None:
    with pytest.raises(ExpressionError, match="cannot evaluate") as info:
        evaluate(text, {"x": 1.0}, MATH_FUNCTIONS)
    assert info.value.column == column
    assert isinstance(info.value.__cause__, cause)


class _Sym:
    """A duck-typed value recording the operations applied to it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _bin(self, op: str, other: object) -> _Sym:
        return _Sym(f"({self.text} {op} {getattr(other, 'text', other)})")

    def _rbin(self, op: str, other: object) -> _Sym:
        return _Sym(f"({other} {op} {self.text})")

    def __add__(self, other: object) -> _Sym:
        return self._bin("+", other)

    def __radd__(self, other: object) -> _Sym:
        return self._rbin("+", other)

    def __sub__(self, other: object) -> _Sym:
        return self._bin("-", other)

    def __mul__(self, other: object) -> _Sym:
        return self._bin("*", other)

    def __rmul__(self, other: object) -> _Sym:
        return self._rbin("*", other)

    def __truediv__(self, other: object) -> _Sym:
        return self._bin("/", other)

    def __pow__(self, other: object) -> _Sym:
        return self._bin("**", other)

    def __rpow__(self, other: object) -> _Sym:
        return self._rbin("**", other)

    def __neg__(self) -> _Sym:
        return _Sym(f"(neg {self.text})")


def test_evaluate_uses_callers_values_and_functions() -> None:
    functions = {
        name: (lambda *args, _name=name: _Sym(f"{_name}[{', '.join(a.text for a in args)}]"))
        for name in FUNCTION_ARITY
    }
    env = {"x": _Sym("X"), "y": _Sym("Y")}
    result = evaluate("+x * 2 - -max(x, y) ** 2 / sigmoid(y)", env, functions)
    # Unary plus is the identity (no __pos__ needed); literals arrive as floats.
    assert result.text == "((X * 2.0) - ((neg (max[X, Y] ** 2.0)) / sigmoid[Y]))"
    assert evaluate("2 ** x + 1 * y", env, functions).text == "((2.0 ** X) + (1.0 * Y))"


def test_evaluate_with_numpy_arrays() -> None:
    functions = dict(MATH_FUNCTIONS, max=np.maximum, exp=np.exp)
    x = np.array([1.0, -2.0, 3.0])
    y = np.array([0.0, 0.0, 5.0])
    out = evaluate("max(x, y) * exp(0 * x) - y", {"x": x, "y": y}, functions)
    np.testing.assert_allclose(out, [1.0, 0.0, 0.0])


def test_module_is_stdlib_only_and_never_evals() -> None:
    source = Path(expr_module.__file__).read_text(encoding="utf-8")
    # Names actually used in code (docstrings and comments are STRING/COMMENT tokens).
    names = {
        tok.string
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.NAME
    }
    assert not names & {"eval", "exec", "compile", "__import__", "ast", "chainrule"}
    imported = {
        line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))
    }
    assert imported <= {
        "__future__",
        "keyword",
        "math",
        "operator",
        "collections.abc",
        "dataclasses",
        "types",
        "typing",
        # chainrule's own exception module (ExpressionError is a ChainruleError); it
        # imports nothing itself, checked below.
        "..core.errors",
    }
    errors_source = Path(expr_module.__file__).parents[1].joinpath("core", "errors.py")
    errors_imports = {
        line.split()[1]
        for line in errors_source.read_text(encoding="utf-8").splitlines()
        if line.startswith(("import ", "from "))
    }
    assert errors_imports <= {"__future__"}


# --------------------------------------------------------------------------------------------
# Fuzzing: only ExpressionError, always fast
# --------------------------------------------------------------------------------------------

_TOKENS = [
    "x", "y", "z", "1", "2.5", ".5", "1e-3", "3E+2", "+", "-", "*", "/", "**", "(", ")",
    ",", " ", "max(", "exp(", "relu(", "min(", "foo(", ".", "[", "]", "_a", "lambda", "'",
    ":", "^", "//", "e", "1e", "__import__",
]  # fmt: skip


def _check_only_expression_errors(text: str) -> bool:
    start = time.perf_counter()
    try:
        tree = parse(text)
    except ExpressionError as error:
        assert 1 <= error.column <= len(text) + 1
        assert error.text == text
        parsed = False
    else:
        assert parse(to_source(tree)) == tree
        parsed = True
    assert time.perf_counter() - start < 0.5, repr(text)  # a blow-up guard, not a benchmark
    return parsed


def test_fuzz_random_printable_strings() -> None:
    rng = np.random.default_rng(7)
    alphabet = list(string.printable)
    for _ in range(300):
        length = int(rng.integers(0, 80))
        _check_only_expression_errors("".join(rng.choice(alphabet, size=length)))
    # A few overlong ones exercise the length check.
    for _ in range(5):
        _check_only_expression_errors("".join(rng.choice(alphabet, size=MAX_LENGTH + 50)))


def test_fuzz_random_token_soup() -> None:
    rng = np.random.default_rng(11)
    parsed = 0
    for _ in range(400):
        count = int(rng.integers(1, 12))
        parsed += _check_only_expression_errors("".join(rng.choice(_TOKENS, size=count)))
    assert parsed > 0  # the soup sometimes forms valid expressions, exercising round-trips


def test_fuzz_mutated_valid_expressions() -> None:
    # Small edits of valid text reach deep into the parser before going wrong.
    rng = np.random.default_rng(13)
    alphabet = list(string.printable)
    parsed = 0
    for _ in range(300):
        text = to_source(_random_tree(rng, depth=4))
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(0, len(text) + 1))
            edit = rng.integers(0, 3)
            if edit == 0:  # insert a character
                text = text[:pos] + str(rng.choice(alphabet)) + text[pos:]
            elif edit == 1:  # delete a character
                text = text[:pos] + text[pos + 1 :]
            else:  # insert a token
                text = text[:pos] + str(rng.choice(_TOKENS)) + text[pos:]
        parsed += _check_only_expression_errors(text)
    assert 0 < parsed < 300
