"""Learning-rate schedules (closed forms, PyTorch, state dicts) and gradient clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.optim import lr_scheduler


def _opt(lr=1.0):
    return optim.SGD([nn.Parameter(np.zeros(1))], lr=lr)


def _lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr()[0])
        sched.step()
    return out


def test_closed_forms():
    np.testing.assert_allclose(
        _lrs(lr_scheduler.StepLR(_opt(), 3, 0.5), 7), [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    )
    np.testing.assert_allclose(
        _lrs(lr_scheduler.ExponentialLR(_opt(2.0), 0.9), 4), [2 * 0.9**e for e in range(4)]
    )
    cos = _lrs(lr_scheduler.CosineAnnealingLR(_opt(), T_max=4, eta_min=0.1), 9)
    ref = [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(9)]
    np.testing.assert_allclose(cos, ref)
    assert cos[4] == pytest.approx(0.1)


def test_scheduler_sets_group_lr_and_resumes_from_state_dict(tmp_path):
    opt = _opt(0.5)
    sched = lr_scheduler.StepLR(opt, 2, 0.1)
    for _ in range(3):
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)  # epoch 3: one decay
    path = tmp_path / "s"
    cr.io.save({"sched": sched.state_dict(), "optim": opt.state_dict()}, path)
    st = cr.io.load(path)
    opt2 = _opt(0.5)
    opt2.load_state_dict(st["optim"])
    sched2 = lr_scheduler.StepLR(opt2, 1, 1.0)
    sched2.load_state_dict(st["sched"])
    assert _lrs(sched2, 3) == pytest.approx(_lrs(sched, 3))
    with pytest.raises(cr.ChainruleError, match="unknown entries"):
        sched2.load_state_dict({"bogus": 1})


def test_bad_arguments():
    with pytest.raises(cr.ChainruleError):
        lr_scheduler.StepLR(_opt(), 0)
    with pytest.raises(cr.ChainruleError):
        lr_scheduler.CosineAnnealingLR(_opt(), 0)
    with pytest.raises(cr.ChainruleError, match="initial_lr"):
        lr_scheduler.ExponentialLR(_opt(), 0.9, last_epoch=3)


@pytest.mark.parametrize(
    "make",
    [
        lambda o, t: (lr_scheduler.StepLR(o, 3, 0.3), t.optim.lr_scheduler.StepLR(t.o, 3, 0.3)),
        lambda o, t: (
            lr_scheduler.ExponentialLR(o, 0.8),
            t.optim.lr_scheduler.ExponentialLR(t.o, 0.8),
        ),
        lambda o, t: (
            lr_scheduler.CosineAnnealingLR(o, 5, 0.01),
            t.optim.lr_scheduler.CosineAnnealingLR(t.o, 5, 0.01),
        ),
    ],
)
def test_matches_torch(make):
    torch = pytest.importorskip("torch")
    torch.o = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.7)
    ours, theirs = make(_opt(0.7), torch)
    for _ in range(13):
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], rel=1e-9, abs=1e-12)
        torch.o.step()
        ours.step()
        theirs.step()
    del torch.o


def test_clip_grad_norm_dense():
    a = nn.Parameter(np.zeros(2))
    b = nn.Parameter(np.zeros((2, 2)))
    a.grad = cr.Tensor(np.array([3.0, 0.0]))
    b.grad = cr.Tensor(np.array([[0.0, 4.0], [0.0, 0.0]]))
    c = nn.Parameter(np.zeros(1))  # no gradient: ignored
    total = optim.clip_grad_norm_([a, b, c], 1.0)
    assert isinstance(total, cr.Tensor) and float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad.data, [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.data[0, 1], 0.8, rtol=1e-5)
    assert float(optim.clip_grad_norm_([a, b], 10.0)) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad.data, [0.6, 0.0], rtol=1e-5)  # below max: unchanged
    assert float(optim.clip_grad_norm_([a, b], 10.0, norm_type=math.inf)) == pytest.approx(
        0.8, rel=1e-5
    )
    assert float(optim.clip_grad_norm_([a, b], 10.0, norm_type=1)) == pytest.approx(1.4, rel=1e-5)
    b.grad.data[0, 0] = np.nan
    with pytest.raises(cr.GradientError, match="NaN"):
        optim.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    gs = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    ps = [nn.Parameter(np.zeros_like(g)) for g in gs]
    ts = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in gs]
    for p, t, g in zip(ps, ts, gs, strict=True):
        p.grad = cr.Tensor(g.copy())
        t.grad = torch.tensor(g)
    n1 = optim.clip_grad_norm_(ps, 1.5)
    n2 = torch.nn.utils.clip_grad_norm_(ts, 1.5)
    assert float(n1) == pytest.approx(float(n2))
    for p, t in zip(ps, ts, strict=True):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-12)


def test_clip_grad_value():
    p = nn.Parameter(np.zeros(3))
    p.grad = cr.Tensor(np.array([-5.0, 0.5, 5.0]))
    optim.clip_grad_value_([p], 1.0)
    assert p.grad.data.tolist() == [-1.0, 0.5, 1.0]
