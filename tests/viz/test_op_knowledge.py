"""Op knowledge lives with the op: one class teaches explain, draw and the formula language."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.core import REGISTRY, Primitive, apply
from chainrule.core.lecture import Lecture
from chainrule.ops._batching import from_derivative
from chainrule.viz import draw, explain, explain_expression, page
from chainrule.viz.expr import FUNCTION_ARITY, MATH_FUNCTIONS, ExpressionError, parse


@pytest.fixture
def sin_op():
    """A new op, written as one class: maths and lecture notation side by side."""

    class Sine(Primitive):
        name = "_test_sine"
        kind = "unary"
        forward = np.sin
        # first order only (np.cos of the plain input): enough for explain and draw
        vjp, jvp, jvp_batched, vjp_batched = from_derivative(
            lambda g, out, x: g * np.cos(getattr(x, "data", x))
        )
        lecture = Lecture(
            "sine({0})", ("{dz} · cos({0})",), numeric=True, symbol="sine", expr_name="sine"
        )

    try:
        yield Sine
    finally:
        REGISTRY.pop("_test_sine", None)


def test_a_new_op_is_explained_drawn_and_typeable_from_its_class(sin_op):
    assert FUNCTION_ARITY["sine"] == 1 and MATH_FUNCTIONS["sine"](0.0) == 0.0
    ex, f = explain_expression("sine(x) * y", {"x": 0.5, "y": 2.0})
    assert float(ex.grad("x")) == pytest.approx(2 * np.cos(0.5))
    step = next(s for s in ex.ops if s.op == "_test_sine")
    assert step.rule == f"dx = d{step.name} · cos(x)"
    assert f"∂{step.name}/∂x = cos(x) = cos(0.5000) = 0.8776" in step.local
    assert "<b>sine</b>" in draw(f).source
    x = cr.Tensor(0.5, requires_grad=True, name="x")
    assert "sine(x)" in str(explain(apply(sin_op, x)))
    REGISTRY.pop("_test_sine")
    with pytest.raises(ExpressionError, match="unknown function 'sine'"):
        parse("sine(x)")


def test_the_language_is_the_builtin_ops_with_an_expr_name():
    trig = {
        f: 1
        for f in (
            "sin",
            "cos",
            "tan",
            "arcsin",
            "arccos",
            "arctan",
            "sinh",
            "cosh",
            "arcsinh",
            "arccosh",
            "arctanh",
            "log1p",
            "expm1",
            "log2",
            "log10",
        )
    }
    assert dict(FUNCTION_ARITY) == {
        "abs": 1,
        "exp": 1,
        "log": 1,
        "max": 2,
        "min": 2,
        "relu": 1,
        "sigmoid": 1,
        "sqrt": 1,
        "tanh": 1,
        **trig,
        "arctan2": 2,
        "hypot": 2,
        "logaddexp": 2,
    }
    with pytest.raises(ValueError):
        MATH_FUNCTIONS["log"](0.0)
    with pytest.raises(OverflowError):
        MATH_FUNCTIONS["exp"](1000.0)


def _mlp():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 6, rng=rng), nn.ReLU(), nn.Linear(6, 3, rng=rng))
    X = rng.normal(size=(8, 4))
    y = rng.integers(0, 3, 8)
    return model, X, y, nn.functional.cross_entropy(model(X), y)


def test_real_model_names_and_fused_rules():
    model, X, y, loss = _mlp()
    ex = explain(loss, names={"model": model, "X": X, "y": y})
    names = [s.name for s in ex.leaves]
    assert names == ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"]
    ce, lin2, _, lin1 = ex.ops
    assert ce.formula == "f = cross_entropy(t3, y=y) averaged over the 8 rows"
    assert ce.rule == "dt3 = df · (softmax(t3) − onehot(y)) / 8"
    assert "ds = softmax(s) − onehot(y)" in ce.gate
    assert lin2.rule == (
        "dt2 = dt3 · model.2.weight, dmodel.2.weight = dt3ᵀ · t2, dmodel.2.bias = Σ_rows dt3"
    )
    assert lin1.formula == "t1 = X · model.0.weightᵀ + model.0.bias"
    assert "dX = dY · Wᵀ" in lin1.gate and "placeholder" not in str(ex)
    assert "VJP rule of" not in str(ex)
    assert "model.0.weight" in draw(loss, names=model).source
    loss.backward()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(ex.grad(f"model.{n}"), p.grad.data)
    text = str(ex)
    assert "shape (6, 4): norm" in text and len(text.splitlines()) < 80


def test_names_errors_and_precedence():
    x = cr.Tensor(2.0, requires_grad=True, name="x")
    ex = explain(x * x, names={"input": x})
    assert ex.leaves[0].name == "input"
    with pytest.raises(cr.ChainruleError, match="names="):
        explain(x * x, names={"bad": 3})
    with pytest.raises(cr.ChainruleError, match="names="):
        explain(x * x, names=[x])


def test_ner_window_model_collapses_repeated_lookups():
    from chainrule.apps.ner.model import WindowTagger

    rng = np.random.default_rng(0)
    sizes = {"word": 200, "caps": 5, "suffix": 50, "shape": 20}
    dims = {"word": 20, "caps": 3, "suffix": 6, "shape": 4}
    m = WindowTagger(sizes, dims, window=2, n_tags=9, hidden=30, rng=rng)
    ids = {f: rng.integers(0, n, size=(16, 5)) for f, n in sizes.items()}
    y = rng.integers(0, 9, 16)
    loss = nn.functional.cross_entropy(m.scores(ids), y)
    ex = explain(loss, names={"model": m, "y": y, **{f"ids_{k}": v for k, v in ids.items()}})
    assert ex.repeats() == [(5, 2, 4)]  # (reshape ← embedding) once per feature
    text = str(ex)
    assert "the same 2 steps (reshape → embedding) 3 more times   [collapsed]" in text
    assert "model.emb_caps.weight[ids_caps]" in text
    assert len(text.splitlines()) < 100
    assert len(str(explain(loss, collapse=False)).splitlines()) > len(text.splitlines())
    assert len(page(loss, names={"model": m}).data["steps"]) == len(ex.ops)


def test_page_is_self_contained_and_escapes_everything(tmp_path):
    a = cr.Tensor([1e308, np.nan], requires_grad=True, name="</script><script>alert(1)//")
    with np.errstate(all="ignore"):
        out = (a * 2.0).sum()
    pg = page(out, tmp_path / "p.html", title="<b>\u2028'\"")
    doc = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert doc == pg.html
    assert doc.count("<script") == 2 and doc.count("</script>") == 2
    data = doc.split('type="application/json">')[1].split("</script>")[0]
    assert "<b>" not in doc and "<" not in data and "\u2028" not in data
    # nothing is fetched: no URL but the SVG namespace name, no src/href/@import/url()
    assert [u for u in ("https://", "src=", "href=", "@import", "url(") if u in doc] == []
    assert doc.count("http://") == 1 and "http://www.w3.org/2000/svg" in doc
    assert "default-src 'none'" in doc
    assert "iframe" in pg._repr_html_() and "<script" not in pg._repr_html_()
    assert "iframe" in out.explain()._repr_html_()


def test_cli_writes_the_page(tmp_path, capsys):
    from chainrule.cli.main import main

    target = tmp_path / "page.html"
    rc = main(
        ["explain", "(x + y) * max(y, z)", "--at", "x=1", "y=2", "z=0", "--html", str(target)]
    )
    out, err = capsys.readouterr()
    assert rc == 0 and "wrote the step-through page" in err and "Backpropagation" in out
    doc = target.read_text(encoding="utf-8")
    assert "y: 2 from t1 + 3 from t2 =" in doc and "running sum" in doc
    rc = main(["explain", "x*x", "--at", "x=1", "--html", str(tmp_path / "no" / "p.html")])
    assert rc == 1 and "could not write the page" in capsys.readouterr().err
