"""Compiled.forward_backward and optim.compile_step: the fused training step equals eager;
the generated code reuses what a forward op kept (cross_entropy's softmax)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.core import BackwardError, ChainruleError
from chainrule.nn import functional as F
from chainrule.transforms import hessian


def mlp(seed: int = 0, sizes=(6, 9, 4)) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b, rng=rng), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1], rng=rng))
    return nn.Sequential(*layers)


def batch(seed: int = 1, n: int = 8):
    rng = np.random.default_rng(seed)
    return cr.Tensor(rng.normal(size=(n, 6))), rng.integers(0, 4, n)


def grads_of(model):
    return [None if p.grad is None else np.array(p.grad.data) for p in model.parameters()]


# ---------------------------------------------------------------------- kept values
def test_cross_entropy_keeps_its_softmax_for_the_gradient():
    model = mlp()
    cf = cr.compile(lambda x, t: F.cross_entropy(model(x), t))
    x, y = batch()
    cf(x, y)
    src = cf.source()
    assert "_kept = _f_cross_entropy_keep(" in src
    assert "_f_cross_entropy_grad_reuse(" in src
    # the scores are no longer saved for the backward: only the kept softmax is
    saved = src.split("def backward")[1].splitlines()[1]
    assert "_kept" in saved


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"reduction": "sum"},
        {"reduction": "none"},
        {"ignore_index": 2},
        {"weight": np.array([0.5, 1.0, 2.0, 1.5])},
    ],
)
def test_reused_softmax_gradient_equals_eager(kw):
    model = mlp()
    twin = mlp()
    x, y = batch()
    w = (
        cr.Tensor(np.random.default_rng(3).normal(size=8))
        if kw.get("reduction") == "none"
        else None
    )

    def loss(m, x_, t):
        out = F.cross_entropy(m(x_), t, **kw)
        return (out * w).sum() if w is not None else out

    cf = cr.compile(lambda x_, t: loss(model, x_, t))
    cf(x, y).backward()
    loss(twin, x, y).backward()
    for a, b in zip(grads_of(model), grads_of(twin), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_kept_softmax_survives_a_retained_second_backward():
    model = mlp()
    cf = cr.compile(lambda x, t: F.cross_entropy(model(x), t))
    x, y = batch()
    out = cf(x, y)
    out.backward(retain_graph=True)
    first = grads_of(model)
    out.backward()
    for a, b in zip(grads_of(model), first, strict=True):
        np.testing.assert_allclose(a, 2 * b, rtol=1e-12)


def test_create_graph_replays_the_traced_program():
    # a differentiable backward replays the ops as traced (not the kept variant)
    x0 = np.random.default_rng(0).normal(size=(3, 4))
    y = np.array([0, 3, 1])
    cf = cr.compile(lambda s: F.cross_entropy(s, y))
    hc = hessian(lambda s: cf(s))(x0)
    he = hessian(lambda s: F.cross_entropy(s, y))(x0)
    np.testing.assert_allclose(np.asarray(hc.data), np.asarray(he.data), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- forward_backward
def test_forward_backward_equals_call_and_backward():
    model, twin = mlp(), mlp()
    x, y = batch()
    cf = cr.compile(lambda x_, t: F.cross_entropy(model(x_), t))
    loss = cf.forward_backward(x, y)
    ref = F.cross_entropy(twin(x), y)
    ref.backward()
    assert loss.requires_grad is False and loss.shape == ()
    np.testing.assert_allclose(loss.data, ref.data, rtol=1e-12)
    for a, b in zip(grads_of(model), grads_of(twin), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_forward_backward_accumulates_and_owns_each_gradient():
    w = cr.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = cr.Tensor([0.5, -1.0, 2.0])
    cf = cr.compile(lambda x: (w * c + x * x).sum())
    x = cr.Tensor([1.0, 1.0, 1.0], requires_grad=True)
    cf.forward_backward(x)
    cf.forward_backward(x)
    np.testing.assert_allclose(w.grad.data, 2 * c.data)
    np.testing.assert_allclose(x.grad.data, 4 * x.data)
    w.grad.data[...] = 0  # a .grad is its own array: writing it changes nothing else
    np.testing.assert_allclose(c.data, [0.5, -1.0, 2.0])


def test_forward_backward_grad_aliasing_an_input_is_copied():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    x = np.array([3.0, 4.0])
    cf = cr.compile(lambda x_: (w * x_).sum())
    cf.forward_backward(x)
    w.grad.data *= 10
    np.testing.assert_array_equal(x, [3.0, 4.0])


def test_forward_backward_through_a_recorded_argument():
    # an argument made by recorded ops: the gradient must go on through its graph
    a = cr.Tensor([1.0, -2.0], requires_grad=True)
    cf = cr.compile(lambda h: (h * h).sum())
    loss = cf.forward_backward(a * 3.0)
    np.testing.assert_allclose(loss.data, 45.0)
    np.testing.assert_allclose(a.grad.data, 18 * a.data)


def test_forward_backward_runs_hooks():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(np.array(t.grad.data)))
    cr.compile(lambda x: (w * x).sum()).forward_backward(cr.Tensor([5.0, 6.0]))
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [5.0, 6.0])


def test_forward_backward_errors():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(BackwardError, match="one scalar loss"):
        cr.compile(lambda x: w * x).forward_backward(cr.Tensor([1.0, 1.0]))
    with pytest.raises(BackwardError, match="nothing to differentiate"):
        cr.compile(lambda x: (x * 2).sum()).forward_backward(cr.Tensor([1.0, 1.0]))


def test_forward_backward_eager_fallback():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)

    def f(x):
        return (w * x).sum() if float(x[0]) > 0 else (w * w).sum()

    with pytest.warns(UserWarning, match="eagerly"):
        cf = cr.compile(f, fallback="eager")
        loss = cf.forward_backward(cr.Tensor([1.0, 3.0]))
    np.testing.assert_allclose(loss.data, 7.0)
    np.testing.assert_allclose(w.grad.data, [1.0, 3.0])


# ---------------------------------------------------------------------- compile_step
def _eager_steps(model, opt, batches, clip=None):
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if clip is not None:
            optim.clip_grad_norm_(list(model.parameters()), clip)
        opt.step()
        losses.append(float(loss.data))
    return losses


@pytest.mark.parametrize(
    "make, clip",
    [
        (lambda ps: optim.SGD(ps, lr=0.1), None),
        (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3), 0.5),
        (lambda ps: optim.Adam(ps, lr=0.01), 0.1),
        (lambda ps: optim.AdamW(ps, lr=0.01), None),
    ],
)
def test_compile_step_equals_the_eager_loop(make, clip):
    model, twin = mlp(), mlp()
    opt, opt2 = make(list(model.parameters())), make(list(twin.parameters()))
    batches = [batch(seed) for seed in range(5)]
    step = optim.compile_step(lambda x, t: F.cross_entropy(model(x), t), opt, clip_grad_norm=clip)
    losses = [float(step(x, y).data) for x, y in batches]
    ref = _eager_steps(twin, opt2, batches, clip)
    np.testing.assert_allclose(losses, ref, rtol=1e-12)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(p.grad.data, q.grad.data, rtol=1e-12, atol=1e-14)
    assert step.loss_fn.cache_info()["traces"] == 1


def test_compile_step_with_sparse_embedding_and_adam():
    def build():
        rng = np.random.default_rng(0)
        emb = nn.Embedding(30, 5, sparse=True, rng=rng)
        lin = nn.Linear(15, 4, rng=rng)
        return emb, lin

    (e1, l1), (e2, l2) = build(), build()
    params1 = list(e1.parameters()) + list(l1.parameters())
    params2 = list(e2.parameters()) + list(l2.parameters())
    o1, o2 = optim.Adam(params1, lr=0.05), optim.Adam(params2, lr=0.05)
    rng = np.random.default_rng(1)
    data = [(rng.integers(0, 30, (8, 3)), rng.integers(0, 4, 8)) for _ in range(4)]

    def loss_of(emb, lin, ids, t):
        return F.cross_entropy(lin(emb(ids).reshape(ids.shape[0], -1)), t)

    step = optim.compile_step(lambda ids, t: loss_of(e1, l1, ids, t), o1, clip_grad_norm=1.0)
    for ids, t in data:
        step(ids, t)
        o2.zero_grad()
        loss_of(e2, l2, ids, t).backward()
        optim.clip_grad_norm_(params2, 1.0)
        o2.step()
        assert isinstance(e1.weight.grad, cr.RowSparse)
    for p, q in zip(params1, params2, strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6, atol=1e-7)


def test_compile_step_argument_checks():
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    fn = lambda x, t: F.cross_entropy(model(x), t)  # noqa: E731
    with pytest.raises(ChainruleError, match="chainrule optimiser"):
        optim.compile_step(fn, object())
    for bad in (0, -1.0, float("nan"), "5", True):
        with pytest.raises(ChainruleError, match="clip_grad_norm"):
            optim.compile_step(fn, opt, clip_grad_norm=bad)
    with pytest.raises(ChainruleError, match="compiled already"):
        optim.compile_step(cr.compile(fn), opt, cache_size=2)
    step = optim.compile_step(cr.compile(fn), opt, clip_grad_norm=1)
    assert "SGD" in repr(step) and "clip_grad_norm=1" in repr(step)


def test_forward_backward_of_a_function_returning_a_captured_tensor():
    w = cr.Tensor(2.0, requires_grad=True)
    loss = cr.compile(lambda x: w).forward_backward(cr.Tensor([1.0]))
    assert float(loss.data) == 2.0 and float(w.grad.data) == 1.0
    loss.data[...] = 5.0  # the loss is not w's array
    assert float(w.data) == 2.0


def test_compiled_outputs_never_share_an_input_array():
    w = cr.Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    x = cr.Tensor(np.arange(4.0))
    for fn in (lambda x_: w, lambda x_: w.reshape(2, 2), lambda x_: x_.reshape(2, 2)):
        out = cr.compile(fn)(x)
        out.data[...] = -1.0
        np.testing.assert_array_equal(w.data, [1.0, 2.0, 3.0, 4.0])
        np.testing.assert_array_equal(x.data, np.arange(4.0))
        with cr.no_grad():
            out = cr.compile(fn)(x)
        out.data[...] = -1.0
        np.testing.assert_array_equal(w.data, [1.0, 2.0, 3.0, 4.0])
        np.testing.assert_array_equal(x.data, np.arange(4.0))


def test_eager_cross_entropy_backward_reuses_the_kept_softmax(monkeypatch):
    from chainrule.ops import fused

    calls = []
    monkeypatch.setattr(fused, "_ce_grad", lambda *a: calls.append(1) or None)
    x0 = np.random.default_rng(0).normal(size=(5, 4))
    y = np.array([0, 3, 1, 1, 2])
    s = cr.Tensor(x0, requires_grad=True)
    F.cross_entropy(s, y).backward()  # recorded: the softmax was kept, never recomputed
    assert not calls
    p = np.exp(x0 - x0.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(5), y] -= 1
    np.testing.assert_allclose(s.grad.data, p / 5, rtol=1e-12)


def test_eager_kept_softmax_with_a_retained_graph_and_after_the_last_pass():
    from chainrule.core.kept import _KEPT

    x0 = np.random.default_rng(1).normal(size=(4, 3))
    y = np.array([0, 2, 1, 1])
    s = cr.Tensor(x0, requires_grad=True)
    loss = F.cross_entropy(s, y)
    assert id(loss.data) in _KEPT
    loss.backward(retain_graph=True)
    first = np.array(s.grad.data)
    assert id(loss.data) in _KEPT  # a retained graph may backward again
    loss.backward()
    np.testing.assert_allclose(s.grad.data, 2 * first, rtol=1e-12)
    assert id(loss.data) not in _KEPT  # a loss kept for later keeps no softmax alive


def test_eager_kept_gradient_takes_each_rows_upstream_and_stays_intact():
    # the forward keeps (softmax − onehot)·c; each backward multiplies it by the upstream
    # gradient into a new array, so a second pass over a retained graph sees it unchanged
    rng = np.random.default_rng(2)
    x0 = rng.normal(size=(5, 4))
    y = np.array([0, 3, -100, 1, 2])
    w = rng.random(4) + 0.5
    s = cr.Tensor(x0, requires_grad=True)
    per = F.cross_entropy(s, y, weight=w, reduction="none")
    u = rng.normal(size=5)
    per.backward(u, retain_graph=True)
    first = np.array(s.grad.data)
    per.backward(u)
    p = np.exp(x0 - x0.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    keep = y != -100
    p[np.arange(5)[keep], y[keep]] -= 1
    expected = p * (np.where(keep, w[np.where(keep, y, 0)], 0.0) * u)[:, None]
    np.testing.assert_allclose(first, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s.grad.data, 2 * expected, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------- targets at run time
@pytest.mark.parametrize("bad", [[0, 4], [-1, 0], [-100, 9]])
def test_compiled_cross_entropy_checks_targets_on_every_call(bad):
    # the Python-side checks of F.cross_entropy run only while tracing: the op itself
    # refuses a target that is no class (a negative one would silently wrap around)
    model = mlp()
    cf = cr.compile(lambda x, t: F.cross_entropy(model(x), t))
    x, y = batch(n=2)
    cf.forward_backward(x, y)
    for call in (cf, cf.forward_backward):
        with pytest.raises(cr.OpError, match=r"targets must lie in \[0, 4\)"):
            call(x, np.array(bad))
    assert cf.cache_info()["traces"] == 1


def test_compiled_cross_entropy_ignore_index_inside_the_classes():
    model = mlp()
    loss = lambda x, t: F.cross_entropy(model(x), t, ignore_index=2)  # noqa: E731
    cf = cr.compile(loss)
    x, _ = batch()
    for y in (np.array([0, 1, 3, 0, 1, 3, 0, 1]), np.array([2, 1, 2, 0, 2, 3, 2, 1])):
        model.zero_grad()
        loss(x, y).backward()
        expected = grads_of(model)
        model.zero_grad()
        cf.forward_backward(x, y)
        for g, e in zip(grads_of(model), expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15)


def test_forward_backward_seed_is_never_written():
    model = mlp()
    cf = cr.compile(lambda x, t: F.cross_entropy(model(x), t))
    x, y = batch()
    cf.forward_backward(x, y)
    seed = cf._last.seed
    assert seed is not None and not seed.flags.writeable and seed == 1
    per_row = cr.compile(lambda x, t: F.cross_entropy(model(x), t, reduction="none"))
    per_row(x, y)
    assert per_row._last.seed is None  # not one scalar: forward_backward refuses it
    with pytest.raises(BackwardError, match="one scalar loss"):
        per_row.forward_backward(x, y)


LOSSES = {
    "cross_entropy": lambda x, t: F.cross_entropy(x, t),
    "nll_loss": lambda x, t: F.nll_loss(F.log_softmax(x, dim=1), t, ignore_index=2),
    "multi_margin_loss": lambda x, t: F.multi_margin_loss(x, t),
    "multiclass_svm_loss": lambda x, t: F.multiclass_svm_loss(x, t, reduction="sum"),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_compiled_class_losses_read_and_check_each_calls_targets(name):
    # every class-target loss compiles, re-reads the targets on each call (equal to eager
    # for targets the trace never saw) and refuses labels that are no class
    loss = LOSSES[name]
    cf = cr.compile(loss)
    rng = np.random.default_rng(3)
    x = cr.Tensor(rng.normal(size=(6, 4)), requires_grad=True)
    for y in (rng.integers(0, 4, 6), rng.integers(0, 4, 6), np.array([2, 2, 2, 0, 1, 3])):
        x.grad = None
        expected = loss(x, y)
        expected.backward()
        g = np.array(x.grad.data)
        x.grad = None
        got = cf.forward_backward(x, y)
        np.testing.assert_allclose(got.data, expected.data, rtol=1e-12)
        np.testing.assert_allclose(x.grad.data, g, rtol=1e-12, atol=1e-15)
    assert cf.cache_info()["traces"] == 1
    for bad in ([0, 1, 2, 3, 4, 0], [0, -1, 0, 0, 0, 0]):
        with pytest.raises(cr.OpError, match=rf"{name}: targets must lie in \[0, 4\)"):
            cf(x, np.array(bad))


def test_nll_loss_matches_torch_with_weights_and_ignored_rows():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 4))
    t = np.array([0, 1, 3, -100, 2, 1])
    w = rng.random(4) + 0.5
    for kw in ({}, {"reduction": "sum"}, {"reduction": "none"}):
        xt = cr.Tensor(x, requires_grad=True)
        F.nll_loss(F.log_softmax(xt, dim=1), t, weight=w, **kw).sum().backward()
        tx = torch.tensor(x, requires_grad=True)
        tl = torch.nn.functional.nll_loss(
            torch.log_softmax(tx, 1), torch.tensor(t), weight=torch.tensor(w), **kw
        )
        tl.sum().backward()
        np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    all_ignored = F.nll_loss(cr.Tensor(x), np.full(6, -100))
    assert np.isnan(all_ignored.data)  # as PyTorch: 0 / 0
    none = np.zeros((0, 4))
    got = F.nll_loss(cr.Tensor(none), np.zeros(0, dtype=np.int64))
    want = torch.nn.functional.nll_loss(torch.tensor(none), torch.zeros(0, dtype=torch.long))
    assert np.isnan(got.data) and torch.isnan(want)  # a mean over no rows


@pytest.mark.parametrize(
    "loss",
    [
        lambda x, t, w: F.cross_entropy(x, t, weight=w),
        lambda x, t, w: F.nll_loss(F.log_softmax(x, dim=1), t, weight=w),
        lambda x, t, w: F.multi_margin_loss(x, t, weight=w),
    ],
    ids=["cross_entropy", "nll_loss", "multi_margin_loss"],
)
def test_class_weights_passed_to_a_compiled_loss_are_read_each_call(loss):
    # weights as an argument: a compiled call must use this call's (multi_margin_loss read
    # them with NumPy and could not be compiled)
    rng = np.random.default_rng(6)
    t = np.array([0, 2, 1, 1, 0])
    for dtype in (np.float64, np.float32):  # float32 scores: the float64 weights are cast
        x = cr.Tensor(rng.normal(size=(5, 3)).astype(dtype), requires_grad=True)
        cf = cr.compile(loss)
        cf.forward_backward(x, t, cr.Tensor(np.ones(3)))
        for w in (np.array([1.0, 5.0, 0.1]), np.array([0.2, 0.3, 2.0])):
            x.grad = None
            got = cf.forward_backward(x, t, cr.Tensor(w))
            g = np.array(x.grad.data)
            x.grad = None
            want = loss(x, t, cr.Tensor(w))
            want.backward()
            np.testing.assert_array_equal(got.data, want.data)
            np.testing.assert_array_equal(g, x.grad.data)
        assert cf.cache_info()["traces"] == 1


def test_probability_targets_passed_to_a_compiled_loss_are_read_each_call():
    # float32 scores with float64 (N, C, d) probabilities: cast and moved by ops (a NumPy
    # cast made them a constant of the trace, which compile refused)
    rng = np.random.default_rng(7)
    x = cr.Tensor(rng.normal(size=(2, 3, 4)).astype(np.float32), requires_grad=True)
    cf = cr.compile(lambda s, q: F.cross_entropy(s, q))
    for _ in range(3):
        q = rng.random((2, 3, 4))
        q /= q.sum(axis=1, keepdims=True)
        x.grad = None
        got = cf.forward_backward(x, cr.Tensor(q))
        g = np.array(x.grad.data)
        x.grad = None
        want = F.cross_entropy(x, cr.Tensor(q))
        want.backward()
        np.testing.assert_array_equal(got.data, want.data)
        np.testing.assert_array_equal(g, x.grad.data)
    assert cf.cache_info()["traces"] == 1


@pytest.mark.filterwarnings("error")
def test_cross_entropy_of_no_rows_or_all_ignored_is_nan_without_warnings():
    # as PyTorch: a mean over no counted rows is 0 / 0, quietly (eager and compiled)
    cf = cr.compile(lambda a, t: F.cross_entropy(a, t))
    for x0, t in ((np.zeros((0, 3)), np.zeros(0, dtype=np.int64)), (np.ones((2, 3)), [-100] * 2)):
        t = np.asarray(t)
        for run in (lambda x, t: F.cross_entropy(x, t), cf.forward_backward):
            x = cr.Tensor(x0, requires_grad=True)
            loss = run(x, t)
            if loss.requires_grad:
                loss.backward()
            assert np.isnan(loss.data) and x.grad.shape == x0.shape


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_compiled_embedding_reads_and_checks_each_calls_ids(sparse, padding_idx):
    # the ids' range check and the padding mask are ops: a compiled lookup re-reads both
    rng = np.random.default_rng(5)
    table = cr.Tensor(rng.normal(size=(5, 3)), requires_grad=True)

    def f(ids):
        return (F.embedding(ids, table, padding_idx=padding_idx, sparse=sparse) ** 2).sum()

    cf = cr.compile(f)
    for ids in ([[0, 1], [2, 3]], [[4, 0], [0, 0]], [[3, 3], [1, 2]]):
        ids = np.array(ids)
        table.grad = None
        expected = f(ids)
        expected.backward()
        g = np.array(np.asarray(table.grad))
        table.grad = None
        got = cf.forward_backward(ids)
        np.testing.assert_allclose(got.data, expected.data, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(table.grad), g, rtol=1e-12)
    assert cf.cache_info()["traces"] == 1
    for bad in ([[0, 1], [2, -1]], [[0, 1], [5, 0]]):
        with pytest.raises(cr.OpError, match=r"embedding: ids must lie in \[0, 5\)"):
            cf(np.array(bad))


@pytest.mark.parametrize("name", ["fmin", "fmax"])
def test_compiled_fmin_fmax_look_for_nans_in_every_call(name):
    # traced on NaN-free values, a later call with NaNs must still ignore them
    fn = getattr(cr, name)
    b = cr.Tensor([2.0, 0.5, np.nan])
    cf = cr.compile(lambda a: (fn(a, b) * cr.Tensor([1.0, 2.0, 3.0])).sum())
    a = cr.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    cf.forward_backward(a)
    for values in ([np.nan, 2.0, 3.0], [np.nan, np.nan, 1.0], [4.0, 0.1, -1.0]):
        a = cr.Tensor(values, requires_grad=True)
        got = cf.forward_backward(a)
        expected = (getattr(np, name)(values, b.data) * [1.0, 2.0, 3.0]).sum()
        np.testing.assert_allclose(got.data, expected)
        shown = ~np.isnan(values) & (
            np.isnan(b.data) | (getattr(np, name)(values, b.data) == np.asarray(values))
        )
        np.testing.assert_allclose(a.grad.data, np.where(shown, [1.0, 2.0, 3.0], 0.0))
    assert cf.cache_info()["traces"] == 1
