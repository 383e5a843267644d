"""chainrule.viz.explain: the lecture examples, the formats, and large graphs."""

from __future__ import annotations

import html
import re
import time
import warnings
from collections import Counter

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import BackwardError, ChainruleError, Primitive
from chainrule.viz import Explanation, explain, explain_expression
from chainrule.viz.numbers import format_array
from chainrule.viz.rules import RULES


def leaf(value, name):
    return cr.Tensor(value, requires_grad=True, name=name)


def sig(s: float) -> float:
    return 1.0 / (1.0 + np.exp(-s))


# ---------------------------------------------------------------------- lecture example 1
def test_add_mul_lecture_example_structured_and_text():
    x, y, z = leaf(-2.0, "x"), leaf(5.0, "y"), leaf(-4.0, "z")
    q = x + y
    q.name = "q"
    ex = explain(q * z)

    assert [s.name for s in ex.steps] == ["f", "q", "x", "y", "z"]  # reverse topological
    f_step, q_step = ex.step("f"), ex.step("q")
    assert f_step.is_output and f_step.op == "mul" and float(f_step.upstream) == 1.0
    assert float(f_step.value) == (-2.0 + 5.0) * -4.0
    # mul swaps: dq = df · z, dz = df · q
    assert float(f_step.sent_to("q")) == -4.0
    assert float(f_step.sent_to("z")) == 3.0
    assert float(q_step.upstream) == -4.0
    # add distributes: both inputs get dq
    assert float(q_step.sent_to("x")) == float(q_step.sent_to("y")) == -4.0
    assert float(ex.grad("x")) == float(ex.grad("y")) == -4.0
    assert float(ex.grad("z")) == 3.0
    assert q_step.gate.startswith("add gate distributes")
    assert f_step.gate.startswith("mul gate swaps")
    assert f_step.rule == "dq = df · z, dz = df · q"
    assert [s.shape for s in ex.steps] == [()] * 5

    text = str(ex)
    assert "∂f/∂f = 1 (the seed)" in text
    assert "∂f/∂q = df · z = 1 · (-4) = -4" in text
    assert "∂f/∂z = df · q = 1 · 3 = 3" in text
    assert "∂f/∂x = dq = -4" in text and "∂f/∂y = dq = -4" in text
    assert "∂f/∂q = -4" in text


def test_explain_agrees_with_backward_and_leaves_grad_untouched():
    x, y, z = leaf(-2.0, "x"), leaf(5.0, "y"), leaf(-4.0, "z")
    f = (x + y) * z
    f.backward(retain_graph=True)
    before = [t.grad.data.copy() for t in (x, y, z)]
    ex = explain(f)
    assert [t.grad.data.tolist() for t in (x, y, z)] == [b.tolist() for b in before]
    for t in (x, y, z):
        assert float(ex.grad(t.name)) == float(t.grad)
    # never-backpropagated leaves stay without .grad, and the graph stays usable
    a, b = leaf(1.5, "a"), leaf(-0.5, "b")
    g = a * b + a
    g2 = g * 1.0
    g.retain_grad()
    explain(g2)
    assert a.grad is None and b.grad is None and g.grad is None
    g2.backward()
    assert float(a.grad) == -0.5 + 1.0 and float(b.grad) == 1.5


# ---------------------------------------------------------------------- lecture example 2
def test_max_routes_and_fanout_sums():
    x, y, z = leaf(1.0, "x"), leaf(2.0, "y"), leaf(0.0, "z")
    ex = explain((x + y) * cr.maximum(y, z))
    y_step = ex.step("y")
    assert y_step.summed
    parts = [(c.source, c.op, float(c.grad)) for c in y_step.received]
    assert parts == [("t1", "add", 2.0), ("t2", "maximum", 3.0)]
    assert float(y_step.upstream) == 5.0
    m = ex.step("t2")
    assert m.op == "maximum" and m.gate.startswith("max gate routes")
    assert float(m.upstream) == 3.0
    assert float(m.sent_to("y")) == 3.0  # y = 2 > z = 0 wins the whole gradient
    assert float(m.sent_to("z")) == 0.0
    assert float(ex.grad("z")) == 0.0 and float(ex.grad("x")) == 2.0
    down = {d.name: d for d in m.downstream}
    assert down["y"].partial and not down["z"].partial  # y also gets a share from t1
    text = str(ex)
    assert "y: 2 from t1 (add), 3 from t2 (maximum); total 5" in text
    assert "∂f/∂z = dt2 · [z > y] = 3 · [0 > 2] = 0" in text
    assert "∂f/∂y += dt2 · [y > z] = 3 · [2 > 0] = 3" in text
    assert "fan-out (copy gate)" in text


