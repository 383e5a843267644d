"""chainrule.compile: generated forward/backward code equals eager, as one graph node."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.jit import Compiled, TraceError
from chainrule.nn import functional as F
from chainrule.transforms import grad, jvp

RTOL = 1e-12


def close(a, b, rtol=RTOL, atol=1e-13):
    a = a.data if isinstance(a, cr.Tensor) else a
    b = b.data if isinstance(b, cr.Tensor) else b
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def mlp(rng, sizes=(5, 7, 3), act=nn.Tanh):
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b, rng=rng), act()]
    layers.append(nn.Linear(sizes[-2], sizes[-1], rng=rng))
    return nn.Sequential(*layers)


def clone(model):
    twin = mlp(np.random.default_rng(0))
    twin.load_state_dict(model.state_dict())
    return twin


# ---------------------------------------------------------------------- eager equality
def test_compiled_training_equals_eager_over_steps():
    rng = np.random.default_rng(0)
    model = mlp(rng)
    twin = clone(model)
    opt, opt2 = (
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        optim.SGD(twin.parameters(), lr=0.1, momentum=0.9),
    )

    @cr.compile
    def loss_fn(x, y):
        return F.cross_entropy(model(x), y)

    for _ in range(5):
        x = cr.Tensor(rng.normal(size=(8, 5)))
        y = rng.integers(0, 3, 8)
        opt.zero_grad()
        loss = loss_fn(x, y)
        loss.backward()
        opt.step()
        opt2.zero_grad()
        loss2 = F.cross_entropy(twin(x), y)
        loss2.backward()
        opt2.step()
        close(loss, loss2)
        for p, q in zip(model.parameters(), twin.parameters(), strict=True):
            close(p, q)
        assert loss.op == "compiled"
    assert loss_fn.cache_info()["traces"] == 1


def test_gradients_reach_arguments_and_captured_tensors_and_accumulate():
    rng = np.random.default_rng(1)
    w = cr.Tensor(rng.normal(size=(3, 2)), requires_grad=True, name="W")
    b = cr.Tensor(rng.normal(size=2), requires_grad=True)

    def f(x, s):
        h = cr.tanh(x @ w + b)
        return (h * h * s).sum() + (x * x).mean()

    cf = cr.compile(f)
    x = cr.Tensor(rng.normal(size=(4, 3)), requires_grad=True)
    s = cr.Tensor(rng.normal(size=(4, 2)))
    for _ in range(2):  # the second backward accumulates into .grad, as eager does
        cf(x, s).backward()
    gx, gw, gb = x.grad.data.copy(), w.grad.data.copy(), b.grad.data.copy()
    x.grad = w.grad = b.grad = None
    for _ in range(2):
        f(x, s).backward()
    close(gx, x.grad)
    close(gw, w.grad)
    close(gb, b.grad)
    assert s.grad is None
    assert "dW" in cf.source()  # the captured tensor's own name


def test_fan_out_broadcasting_reductions_indexing_unused_inputs():
    rng = np.random.default_rng(2)
    c = cr.Tensor(rng.normal(size=(1, 4)), requires_grad=True)

    def f(a, b, unused, idx):
        u = a * c + b  # broadcasting (3, 4) * (1, 4) + (4,)
        v = cr.exp(u) * u - u.max(axis=1, keepdims=True)  # fan-out of u
        w = v[1:, ::-1] + v[idx]  # basic and advanced indexing (idx is an array)
        return w.sum(axis=0).mean() + cr.logsumexp(u, axis=0).sum()

    cf = cr.compile(f)
    for seed in range(3):
        r = np.random.default_rng(seed)
        a = cr.Tensor(r.normal(size=(3, 4)), requires_grad=True)
        b = cr.Tensor(r.normal(size=4), requires_grad=True)
        unused = cr.Tensor(r.normal(size=2), requires_grad=True)
        idx = r.integers(0, 3, 2)
        out = cf(a, b, unused, idx)
        out.backward()
        got = [a.grad.data, b.grad.data, c.grad.data]
        a.grad = b.grad = c.grad = None
        expected = f(a, b, unused, idx)
        expected.backward()
        close(out, expected)
        for g, t in zip(got, (a, b, c), strict=True):
            close(g, t.grad)
        assert unused.grad is None
        c.grad = None
    assert cf.cache_info()["traces"] == 1  # idx values changed, shapes did not


def test_several_outputs_and_integer_outputs():
    def f(x):
        s = cr.softmax(x, axis=1)
        return (s * x).sum(), s, x.max(axis=1) > 0

    cf = cr.compile(f)
    x = cr.Tensor(np.random.default_rng(3).normal(size=(2, 3)), requires_grad=True)
    loss, s, flag = cf(x)
    (loss + (s * s).sum()).backward()
    g = x.grad.data.copy()
    x.grad = None
    loss2, s2, flag2 = f(x)
    (loss2 + (s2 * s2).sum()).backward()
    close(loss, loss2)
    close(s, s2)
    assert flag.dtype == bool and np.array_equal(flag.data, flag2.data)
    assert not flag.requires_grad
    close(g, x.grad)


def test_static_arguments_are_part_of_the_signature():
    calls = []

    def f(x, power, mode="sum"):
        calls.append(power)
        y = x**power
        return y.sum() if mode == "sum" else y.mean()

    cf = cr.compile(f)
    x = cr.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    close(cf(x, 2), 14.0)
    close(cf(x, 3), 36.0)
    close(cf(x, 2, mode="mean"), 14.0 / 3)
    close(cf(x, 2), 14.0)
    # three signatures traced (each run twice: the trace and its check on other values);
    # the fourth call reused the first
    assert calls == [2, 2, 3, 3, 2, 2]
    assert cf.cache_info() == {"traces": 3, "retraces": 0, "evictions": 0, "signatures": 3}


def test_new_shapes_retrace_and_the_cache_is_bounded():
    cf = cr.compile(lambda x: (x * 2).sum(), cache_size=2)
    for n in (1, 2, 3, 1):
        close(cf(cr.Tensor(np.ones(n), requires_grad=True)), 2.0 * n)
    info = cf.cache_info()
    assert info["traces"] == 4 and info["evictions"] == 2 and info["signatures"] == 2


def test_a_captured_tensor_that_changes_shape_or_requires_grad_retraces():
    w = cr.Tensor(np.ones(3), requires_grad=True)
    cf = cr.compile(lambda x: (x * w).sum())
    x = cr.Tensor(np.arange(3.0))
    cf(x).backward()
    close(w.grad, np.arange(3.0))
    w.requires_grad = False
    out = cf(x)
    assert not out.requires_grad
    assert cf.cache_info()["retraces"] == 1


def test_repeated_calls_check_every_part_of_the_signature():
    # the latest signature is checked argument by argument (no cache key): each change
    # below must still reach the cache, and an equal but distinct static value hit it
    w = cr.Tensor(np.ones(3), requires_grad=True)
    cf = cr.compile(lambda x, k: (x * w).sum() * k)
    x = cr.Tensor(np.arange(3.0))
    close(cf(x, 2), 6.0)
    close(cf(x, 2), 6.0)
    close(cf(cr.Tensor(np.arange(4.0))[:3], 2), 6.0)  # same signature, another tensor
    assert cf.cache_info()["traces"] == 1
    close(cf(x, 3), 9.0)  # a new static value
    close(cf(x, 2.0), 6.0)  # equal to 2 but a float: its own signature, as in the key
    close(cf(cr.Tensor(np.arange(3, dtype=np.float32)), 2), 6.0)  # new dtype
    xr = cr.Tensor(np.arange(3.0), requires_grad=True)
    cf(xr, 2).backward()  # now x requires grad
    close(xr.grad, 2 * np.ones(3))
    with cr.no_grad():  # grad mode is part of the signature
        assert not cf(xr, 2).requires_grad
    assert cf.cache_info()["traces"] == 6
    close(cf(x, 2), 6.0)  # the first signature, from the cache
    close(cf(x.data, 2), 6.0)  # an array instead of a Tensor: a signature of its own
    assert cf.cache_info()["traces"] == 7
    w.data = np.ones(4)  # a captured tensor changed shape: a retrace
    close(cf(cr.Tensor(np.arange(4.0)), 2), 12.0)
    close(cf(cr.Tensor(np.arange(4.0)), 2), 12.0)
    assert cf.cache_info()["traces"] == 8


def test_no_grad_runs_the_forward_only():
    w = cr.Tensor(np.ones((2, 2)), requires_grad=True)
    cf = cr.compile(lambda x: cr.tanh(x @ w).sum())
    with cr.no_grad():
        out = cf(cr.Tensor(np.ones((1, 2))))
    assert not out.requires_grad
    close(out, 2 * np.tanh(2.0))


# ---------------------------------------------------------------------- transforms compose
def test_create_graph_and_higher_order_match_eager():
    def f(x):
        return (cr.sin(x) * cr.exp(x)).sum() + (x**3).sum()

    cf = cr.compile(f)
    x = cr.Tensor(np.array([0.3, -1.2, 0.7]), requires_grad=True)
    (g,) = cr.core.backward([cf(x)], create_graph=True, inputs=[x])
    (g_eager,) = cr.core.backward([f(x)], create_graph=True, inputs=[x])
    close(g, g_eager)
    v = np.array([1.0, -2.0, 0.5])
    (hv,) = cr.core.backward([(g * v).sum()], inputs=[x])
    (hv_eager,) = cr.core.backward([(g_eager * v).sum()], inputs=[x])
    close(hv, hv_eager)
    h = grad(lambda t: grad(cf)(t).sum())(x)
    h_eager = grad(lambda t: grad(f)(t).sum())(x)
    close(h, h_eager)


def test_forward_mode_and_jacobians_match_eager():
    w = cr.Tensor(np.random.default_rng(4).normal(size=(3, 3)))

    def f(x):
        return cr.tanh(x @ w) * x

    cf = cr.compile(f)
    x = cr.Tensor(np.array([0.1, 0.5, -0.3]))
    t = np.array([1.0, 0.0, 2.0])
    _, tan = jvp(cf, (x,), (t,))
    _, tan_eager = jvp(f, (x,), (t,))
    close(tan, tan_eager)
    from chainrule.transforms import hessian, jacobian

    for mode in ("fwd", "rev"):
        close(jacobian(cf, mode=mode)(x), jacobian(f, mode=mode)(x))
    close(hessian(lambda v: cf(v).sum())(x), hessian(lambda v: f(v).sum())(x))


def test_second_backward_needs_retain_graph():
    cf = cr.compile(lambda x: (x * x).sum())
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    out = cf(x)
    out.backward()
    with pytest.raises(cr.BackwardError, match="second time"):
        out.backward()
    x.grad = None
    out = cf(x)
    out.backward(retain_graph=True)
    out.backward()
    close(x.grad, [4.0, 8.0])


# ---------------------------------------------------------------------- what cannot be traced
def test_branching_on_a_traced_value_names_the_line():
    def f(x):
        if x.sum() > 0:  # data-dependent control flow
            return x * 2
        return x

    cf = cr.compile(f)
    with pytest.raises(TraceError, match=r"bool\(t\).*test_compile.py:\d+") as info:
        cf(cr.Tensor([1.0]))
    assert "static" in str(info.value) and "fallback='eager'" in str(info.value)
    with pytest.raises(TraceError, match=r"t\.item\(\)"):
        cr.compile(lambda x: x * x.sum().item())(cr.Tensor([1.0]))


def test_fallback_eager_runs_eagerly_and_warns_once():
    def f(x):
        return x * 2 if float(x.sum()) > 0 else x * -1

    cf = cr.compile(f, fallback="eager")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = cf(cr.Tensor([1.0]))
        b = cf(cr.Tensor([-1.0]))
    close(a, [2.0])
    close(b, [1.0])  # the other branch: eager, so right
    assert len([w for w in caught if "eagerly" in str(w.message)]) == 1


def test_dropout_refuses_to_be_frozen():
    cf = cr.compile(lambda x: F.dropout(x, 0.5))
    with pytest.raises(TraceError, match="dropout"):
        cf(cr.Tensor(np.ones(4), requires_grad=True))
    with cr.no_grad():  # evaluation mode draws nothing
        close(cr.compile(lambda x: F.dropout(x, 0.5, training=False))(cr.Tensor([1.0])), [1.0])


def test_bad_calls_have_clear_errors():
    cf = cr.compile(lambda x, y: x + y)
    with pytest.raises(TypeError, match="compiled <lambda>|argument"):
        cf(cr.Tensor([1.0]))
    with pytest.raises(TypeError, match="'y' is a list"):
        cf(cr.Tensor([1.0]), [1.0, 2.0])
    with pytest.raises(TraceError, match="returned float"):
        cr.compile(lambda x: 1.0)(cr.Tensor([1.0]))
    with pytest.raises(TypeError, match="expected a function"):
        cr.compile(3)
    with pytest.raises(ValueError, match="fallback"):
        cr.compile(lambda x: x, fallback="maybe")
    with pytest.raises(cr.ChainruleError, match="not been called"):
        cr.compile(lambda x: x).source()


# ---------------------------------------------------------------------- reading, exporting
def test_source_is_readable_flat_code_with_chain_rule_comments():
    w = cr.Tensor(np.ones((3, 2)), requires_grad=True, name="W")

    @cr.compile
    def layer(x):
        return cr.tanh(x @ w).sum()

    layer(cr.Tensor(np.ones((4, 3))))
    src = layer.source()
    assert "def forward(x, W):" in src and "def backward(" in src
    assert "np.dot(x, W)" in src and "np.tanh(" in src
    assert "# dW += xᵀ · " in src and "(matmul, argument 1)" in src
    assert "dW = np.dot(x.T, " in src  # a transpose read once is written where it is read
    assert "dx" not in src.split("def backward")[1].split("return")[1]  # x needs no grad


def test_inlined_transposes_of_big_saved_values_are_freed_after_their_use():
    # h (200 x 100 float64, 160 KB) is saved for the backward, read there only through
    # h.T: the transpose is written into the product, and h deleted after that line
    rng = np.random.default_rng(4)
    w1 = cr.Tensor(rng.normal(size=(100, 100)) * 0.1, requires_grad=True, name="W1")
    w2 = cr.Tensor(rng.normal(size=(100, 3)), requires_grad=True, name="W2")

    @cr.compile
    def loss(x):
        h = (x @ w1) * 2.0  # saved for W2's gradient alone (the product's rule needs no h)
        return (h @ w2).sum()

    x = cr.Tensor(rng.normal(size=(200, 100)))
    loss.forward_backward(x)
    src = loss.source().split("def backward")[1]
    lines = [ln.strip() for ln in src.splitlines()]
    use = next(i for i, ln in enumerate(lines) if ln.startswith("dW2 = np.dot(") and ".T, " in ln)
    saved = lines[use].split("np.dot(")[1].split(".T")[0]
    assert not any(ln.endswith(f"= {saved}.T") for ln in lines)  # no line of its own
    dels = [
        i for i, ln in enumerate(lines) if ln.startswith("del ") and saved in ln[4:].split(", ")
    ]
    assert dels == [use + 1]  # freed right after the product that read it
    got = [w1.grad.data.copy(), w2.grad.data.copy()]
    w1.grad = w2.grad = None
    (((x @ w1) * 2.0) @ w2).sum().backward()
    for g, p in zip(got, (w1, w2), strict=True):
        np.testing.assert_allclose(g, p.grad.data, rtol=1e-12)


def test_export_runs_with_numpy_only(tmp_path):
    rng = np.random.default_rng(5)
    model = mlp(rng)

    @cr.compile
    def loss_fn(x, y):
        return F.cross_entropy(model(x), y)

    x = cr.Tensor(rng.normal(size=(6, 5)))
    y = rng.integers(0, 3, 6)
    loss = loss_fn(x, y)
    loss.backward()
    loss_fn.export(str(tmp_path / "step.py"))
    params = [p.data for p in loss_fn._last.captured]
    np.savez(tmp_path / "io.npz", *params, x=x.data, y=y)
    script = f"""
