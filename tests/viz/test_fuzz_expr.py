"""Fuzzing the expression parser and evaluator: only ChainruleErrors come out, quickly."""

from __future__ import annotations

import math
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.core import ChainruleError
from chainrule.viz.expr import MATH_FUNCTIONS, evaluate, parse, to_source, variables

FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None)

_tokens = st.sampled_from(
    [
        "x",
        "y",
        "1",
        "0",
        "-8",
        "0.5",
        "1e308",
        "1e-3",
        ".5",
        "+",
        "-",
        "*",
        "/",
        "**",
        "(",
        ")",
        ",",
        " ",
        "exp(",
        "log(",
        "sqrt(",
        "max(",
        "min(",
        "abs(",
        "sigmoid(",
        "tanh(",
        "relu(",
        "9" * 30,
        "_x",
        "if",
        ".",
        "e",
        "²",
        "٣",
        "\u2028",
        "\x00",
    ]
)
expression_like = st.lists(_tokens, max_size=40).map("".join)


@FUZZ
@given(st.one_of(st.text(max_size=200), expression_like))
def test_parse_and_evaluate_raise_only_library_errors(text):
    start = time.perf_counter()
    try:
        tree = parse(text)
    except ChainruleError:
        assert time.perf_counter() - start < 0.5
        return
    assert parse(to_source(tree)) == tree
    env = {name: -2.0 for name in variables(tree)}
    try:
        value = evaluate(tree, env, MATH_FUNCTIONS, text=text)
    except ChainruleError:
        pass
    else:
        # A value is a real number (possibly inf/nan from float arithmetic), never complex.
        assert isinstance(value, float | int) and not isinstance(value, bool)
        assert math.isfinite(value) or math.isinf(value) or math.isnan(value)
    assert time.perf_counter() - start < 0.5


@FUZZ
@given(st.text(max_size=60))
def test_explain_value_parser_raises_only_library_errors(item):
    from chainrule.cli.explain import parse_assignment

    try:
        name, value = parse_assignment(item)
    except ChainruleError:
        return
    assert isinstance(value, float) and math.isfinite(value)
    assert isinstance(name, str) and name