def test_max_tie_splits_and_is_noted():
    a, b = leaf(2.0, "a"), leaf(2.0, "b")
    ex = explain(cr.maximum(a, b))
    assert float(ex.grad("a")) == float(ex.grad("b")) == 0.5
    assert any("tie" in n for n in ex.step("f").notes)


# ---------------------------------------------------------------------- lecture example 3
NEURON = dict(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)


def _neuron_leaves():
    return {k: leaf(v, k) for k, v in NEURON.items()}


def _check_neuron_grads(ex: Explanation) -> None:
    s = NEURON["w0"] * NEURON["x0"] + NEURON["w1"] * NEURON["x1"] + NEURON["w2"]
    ds = (1 - sig(s)) * sig(s)
    expected = {
        "w0": NEURON["x0"] * ds,
        "x0": NEURON["w0"] * ds,
        "w1": NEURON["x1"] * ds,
        "x1": NEURON["w1"] * ds,
        "w2": ds,
    }
    for k, v in expected.items():
        assert float(ex.grad(k)) == pytest.approx(v, rel=1e-12)
    # the lecture's rounded numbers
    assert [round(float(ex.grad(k)), 2) for k in ("w0", "x0", "w1", "x1", "w2")] == [
        -0.2,
        0.39,
        -0.39,
        -0.59,
        0.2,
    ]


def test_sigmoid_neuron_from_scalar_gates():
    p = _neuron_leaves()
    s = p["w0"] * p["x0"] + p["w1"] * p["x1"] + p["w2"]
    s.name = "s"
    f = 1 / (1 + cr.exp(-s))
    ex = explain(f, precision=2)
    _check_neuron_grads(ex)
    assert [st.op for st in ex.ops[:4]] == ["div", "add", "exp", "neg"]
    sigma = sig(1.0)
    assert float(ex.step("s").upstream) == pytest.approx((1 - sigma) * sigma, rel=1e-12)
    neg = ex.ops[3]
    assert any("(1 − 0.73)·0.73 = 0.20" in n for n in neg.notes)
    assert any("sigmoid" in n for n in ex.ops[0].notes)
    text = str(ex)
    assert "(1 − 0.73)·0.73 = 0.20" in text
    assert f"∂f/∂s = −d{neg.name} = −(-0.20) = 0.20" in text  # neg flips the sign back


def test_sigmoid_neuron_with_sigmoid_op():
    p = _neuron_leaves()
    s = p["w0"] * p["x0"] + p["w1"] * p["x1"] + p["w2"]
    s.name = "s"
    ex = explain(cr.sigmoid(s), precision=2)
    _check_neuron_grads(ex)
    top = ex.step("f")
    assert top.op == "sigmoid"
    assert top.downstream[0].local == pytest.approx((1 - sig(1.0)) * sig(1.0), rel=1e-12)
    assert top.rule == "ds = df · (1 − f)·f"
    assert "∂f/∂s = (1 − f)·f = (1 − 0.73)·0.73 = 0.20" in top.local
    assert "(1 − 0.73)·0.73 = 0.20" in str(ex)


def test_sigmoid_neuron_with_indexing_accumulates_per_element():
    w = leaf([2.0, -3.0, -3.0], "w")
    x = leaf([-1.0, -2.0], "x")
    ex = explain(1 / (1 + cr.exp(-(w[0] * x[0] + w[1] * x[1] + w[2]))))
    ds = (1 - sig(1.0)) * sig(1.0)
    np.testing.assert_allclose(ex.grad("w"), [-1 * ds, -2 * ds, ds], rtol=1e-12)
    np.testing.assert_allclose(ex.grad("x"), [2 * ds, -3 * ds], rtol=1e-12)
    w_step = ex.step("w")
    assert len(w_step.received) == 3 and {c.op for c in w_step.received} == {"getitem"}
    np.testing.assert_allclose(sum(c.grad for c in w_step.received), w_step.upstream)


# ---------------------------------------------------------------------- formats
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?")


def _numbers_of_html(doc: str) -> Counter:
    return Counter(NUMBER.findall(html.unescape(re.sub(r"<[^>]+>", " ", doc))))