import sys
sys.path.insert(0, {str(tmp_path)!r})
import numpy as np
import step
assert "chainrule" not in sys.modules
d = np.load({str(tmp_path / "io.npz")!r})
params = [d[f"arr_{{i}}"] for i in range({len(params)})]
outs, saved = step.forward(d["x"], d["y"], *params)
grads = step.backward(np.ones_like(outs[0]), list(saved), d["x"], d["y"], *params)
np.savez({str(tmp_path / "out.npz")!r}, loss=outs[0], *[g for g in grads if g is not None])
assert "chainrule" not in sys.modules
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-I", "-c", script], check=True, env=env, timeout=120, cwd=tmp_path
    )
    out = np.load(tmp_path / "out.npz")
    close(out["loss"], loss)
    for i, p in enumerate(loss_fn._last.captured):
        close(out[f"arr_{i}"], p.grad)


# ---------------------------------------------------------------------- threads
def _in_threads(work, n):
    """Run ``work(0)`` ... ``work(n - 1)`` at once, one thread each, and wait for all."""
    threads = [threading.Thread(target=work, args=(s,)) for s in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_threads_share_a_compiled_function():
    w = cr.Tensor(np.random.default_rng(6).normal(size=(4, 4)))
    cf = cr.compile(lambda x: cr.tanh(x @ w).sum())
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        for _ in range(30):
            x = cr.Tensor(r.normal(size=(2, 4)), requires_grad=True)
            cf(x).backward()
            x2 = cr.Tensor(x.data, requires_grad=True)
            cr.tanh(x2 @ w).sum().backward()
            if not np.allclose(x.grad.data, x2.grad.data, rtol=1e-12, atol=0):
                errors.append(seed)

    _in_threads(work, 4)
    assert not errors


def test_threads_with_different_signatures_and_grad_modes():
    # the latest-signature shortcut is shared by the threads: each thread's calls must
    # still get the code of their own shapes and grad mode
    w = cr.Tensor(np.random.default_rng(7).normal(size=(4, 4)), requires_grad=True)
    cf = cr.compile(lambda x: cr.tanh(x @ w).sum())
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        for _ in range(40):
            x = cr.Tensor(r.normal(size=(seed + 1, 4)))
            expected = float(np.tanh(x.data @ w.data).sum())
            if seed == 3:
                with cr.no_grad():
                    out = cf(x)
                ok = not out.requires_grad
            else:
                out = cf.forward_backward(x)
                ok = w.grad is not None and w.grad.shape == (4, 4)
            if not (ok and np.isclose(float(out), expected, rtol=1e-12)):
                errors.append(seed)

    _in_threads(work, 4)
    assert not errors


def test_compiled_is_the_public_object():
    cf = cr.compile(lambda x: x)
    assert isinstance(cf, Compiled) and "compiled" in repr(cf)
    deco = cr.compile(fallback="eager")
    assert isinstance(deco(lambda x: x * 2), Compiled)


def test_a_tensor_where_a_static_argument_was_traced_is_named():
    def f(x, n):
        return x * float(n) if not isinstance(n, cr.Tensor) else x * n.item()

    cf = cr.compile(f)
    close(cf(cr.Tensor([1.0]), 2), [2.0])
    with pytest.raises(TraceError, match=r"t\.item\(\)"):
        cf(cr.Tensor([1.0]), cr.Tensor(2.0))

    def g(x, n):
        return x * len(range(n))

    cg = cr.compile(g)
    cg(cr.Tensor([1.0]), 3)
    with pytest.raises(TypeError) as info:
        cg(cr.Tensor([1.0]), cr.Tensor(3))
    if sys.version_info >= (3, 11):
        assert "argument 'n' was a static int" in "\n".join(info.value.__notes__)


# ---------------------------------------------------------------------- random programs
UNARY = [
    cr.tanh,
    cr.exp,
    cr.sigmoid,
    lambda t: t * t,
    lambda t: -t,
    cr.relu,
    lambda t: t.sum(axis=-1, keepdims=True),
    lambda t: t.max(axis=0, keepdims=True),
    lambda t: t[::-1],
    lambda t: cr.logsumexp(t, axis=-1, keepdims=True),
]
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a * b,
    lambda a, b: a - b,
    cr.maximum,
    lambda a, b: a / (1.5 + b * b),
]


