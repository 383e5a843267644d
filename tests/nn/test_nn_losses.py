"""Each loss against its written-out formula (NumPy) and against PyTorch when importable."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.testing.gradcheck import gradcheck


def _lse(x):
    m = x.max(axis=1, keepdims=True)
    return (np.log(np.exp(x - m).sum(axis=1, keepdims=True)) + m)[:, 0]


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _grad(fn, x, *args, **kw):
    t = cr.Tensor(x, requires_grad=True)
    out = fn(t, *args, **kw)
    out.backward() if out.size == 1 else out.sum().backward()
    return out.data, t.grad.data


# ---------------------------------------------------------------------- cross-entropy
def test_cross_entropy_formula_and_gradient(rng):
    x = rng.normal(size=(6, 5)) * 3
    y = rng.integers(0, 5, 6)
    val, g = _grad(F.cross_entropy, x, y)
    ref = np.mean(_lse(x) - x[np.arange(6), y])
    np.testing.assert_allclose(val, ref, rtol=1e-12)
    onehot = np.eye(5)[y]
    np.testing.assert_allclose(g, (_softmax(x) - onehot) / 6, atol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1000.0, 0.0], [-1000.0, 1000.0]])
    val, g = _grad(F.cross_entropy, x, np.array([0, 0]))
    assert np.isfinite(val) and np.isfinite(g).all()
    np.testing.assert_allclose(val, (0.0 + 2000.0) / 2)


def test_cross_entropy_weights_and_ignore_index_formula(rng):
    x = rng.normal(size=(7, 4))
    y = np.array([0, 1, 3, -100, 2, 1, -100])
    w = np.array([0.5, 2.0, 1.0, 3.0])
    valid = y != -100
    per = np.where(valid, _lse(x) - x[np.arange(7), np.where(valid, y, 0)], 0.0)
    wi = np.where(valid, w[np.where(valid, y, 0)], 0.0)
    for red, ref in (
        ("mean", (wi * per).sum() / wi.sum()),
        ("sum", (wi * per).sum()),
        ("none", wi * per),
    ):
        out = F.cross_entropy(cr.Tensor(x), y, weight=w, reduction=red)
        np.testing.assert_allclose(out.data, ref, rtol=1e-12)


def test_cross_entropy_gradcheck_weighted():
    rng = np.random.default_rng(3)
    y = np.array([0, 2, -1, 1])
    w = np.array([1.0, 0.3, 2.0])
    assert gradcheck(
        lambda x: F.cross_entropy(x, y, weight=w, ignore_index=-1),
        cr.Tensor(rng.normal(size=(4, 3))),
    )


def test_cross_entropy_kdim_and_1d(rng):
    x = rng.normal(size=(2, 3, 4))  # (N, C, d)
    y = rng.integers(0, 3, (2, 4))
    flat = np.moveaxis(x, 1, -1).reshape(-1, 3)
    ref = _lse(flat) - flat[np.arange(8), y.reshape(-1)]
    out = F.cross_entropy(cr.Tensor(x), y, reduction="none")
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out.data.reshape(-1), ref, rtol=1e-12)
    one = F.cross_entropy(cr.Tensor(x[0, :, 0]), np.array(y[0, 0]))
    np.testing.assert_allclose(one.data, ref[0], rtol=1e-12)


def test_cross_entropy_probability_targets(rng):
    x = rng.normal(size=(3, 4))
    p = _softmax(rng.normal(size=(3, 4)))
    out = F.cross_entropy(cr.Tensor(x), p)
    logp = x - _lse(x)[:, None]
    np.testing.assert_allclose(out.data, -(p * logp).sum(axis=1).mean(), rtol=1e-12)


def test_cross_entropy_errors():
    x = cr.Tensor(np.zeros((2, 3)))
    with pytest.raises(cr.OpError, match=r"targets must lie in \[0, 3\)"):
        F.cross_entropy(x, [0, 3])
    with pytest.raises(cr.ShapeError, match="2 rows of scores but 3 targets"):
        F.cross_entropy(x, [0, 1, 2])
    with pytest.raises(cr.OpError, match="reduction"):
        F.cross_entropy(x, [0, 1], reduction="avg")
    with pytest.raises(cr.ShapeError, match="weight"):
        F.cross_entropy(x, [0, 1], weight=np.ones(2))


def test_nll_equals_cross_entropy_of_log_softmax(rng):
    x = cr.Tensor(rng.normal(size=(5, 3)))
    y = np.array([0, 1, 2, 1, -100])
    np.testing.assert_allclose(
        F.nll_loss(F.log_softmax(x, 1), y).data, F.cross_entropy(x, y).data, rtol=1e-12
    )


# ---------------------------------------------------------------------- BCE with logits
def _bce_ref(x, y, pw=None):
    sp = np.log1p(np.exp(-np.abs(x)))
    if pw is None:
        return np.maximum(x, 0) - x * y + sp
    return (1 - y) * x + (1 + (pw - 1) * y) * (np.maximum(-x, 0) + sp)


def test_bce_with_logits_formula_gradient_and_stability(rng):
    x = np.concatenate([rng.normal(size=8) * 4, [0.0, 800.0, -800.0]])
    y = rng.random(x.shape)
    val, g = _grad(F.binary_cross_entropy_with_logits, x, y, reduction="none")
    np.testing.assert_allclose(val, _bce_ref(x, y), rtol=1e-12, atol=1e-15)
    sig = 1 / (1 + np.exp(-np.clip(x, -500, 500)))
    np.testing.assert_allclose(g, sig - y, atol=1e-12)  # exact at x = 0 too
    pw = np.linspace(0.5, 3, x.size)
    val, g = _grad(F.binary_cross_entropy_with_logits, x, y, pos_weight=pw, reduction="none")
    np.testing.assert_allclose(val, _bce_ref(x, y, pw), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g, (1 - y) - (1 + (pw - 1) * y) * (1 - sig), atol=1e-12)


def test_bce_weight_and_mean(rng):
    x, y, w = rng.normal(size=(3, 2)), rng.random((3, 2)), rng.random((3, 2))
    out = F.binary_cross_entropy_with_logits(cr.Tensor(x), y, weight=w)
    np.testing.assert_allclose(out.data, (w * _bce_ref(x, y)).mean(), rtol=1e-12)


# ---------------------------------------------------------------------- margins, mse, l2
def _svm_ref(s, y, margin=1.0):
    n = len(y)
    m = np.maximum(0, s - s[np.arange(n), y][:, None] + margin)
    m[np.arange(n), y] = 0
    return m.sum(axis=1)


def test_multiclass_svm_lecture_example():
    # CS231n: scores for (cat, car, frog) images, correct classes cat, car, frog
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = np.array([0, 1, 2])
    out = F.multiclass_svm_loss(cr.Tensor(s), y, reduction="none")
    np.testing.assert_allclose(out.data, [2.9, 0.0, 12.9], atol=1e-12)
    np.testing.assert_allclose(F.multiclass_svm_loss(cr.Tensor(s), y).data, 15.8 / 3)


def test_multi_margin_is_svm_over_classes_and_gradient(rng):
    s = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, 6)
    val, g = _grad(F.multi_margin_loss, s, y)
    np.testing.assert_allclose(val, _svm_ref(s, y).mean() / 4, rtol=1e-12)
    # gradient: +1 per violating j, -(count) at y, /C/N
    viol = (s - s[np.arange(6), y][:, None] + 1 > 0).astype(float)
    viol[np.arange(6), y] = 0
    ref = viol.copy()
    ref[np.arange(6), y] = -viol.sum(axis=1)
    np.testing.assert_allclose(g, ref / 4 / 6, atol=1e-12)
    sq = F.multi_margin_loss(cr.Tensor(s), y, p=2, margin=0.5, reduction="sum")
    m = np.maximum(0, s - s[np.arange(6), y][:, None] + 0.5) ** 2
    m[np.arange(6), y] = 0
    np.testing.assert_allclose(sq.data, m.sum() / 4, rtol=1e-12)


def test_mse_full_and_half(rng):
    f, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    val, g = _grad(F.mse_loss, f, y)
    np.testing.assert_allclose(val, ((f - y) ** 2).mean())
    np.testing.assert_allclose(g, 2 * (f - y) / 12)
    val, g = _grad(F.mse_loss, f, y, reduction="sum", half=True)
    np.testing.assert_allclose(val, 0.5 * ((f - y) ** 2).sum())
    np.testing.assert_allclose(g, f - y)
    with pytest.raises(cr.ShapeError):
        F.mse_loss(cr.Tensor(f), y[:, :1])


def test_l2_penalty(rng):
    a = cr.Tensor(rng.normal(size=(3, 2)), requires_grad=True)
    b = cr.Tensor(rng.normal(size=4), requires_grad=True)
    pen = F.l2_penalty([a, b], 0.3)
    np.testing.assert_allclose(pen.data, 0.3 * ((a.data**2).sum() + (b.data**2).sum()))
    pen.backward()
    np.testing.assert_allclose(a.grad.data, 0.6 * a.data)
    assert F.l2_penalty([], 1.0).item() == 0.0


def test_loss_modules_match_functions(rng):
    x = cr.Tensor(rng.normal(size=(4, 3)))
    y = np.array([0, 2, 1, 1])
    w = np.array([1.0, 2.0, 0.5])
    pairs = [
        (nn.CrossEntropyLoss(weight=w), F.cross_entropy(x, y, weight=w)),
        (nn.MultiMarginLoss(margin=0.5), F.multi_margin_loss(x, y, margin=0.5)),
        (nn.MulticlassSVMLoss(), F.multiclass_svm_loss(x, y)),
    ]
    for mod, ref in pairs:
        np.testing.assert_allclose(mod(x, y).data, ref.data)
    t = rng.random((4, 3))
    np.testing.assert_allclose(
        nn.BCEWithLogitsLoss()(x, t).data, F.binary_cross_entropy_with_logits(x, t).data
    )
    np.testing.assert_allclose(nn.MSELoss(half=True)(x, t).data, F.mse_loss(x, t, half=True).data)


# ---------------------------------------------------------------------- PyTorch oracle
@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def _both(fn_cr, fn_t, torch, x, *args):
    t = cr.Tensor(x, requires_grad=True)
    out = fn_cr(t, *args)
    out.backward()
    tt = torch.tensor(x, requires_grad=True)
    ref = fn_t(tt, *args)
    ref.backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.grad.data, tt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_probability_targets_get_their_gradient_as_in_torch(torch, rng):
    # (N, C, d) scores, float32, with class weights; the targets are a Tensor that
    # requires grad: PyTorch differentiates the loss in them too
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    q = rng.random((2, 3, 4))
    q /= q.sum(axis=1, keepdims=True)
    w = rng.random(3) + 0.5
    xt, qt = cr.Tensor(x, requires_grad=True), cr.Tensor(q, requires_grad=True)
    out = F.cross_entropy(xt, qt, weight=w)
    out.backward()
    tx = torch.tensor(x, requires_grad=True)
    tq = torch.tensor(q.astype(np.float32), requires_grad=True)
    ref = torch.nn.functional.cross_entropy(tx, tq, weight=torch.tensor(w, dtype=torch.float32))
    ref.backward()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(qt.grad.data, tq.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_cross_entropy_matches_torch(torch, rng):
    tf = torch.nn.functional
    x = rng.normal(size=(9, 5)) * 2
    y = rng.integers(0, 5, 9)
    y[[2, 7]] = 4
    w = rng.random(5) + 0.1
    for kw in (
        {},
        {"weight": w},
        {"ignore_index": 4},
        {"weight": w, "ignore_index": 4, "reduction": "sum"},
    ):

        def ours(t, kw=kw):
            return F.cross_entropy(t, y, **kw)

        def theirs(t, kw=kw):
            kk = dict(kw)
            if "weight" in kk:
                kk["weight"] = torch.tensor(kk["weight"])
            return tf.cross_entropy(t, torch.tensor(y), **kk)

        _both(ours, theirs, torch, x)


def test_other_losses_match_torch(torch, rng):
    tf = torch.nn.functional
    x = rng.normal(size=(6, 4))
    x[0, 0] = 0.0
    yb = rng.random((6, 4))
    pw = rng.random(4) + 0.5
    _both(
        lambda t: F.binary_cross_entropy_with_logits(t, yb),
        lambda t: tf.binary_cross_entropy_with_logits(t, torch.tensor(yb)),
        torch,
        x,
    )
    _both(
        lambda t: F.binary_cross_entropy_with_logits(t, yb, pos_weight=pw),
        lambda t: tf.binary_cross_entropy_with_logits(
            t, torch.tensor(yb), pos_weight=torch.tensor(pw)
        ),
        torch,
        x,
    )
    yc = rng.integers(0, 4, 6)
    w = rng.random(4) + 0.5
    _both(
        lambda t: F.multi_margin_loss(t, yc, weight=w),
        lambda t: tf.multi_margin_loss(t, torch.tensor(yc), weight=torch.tensor(w)),
        torch,
        x,
    )
    _both(
        lambda t: F.multi_margin_loss(t, yc, p=2, margin=0.7, reduction="sum"),
        lambda t: tf.multi_margin_loss(t, torch.tensor(yc), p=2, margin=0.7, reduction="sum"),
        torch,
        x,
    )
    _both(lambda t: F.mse_loss(t, yb), lambda t: tf.mse_loss(t, torch.tensor(yb)), torch, x)


# ---------------------------------------------------------------------- integer scores
INT_DTYPES = (np.int64, np.int32, np.int8, np.bool_)


def _int_losses():
    w = np.array([0.5, 2.0, 1.0])
    y = np.array([0, 2, 1, 1])
    probs = np.array([[0.2, 0.3, 0.5]] * 4)
    yb = np.array([[0.3, 0.7, 1.0]] * 4)
    return {
        "cross_entropy": lambda x: F.cross_entropy(x, y),
        "cross_entropy_weighted_none": lambda x: F.cross_entropy(x, y, weight=w, reduction="none"),
        "cross_entropy_probs": lambda x: F.cross_entropy(x, probs),
        "nll_weighted": lambda x: F.nll_loss(x, y, weight=w),
        "bce_soft_targets": lambda x: F.binary_cross_entropy_with_logits(x, yb),
        "bce_pos_weight": lambda x: F.binary_cross_entropy_with_logits(x, yb, pos_weight=w),
        "multi_margin_weighted": lambda x: F.multi_margin_loss(x, y, weight=w, margin=1),
        "svm_int_margin": lambda x: F.multiclass_svm_loss(x, y, margin=1, reduction="sum"),
        "mse": lambda x: F.mse_loss(x, np.zeros((4, 3), dtype=np.int64)),
        "mse_half": lambda x: F.mse_loss(x, np.ones((4, 3)), half=True),
        "module_ce": lambda x: nn.CrossEntropyLoss(weight=w)(x, y),
    }


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(_int_losses()))
def test_losses_of_integer_scores_follow_numpy(name, dtype):
    from chainrule.testing.sweep import integer_mismatch

    fn = _int_losses()[name]
    x = np.array([[1, 2, 3], [0, -2, 1], [3, 3, -1], [2, 0, 0]])
    xi = (x > 0) if dtype is np.bool_ else x.astype(dtype)
    if name == "svm_int_margin" and dtype is np.bool_:
        # s_j - s_y on bools: NumPy refuses bool - bool, and so does the loss
        with pytest.raises(cr.ChainruleError, match="boolean subtract"):
            fn(cr.Tensor(xi))
        return
    ref = fn(cr.Tensor(xi.astype(np.float64))).data
    out = fn(cr.Tensor(xi)).data
    msg = integer_mismatch(out, ref, [xi.dtype])
    assert msg is None, f"{name} on {np.dtype(dtype)}: {msg}"


def test_cross_entropy_of_integer_scores_is_the_float_loss():
    # was the integer 1 (the reduction was cast back to the scores' dtype)
    loss = F.cross_entropy(cr.Tensor([[1, 2, 3]]), cr.Tensor([0]))
    ref = F.cross_entropy(cr.Tensor([[1.0, 2.0, 3.0]]), cr.Tensor([0]))
    assert loss.dtype == np.float64
    np.testing.assert_allclose(loss.data, ref.data, rtol=1e-15)
    # class weights and soft targets are no longer truncated to integers
    w = np.array([0.5, 2.0, 1.0])
    np.testing.assert_allclose(
        F.cross_entropy(cr.Tensor([[1, 2, 3]]), [0], weight=w, reduction="sum").data,
        0.5 * ref.data,
        rtol=1e-15,
    )
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(cr.Tensor([1, 2]), [0.3, 0.7]).data,
        F.binary_cross_entropy_with_logits(cr.Tensor([1.0, 2.0]), [0.3, 0.7]).data,
    )