def test_markdown_html_and_text_carry_the_same_numbers():
    x, y, z = leaf(1.0, "x"), leaf(2.0, "y"), leaf(0.0, "z")
    b = leaf([0.5, -1.25, 2.0], "b")
    f = ((x + y) * cr.maximum(y, z) + cr.tanh(b * x)).sum()
    ex = explain(f, precision=3)
    md, doc, text = ex.to_markdown(), ex.to_html(), ex.to_text()
    assert md.startswith("## ") and "| **upstream** |" in md
    assert doc.lstrip().startswith("<div") and "<table>" in doc and "<style" not in doc
    md_numbers = Counter(NUMBER.findall(md))
    assert md_numbers == _numbers_of_html(doc)
    assert md_numbers == Counter(NUMBER.findall(text))
    for s in ex.leaves:  # every gradient is in every format
        g = format_array(s.upstream, ex.precision, ex.max_elements)
        assert g in md and html.escape(g) in doc and g in text
    # Jupyter shows the interactive step-through page (chainrule.viz.page) in an iframe
    assert (
        ex._repr_html_().startswith("<iframe srcdoc=")
        and html.escape(ex.to_page().html, quote=True) in ex._repr_html_()
    )
    assert explain(f, format="md", precision=3).render() == md
    assert str(explain(f, format="html", precision=3)) == doc


