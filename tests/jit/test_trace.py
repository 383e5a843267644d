"""Tests for chainrule.jit.trace: record once, replay, print."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import ShapeError
from chainrule.core.state import state
from chainrule.jit import Equation, Program, TraceError, trace
from chainrule.transforms import grad


def _make_mlp(rng: np.random.Generator):
    w2 = cr.Tensor(rng.normal(size=(5, 3)), requires_grad=True, name="w2")  # captured

    def mlp(x, w1, b1):
        h = cr.tanh(cr.matmul(x, w1) + b1)
        logits = cr.matmul(h, w2)
        return cr.logsumexp(logits, axis=1, keepdims=True).mean()

    return mlp, w2


def _args(rng: np.random.Generator):
    return (
        cr.Tensor(rng.normal(size=(4, 2))),
        cr.Tensor(rng.normal(size=(2, 5))),
        cr.Tensor(rng.normal(size=(5,))),
    )


def test_replay_matches_direct_call(rng):
    mlp, w2 = _make_mlp(rng)
    prog = trace(mlp, *_args(rng))
    assert isinstance(prog, Program)
    new = _args(rng)
    np.testing.assert_allclose(prog(*new).data, mlp(*new).data, rtol=1e-12)
    assert len(prog.constants) == 1 and prog.constants[0].value is w2
    assert all(isinstance(eq, Equation) for eq in prog.equations)


def test_replay_gradients_match(rng):
    mlp, w2 = _make_mlp(rng)
    prog = trace(mlp, *_args(rng))
    data = [a.data for a in _args(rng)]

    def grads(fn):
        w2.grad = None
        leaves = [cr.Tensor(d.copy(), requires_grad=True) for d in data]
        fn(*leaves).backward()
        return [leaf.grad.data for leaf in leaves] + [w2.grad.data]

    for got, want in zip(grads(prog), grads(mlp), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_source_lists_ops_in_order_with_params(rng):
    mlp, _ = _make_mlp(rng)
    prog = trace(mlp, *_args(rng))
    src = str(prog)
    lines = src.splitlines()
    assert lines[0].startswith("# c1: float64[5, 3]")
    assert "def mlp(x, w1, b1):" in lines
    names = [eq.name for eq in prog.equations]
    assert names[:4] == ["matmul", "add", "tanh", "matmul"]
    assert "logsumexp" in names
    body = [ln.strip() for ln in lines if ln.startswith("    t")]
    assert [b.split(" = ")[1].split("(")[0] for b in body] == names
    assert body[0] == "t1 = matmul(x, w1)"
    assert body[3] == "t4 = matmul(t3, c1)"
    lse = next(b for b in body if "logsumexp(" in b)
    assert "axis=(1,)" in lse and "keepdims=True" in lse
    assert lines[-1] == f"    return t{prog.n_ops}"
    assert prog.op_counts()["matmul"] == 2
    assert sum(prog.op_counts().values()) == prog.n_ops
    assert "# float64[4, 5]" in prog.to_source(shapes=True)


def test_shape_mismatch_names_argument(rng):
    mlp, _ = _make_mlp(rng)
    prog = trace(mlp, *_args(rng))
    x, w1, b1 = _args(rng)
    with pytest.raises(ShapeError, match="'w1'"):
        prog(x, cr.Tensor(np.zeros((3, 5))), b1)
    with pytest.raises(ShapeError, match="'b1'"):
        prog(x, w1, cr.Tensor(np.zeros(5, dtype=np.float32)))
    with pytest.raises(ShapeError, match="3 argument"):
        prog(x, w1)


def test_observer_list_restored():
    st = state()
    before = list(st.observers)
    trace(lambda x: x * 2.0, cr.Tensor([1.0]))
    assert st.observers == before

    def boom(x):
        y = x + 1.0
        raise RuntimeError("inside f")
        return y

    with pytest.raises(RuntimeError, match="inside f"):
        trace(boom, cr.Tensor([1.0]))
    assert st.observers == before
    assert st.extras == bool(before or st.fwd_levels or st.anomaly or st.record_source)


def test_tuple_outputs_and_bad_output(rng):
    def f(a, b):
        return a * b, a - b

    prog = trace(f, cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0]))
    p, q = prog(cr.Tensor([2.0, 5.0]), cr.Tensor([1.0, 1.0]))
    np.testing.assert_allclose(p.data, [2.0, 5.0])
    np.testing.assert_allclose(q.data, [1.0, 4.0])
    assert str(prog).splitlines()[-1] == "    return t1, t2"
    with pytest.raises(TraceError):
        trace(lambda x: float(x.sum().item()), cr.Tensor([1.0]))


def test_replay_under_grad_transform(rng):
    mlp, _ = _make_mlp(rng)
    prog = trace(mlp, *_args(rng))
    new = _args(rng)
    got = grad(prog, argnums=(0, 1))(*new)
    want = grad(mlp, argnums=(0, 1))(*new)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.data, w.data, rtol=1e-10)


def test_control_flow_is_frozen():
    def f(x):
        return x * 2.0 if float(x.sum().item()) > 0 else -x

    prog = trace(f, cr.Tensor([1.0]))
    # the positive branch was recorded; a negative input still takes it on replay
    np.testing.assert_allclose(prog(cr.Tensor([-3.0])).data, [-6.0])


def test_to_python_round_trip(rng):
    mlp, _ = _make_mlp(rng)
    prog = trace(mlp, *_args(rng))
    source, _ = prog.to_python()
    assert source.startswith("def mlp(x, w1, b1):")
    fn = prog.compile_python()
    new = _args(rng)
    np.testing.assert_allclose(fn(*new).data, mlp(*new).data, rtol=1e-12)

    def g(x, idx):
        return x[:, 1:].astype("float32").sum(axis=0), cr.take(x, idx, axis=0)

    idx = np.array([0, 2])
    prog2 = trace(g, cr.Tensor(rng.normal(size=(3, 3))), idx)
    x = cr.Tensor(rng.normal(size=(3, 3)))
    for got, want in zip(prog2.compile_python()(x, idx), g(x, idx), strict=True):
        np.testing.assert_allclose(got.data, want.data, rtol=1e-6)


def test_index_inputs_and_detach_are_reread(rng):
    def f(x, idx):
        picked = cr.take(x, idx, axis=0)
        return (picked * x.detach()[:2]).sum()

    x0 = rng.normal(size=(3, 2))
    prog = trace(f, cr.Tensor(x0), np.array([0, 2]))
    src = str(prog)
    assert "index=[idx.data]" in src and "x.detach()" in src
    x = cr.Tensor(rng.normal(size=(3, 2)), requires_grad=True)
    other = np.array([1, 1])
    out = prog(x, other)
    np.testing.assert_allclose(out.data, f(x, other).data, rtol=1e-12)
    out.backward()  # detach() still cuts the graph on replay: d/dx only through take
    want = np.zeros((3, 2))
    np.add.at(want, other, x.data[:2])
    np.testing.assert_allclose(x.grad.data, want, rtol=1e-12)
    got = prog.compile_python()(x, other)
    np.testing.assert_allclose(got.data, out.data, rtol=1e-12)