def _random_program(seed):
    """A random straight-line function of two inputs and a captured tensor: fan-out,
    broadcasting (rows, columns, scalars), reductions, indexing, an unused input."""
    r = np.random.default_rng(seed)
    steps = [
        (
            int(r.integers(0, 2)),
            int(r.integers(len(UNARY))),
            int(r.integers(len(BINARY))),
            int(r.integers(0, 10)),
        )
        for _ in range(int(r.integers(3, 9)))
    ]

    def f(a, b, unused, cap):
        vals = [a, b, cap]
        for kind, u, bi, pick in steps:
            x = vals[pick % len(vals)]
            y = vals[(pick * 7 + 1) % len(vals)]
            vals.append(UNARY[u](x) if kind == 0 else BINARY[bi](x, y))
        return sum(v.sum() for v in vals[3:]) + vals[-1].mean()

    return f


@pytest.mark.parametrize("seed", range(25))
def test_random_programs_equal_eager(seed):
    r = np.random.default_rng(100 + seed)
    cap = cr.Tensor(r.normal(size=(1, 4)), requires_grad=True)
    f = _random_program(seed)
    cf = cr.compile(lambda a, b, unused: f(a, b, unused, cap))
    for call in range(2):
        a = cr.Tensor(r.normal(size=(3, 4)), requires_grad=True)
        b = cr.Tensor(r.normal(size=(4,)), requires_grad=bool(call))
        unused = cr.Tensor(r.normal(size=2), requires_grad=True)
        out = cf(a, b, unused)
        out.backward()
        got = [t.grad.data.copy() if t.grad is not None else None for t in (a, b, cap)]
        a.grad = b.grad = cap.grad = None
        want = f(a, b, unused, cap)
        want.backward()
        close(out, want)
        for g, t in zip(got, (a, b, cap), strict=True):
            if t.grad is None:
                assert g is None
            else:
                close(g, t.grad)
        assert unused.grad is None
        cap.grad = None