def test_rich_format_falls_back_to_text_without_rich(monkeypatch):
    import sys

    # Simulate a machine without rich: a None entry in sys.modules makes imports fail.
    for mod in [m for m in sys.modules if m == "rich" or m.startswith("rich.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "rich", None)
    x = leaf(2.0, "x")
    with pytest.warns(RuntimeWarning, match="rich"):
        ex = explain(x * x, format="rich")
    assert str(ex) == ex.to_text()
    with pytest.raises(ChainruleError, match="rich"):
        ex.to_rich()


def test_rich_rendering_when_installed():
    pytest.importorskip("rich", reason="rich is optional; the text format needs nothing")
    from rich.console import Console

    x, y = leaf(1.0, "x"), leaf(2.0, "y")
    ex = explain(x * y + x, format="rich")
    console = Console(record=True, width=120)
    console.print(ex)
    shown = console.export_text()
    assert "x: 2 from t1 (mul), 1 from f (add); total 3" in shown
    assert "\x1b[" in str(ex)  # str() of the rich format keeps the colours


def test_bad_arguments_are_reported():
    x = leaf(2.0, "x")
    with pytest.raises(ChainruleError, match="unknown explanation format"):
        explain(x * x, format="pdf")
    with pytest.raises(BackwardError, match="requires_grad=True"):
        explain(cr.Tensor(1.0) * 2)
    f = x * x
    f.backward()
    with pytest.raises(BackwardError, match="retain_graph=True"):
        explain(f)
    with pytest.raises(BackwardError, match="shape"):
        explain(cr.Tensor([1.0, 2.0], requires_grad=True) * 2, grad=[1.0])


# ---------------------------------------------------------------------- names, fan-out, shapes
def test_names_auto_and_duplicates():
    a = leaf(1.0, "h")
    b = leaf(2.0, "h")
    c = leaf(3.0, None)
    ex = explain(a * b + c)
    assert [s.name for s in ex.leaves] == ["h", "h#2", "v1"]
    assert [s.name for s in ex.ops] == ["f", "t1"]
    assert ex.step("t1").formula == "t1 = h · h#2"


def test_value_used_twice_by_one_gate():
    x = leaf(3.0, "x")
    ex = explain(x * x)
    got = ex.step("x").received
    assert [(c.source, c.arg, float(c.grad)) for c in got] == [("f", 0, 3.0), ("f", 1, 3.0)]
    assert float(ex.grad("x")) == 6.0
    assert "x: 3 from f (mul), 3 from f (mul); total 6" in str(ex)


def test_broadcasting_is_explained_and_summed():
    rng = np.random.default_rng(0)
    X = leaf(rng.normal(size=(4, 3)), "X")
    b = leaf(rng.normal(size=(3,)), "b")
    ex = explain((X + b).sum())
    add = ex.step("t1")
    assert any("b (3,) was broadcast to (4, 3)" in n and "(0,)" in n for n in add.notes)
    np.testing.assert_array_equal(ex.grad("b"), np.full(3, 4.0))
    np.testing.assert_array_equal(ex.grad("X"), np.ones((4, 3)))
    assert add.shape == (4, 3) and [i.shape for i in add.inputs] == [(4, 3), (3,)]


def test_nonscalar_output_is_seeded_with_ones():
    x = leaf([1.0, -2.0, 3.0], "x")
    ex = explain(x * x)
    np.testing.assert_array_equal(ex.seed, np.ones(3))
    np.testing.assert_array_equal(ex.grad("x"), 2 * x.data)
    ex2 = explain(x * x, grad=[1.0, 0.0, 2.0])
    np.testing.assert_array_equal(ex2.grad("x"), [2.0, 0.0, 12.0])


def test_every_tabled_op_gets_its_rule_and_correct_numbers(rng):
    a = leaf(rng.uniform(0.5, 2.0, size=(3, 4)), "a")
    w = leaf(rng.normal(size=(4, 2)), "w")
    v = leaf(rng.normal(size=(3, 2)), "v")
    h = cr.tanh(a @ w) + cr.sigmoid(v) - cr.relu(v) * cr.exp(-v) / cr.sqrt(a[:, :2])
    h = cr.maximum(h, cr.minimum(v, 0.3)) + cr.log(a[:, 1:3]) ** 2 + cr.abs(v) ** v.abs()
    h = cr.where(v.data > 0, h, -h) + cr.clip(v, -0.5, 0.5) + cr.leaky_relu(v) + cr.elu(v)
    h = cr.concatenate([h, h.T.reshape(3, 2)], axis=1).astype(np.float64)
    out = cr.logsumexp(h, axis=1).sum() + h.max() + cr.mean(h.expand_dims(0).squeeze(0))
    out = out + cr.broadcast_to(a[0], (2, 4)).min()
    ex = explain(out)
    out.backward()
    for t in (a, w, v):
        np.testing.assert_allclose(ex.grad(t.name), t.grad.data, rtol=1e-12, atol=1e-15)
    seen = {s.op for s in ex.ops}
    for s in ex.ops:
        assert s.op in RULES, s.op
        assert "VJP rule of" not in s.rule, s.rule
    assert {"matmul", "getitem", "concatenate", "logsumexp", "where", "cast"} <= seen


def test_unknown_op_gets_the_generic_rule():
    class Cube(Primitive):
        name = "test_viz_cube"
        register = False

        def forward(x):
            return x**3

        vjp = (lambda g, out, x: g * 3 * x * x,)

    from chainrule.core import apply

    x = leaf(2.0, "x")
    ex = explain(apply(Cube, x))
    assert float(ex.grad("x")) == 12.0
    assert ex.step("f").rule == "dx = df · ∂f/∂x (the VJP rule of test_viz_cube)"
    assert ex.step("f").formula == "f = test_viz_cube(x)"


# ---------------------------------------------------------------------- large graphs
def test_twenty_layer_mlp_explains_with_summaries_quickly(rng):
    x = cr.Tensor(rng.normal(size=(32, 64)), name="x")
    params, h = [], x
    for i in range(20):
        W = leaf(rng.normal(size=(64, 64)) * 0.15, f"W{i}")
        b = leaf(np.zeros(64), f"b{i}")
        params += [W, b]
        h = cr.tanh(h @ W + b)
    loss = (h * h).mean()
    start = time.perf_counter()
    ex = explain(loss)
    text, md, doc = str(ex), ex.to_markdown(), ex.to_html()
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0
    assert len(ex.ops) == 20 * 3 + 3 and len(ex.leaves) == 40
    assert "shape (64, 64): norm" in text and "shape (32, 64): norm" in text
    assert max(len(line) for line in text.splitlines()) < 600  # summaries, not 2048 numbers
    assert len(md) < 400_000 and len(doc) < 600_000
    loss.backward()
    for p in params:
        np.testing.assert_allclose(ex.grad(p.name), p.grad.data, rtol=1e-12, atol=1e-18)


def test_explain_expression_and_tensor_method():
    ex, f = explain_expression("(x + y) * z", {"x": -2, "y": 5, "z": -4, "unused": 1})
    assert float(f) == -12.0 and f.explain().grad("z") == 3.0
    assert ex.title.startswith("Backpropagation through f = (x + y) * z at x = -2")
    from chainrule.viz import ExpressionError

    with pytest.raises(ExpressionError, match="no value given for 'y', 'z'") as info:
        explain_expression("x * y + z", {"x": 1.0})
    assert info.value.column == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf is shown, not warned about
        ex, f = explain_expression("log(x)", {"x": 0.0})
    assert "-inf" in str(ex)
