"""Every primitive carries its lecture notation; elementwise ops come from their derivative."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import chainrule as cr  # noqa: F401 - registers the built-in primitives
from chainrule.core import REGISTRY
from chainrule.core.lecture import Lecture, check_lecture

for _mod in ("chainrule.nn",):
    importlib.import_module(_mod)

BUILTIN = sorted(n for n, c in REGISTRY.items() if c.__module__.startswith("chainrule."))


def test_there_are_builtin_primitives():
    assert {"add", "linear", "cross_entropy", "embedding", "lt"} <= set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_primitive_has_lecture_text(name):
    cls = REGISTRY[name]
    assert isinstance(cls.__dict__.get("lecture"), Lecture), (
        f"{name}: give the class `lecture = Lecture(formula=..., grads=(...), gate=..., "
        f"symbol=...)` (chainrule.core.lecture)"
    )
    assert check_lecture(cls) == []


def test_check_lecture_reports_what_is_missing():
    class Bare:
        name = "bare"
        vjp = (lambda g, out, x: g,)

    assert check_lecture(Bare) == [
        "bare: no `lecture = Lecture(...)` (formula, rules, gate, symbol)"
    ]
    Bare.lecture = Lecture("bare({0})")
    assert check_lecture(Bare) == ["bare: no gradient template for argument 0"]


def test_expr_name_must_be_a_safe_identifier():
    for bad in ("__import__", "Sin", "lambda", "a b", "é"):
        with pytest.raises(ValueError):
            Lecture("f({0})", ("{dz}",), expr_name=bad)


@pytest.mark.parametrize(
    "name",
    [
        "exp",
        "log",
        "sqrt",
        "abs",
        "tanh",
        "sigmoid",
        "relu",
        "leaky_relu",
        "elu",
        "add",
        "sub",
        "mul",
        "div",
        "neg",
        "pow",
        "pow_scalar",
        "maximum",
        "minimum",
        "clip",
        "where",
    ],
)
def test_elementwise_ops_share_one_rule_for_vjp_and_jvp(name):
    cls = REGISTRY[name]
    assert cls.vjp is cls.jvp  # declared from the derivative alone
    assert all(r is None or callable(r) for r in cls.vjp)
    assert cls.jvp_batched is not None and cls.vjp_batched is not None


def test_from_derivative_adds_no_wrapper_and_batches():
    from chainrule.ops._batching import from_derivative

    def rule(g, out, x):
        return g * out

    vjp, jvp, jb, vb = from_derivative(rule)
    assert vjp == (rule,) and jvp is vjp  # the very function: no call in between
    out = np.exp(np.arange(3.0))
    np.testing.assert_allclose(jb([np.eye(3)], out, [np.arange(3.0)], {}), np.diag(out))
    np.testing.assert_allclose(vb(0, np.eye(3), out, [np.arange(3.0)], {}), np.diag(out))
