"""check_operation and check_graph: they pass correct rules and pinpoint wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import Primitive
from chainrule.testing import GradcheckError, check_graph, check_operation, default_tolerances


class Softplus(cr.Operation):
    name = "softplus"

    def forward(self, x):
        self.x = x
        return np.logaddexp(0.0, x)

    def backward(self, g):
        return (g / (1 + np.exp(-self.x)),)

    def jvp(self, t):
        return t / (1 + np.exp(-self.x))


class WrongSoftplus(Softplus):
    """A deliberate bug: the derivative of softplus is σ(x), not σ(x)²."""

    name = "wrong_softplus"

    def backward(self, g):
        s = 1 / (1 + np.exp(-self.x))
        return (g * s * s,)


class WrongJvpSoftplus(Softplus):
    name = "wrong_jvp_softplus"

    def jvp(self, t):
        return 2 * t / (1 + np.exp(-self.x))


class Bilinear(cr.Operation):
    name = "bilinear"

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return g * self.b, g * self.a * 1.5  # argument 1 is wrong

    def jvp(self, ta, tb):
        return ta * self.b + self.a * tb


# ---------------------------------------------------------------------- check_operation
def test_check_operation_passes_a_correct_operation(rng):
    res = check_operation(Softplus(), rng.normal(size=(3, 2)))
    assert res.ok, str(res)
    assert {c.check for c in res.checks} == {"vjp", "jvp", "adjoint"}
    assert "all checks pass" in str(res)
    res.raise_if_failed()


def test_check_operation_names_the_wrong_argument(rng):
    res = check_operation(Bilinear(), rng.normal(size=4), rng.normal(size=4))
    assert not res.ok
    bad = {(c.check, c.arg) for c in res.failures}
    assert bad == {("vjp", 1), ("adjoint", 1)}  # backward of argument 1 only
    text = str(res)
    assert "FAIL argument 1: backward vs finite differences" in text
    assert "max abs error" in text and "max rel error" in text
    worst = next(c for c in res.failures if c.check == "vjp")
    assert worst.max_rel == pytest.approx(0.5, rel=1e-4)  # 1.5x the true gradient
    with pytest.raises(GradcheckError, match="bilinear"):
        res.raise_if_failed()


def test_check_operation_catches_a_wrong_jvp(rng):
    res = check_operation(WrongJvpSoftplus(), rng.normal(size=5))
    assert {(c.check, c.arg) for c in res.failures} == {("jvp", 0), ("adjoint", 0)}


def test_check_operation_on_primitives_and_functions(rng):
    from chainrule.ops.reduce import LogSumExp

    x = rng.normal(size=(2, 3))
    assert check_operation(LogSumExp, x, params={"axis": (1,), "keepdims": False}).ok
    assert check_operation(lambda a, b: cr.matmul(a, b) * 2, x, rng.normal(size=(3, 2))).ok


# ---------------------------------------------------------------------- check_graph
def _model(x, params, middle):
    W1, b1, W2, b2, W3 = params
    h1 = cr.tanh(cr.matmul(x, W1) + b1)
    h2 = middle(h1)  # MIDDLE-LAYER
    h3 = cr.sigmoid(cr.matmul(h2, W2) + b2)
    return (cr.matmul(h3, W3) ** 2).mean()


def _params(rng, dtype=np.float64):
    shapes = [(5, 6), (6,), (6, 4), (4,), (4, 2)]
    return [cr.Tensor(rng.normal(size=s).astype(dtype), requires_grad=True) for s in shapes]


def _line_of(marker):
    with open(__file__) as fh:
        for n, line in enumerate(fh, 1):
            if marker in line and "_line_of" not in line:
                return n
    raise AssertionError(marker)


def test_check_graph_confirms_a_correct_model(rng):
    x = rng.normal(size=(3, 5))
    loss = _model(x, _params(rng), Softplus())
    res = check_graph(loss)
    assert res.ok and res.failure is None
    assert res.n_checked == res.n_nodes >= 10
    assert "all" in str(res) and "pass" in str(res)


def test_check_graph_finds_the_wrong_custom_op_in_the_middle(rng):
    x = rng.normal(size=(3, 5))
    with cr.record_source():
        loss = _model(x, _params(rng), WrongSoftplus())
    res = check_graph(loss)
    assert not res.ok
    f = res.failure
    assert f.op == "wrong_softplus" and f.custom and f.arg == 0
    assert f.source is not None and f.source[0] == __file__
    assert f.source[1] == _line_of("# MIDDLE-LAYER")
    assert f.max_abs > 1e-3 and f.max_rel > 0.05
    text = str(res)
    assert "FIRST FAILING NODE" in text and "custom operation 'wrong_softplus'" in text
    assert f"{__file__}:{f.source[1]}" in text and "max abs error" in text
    # everything before it was checked and passed
    assert all(c.ok for c in res.checks if c.index < f.index)
    with pytest.raises(GradcheckError, match="wrong_softplus"):
        res.raise_if_failed()
    # the report still works without recorded source lines
    res2 = check_graph(_model(x, _params(rng), WrongSoftplus()))
    assert res2.failure.op == "wrong_softplus" and "record_source" in str(res2)


def test_check_graph_directional_mode(rng):
    x = rng.normal(size=(8, 5))
    assert check_graph(_model(x, _params(rng), Softplus()), mode="directional").ok
    res = check_graph(_model(x, _params(rng), WrongSoftplus()), mode="directional")
    assert res.failure.op == "wrong_softplus"


def test_check_graph_float32_uses_looser_tolerances(rng):
    x = rng.normal(size=(4, 5)).astype(np.float32)
    loss = _model(x, _params(rng, np.float32), Softplus())
    assert loss.dtype == np.float32
    res = check_graph(loss)
    assert res.ok, str(res)
    assert default_tolerances(np.float32)[1] > default_tolerances(np.float64)[1]
    res = check_graph(_model(x, _params(rng, np.float32), WrongSoftplus()))
    assert res.failure.op == "wrong_softplus" and res.failure.dtype == "float32"


def test_check_graph_finds_a_wrong_primitive_rule(rng):
    class BadExp(Primitive):
        name = "bad_exp"
        register = False

        def forward(x):
            return np.exp(x)

        vjp = (lambda g, out, x: g * out * 1.01,)
        jvp = (lambda t, out, x: t * out,)

    from chainrule.core import apply

    w = cr.Tensor(rng.normal(size=3), requires_grad=True)
    y = (apply(BadExp, cr.tanh(w)) * 2).sum()
    res = check_graph(y)
    assert res.failure.op == "bad_exp" and not res.failure.custom
    assert res.failure.max_rel == pytest.approx(0.01 / 1.0, rel=0.05)


def test_check_graph_needs_the_graph(rng):
    w = cr.Tensor(rng.normal(size=3), requires_grad=True)
    y = (cr.tanh(w) * w).sum()
    y.backward(retain_graph=True)
    assert check_graph(y).ok  # kept with retain_graph
    y.backward()
    with pytest.raises(cr.BackwardError, match="retain_graph=True"):
        check_graph(y)
    with pytest.raises(cr.ChainruleError, match="recorded"):
        check_graph(cr.Tensor([1.0]))


def test_check_graph_reports_a_crashing_rule(rng):
    class Crash(cr.Operation):
        name = "crash"

        def forward(self, x):
            return x * 1.0

        def backward(self, g):
            raise ZeroDivisionError("boom")

    w = cr.Tensor(rng.normal(size=3), requires_grad=True)
    res = check_graph((Crash()(w) * 2).sum())
    assert res.failure.op == "crash" and "ZeroDivisionError" in str(res)