def test_values_computed_outside_ops_are_refused_not_frozen():
    def svm_like(s, y):
        mask = np.zeros(s.shape)  # a label mask built with NumPy: frozen if traced
        mask[np.arange(len(y.data)), y.data] = 1
        return (s * cr.Tensor(mask)).sum()

    cf = cr.compile(svm_like)
    s = cr.Tensor(np.eye(3), requires_grad=True)
    with pytest.raises(TraceError, match=r"'mul'.*test_compile.py:\d+.*outside chainrule ops"):
        cf(s, np.array([0, 1, 2]))

    def branchy(x):
        return x * 2 if x.data[0] > 0 else -x  # a Python branch on the values

    with pytest.raises(TraceError, match="different ops for different input values"):
        cr.compile(branchy)(cr.Tensor([1.0, -2.0]))  # (the check retraces on other values)
    # with fallback="eager" both run eagerly, and right
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = cr.compile(svm_like, fallback="eager")
        close(eager(s, np.array([1, 2, 0])), 0.0)


def test_no_grad_inside_the_function_is_respected():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)

    def f(x):
        with cr.no_grad():
            a = (x * w).sum()
        return a * (x * w).sum()

    x = cr.Tensor([1.0, 2.0])
    cf = cr.compile(f)
    cf(x).backward()
    got = w.grad.data.copy()
    w.grad = None
    f(x).backward()
    close(got, w.grad)

    def g(x):
        with cr.no_grad():
            return (x * w).sum()

    assert not cr.compile(g)(x).requires_grad


def test_several_outputs_one_of_them_differentiable():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    loss, flags = cr.compile(lambda x: ((x * w).sum(), x > 0))(cr.Tensor([1.0, -1.0]))
    loss.backward()
    close(w.grad, [1.0, -1.0])
    assert flags.data.tolist() == [True, False]


def test_margin_losses_compile_and_reread_their_labels():
    s = cr.Tensor(np.random.default_rng(7).normal(size=(4, 3)), requires_grad=True)
    w = np.array([0.5, 1.0, 2.0])
    for loss in (F.multiclass_svm_loss, lambda a, y: F.multi_margin_loss(a, y, weight=w)):
        cf = cr.compile(loss)
        for y in (np.array([0, 1, 2, 0]), np.array([2, 2, 1, 0])):
            got = cf(s, y)
            got.backward()
            g = s.grad.data.copy()
            s.grad = None
            want = loss(s, y)
            want.backward()
            close(got, want)
            close(g, s.grad)
            s.grad = None
        assert cf.cache_info()["traces"] == 1
