"""Optimisers: one hand-computed step each, PyTorch over 10 steps, errors, state dicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


def _param_with_grad(w, g):
    p = nn.Parameter(np.asarray(w, dtype=np.float64))
    p.grad = cr.Tensor(np.asarray(g, dtype=np.float64))
    return p


def test_sgd_hand_step():
    p = _param_with_grad([1.0, -2.0], [0.5, 1.0])
    optim.SGD([p], lr=0.1, weight_decay=0.2).step()
    # d = g + 0.2 w = (0.7, 0.6); w - 0.1 d
    np.testing.assert_allclose(p.data, [1.0 - 0.07, -2.0 - 0.06])


def test_sgd_momentum_nesterov_hand_steps():
    p = _param_with_grad([1.0], [2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    opt.step()  # b = 2; d = 2 + 0.9*2 = 3.8
    np.testing.assert_allclose(p.data, [1.0 - 0.38])
    opt.step()  # b = 0.9*2 + 2 = 3.8; d = 2 + 0.9*3.8 = 5.42
    np.testing.assert_allclose(p.data, [1.0 - 0.38 - 0.542])
    q = _param_with_grad([0.0], [1.0])
    opt = optim.SGD([q], lr=1.0, momentum=0.5, dampening=0.5)
    opt.step()  # b = 1 (no dampening on the first step)
    opt.step()  # b = 0.5 + 0.5*1 = 1
    np.testing.assert_allclose(q.data, [-2.0])


def test_adagrad_hand_step():
    p = _param_with_grad([1.0, 1.0], [3.0, -4.0])
    opt = optim.Adagrad([p], lr=0.5, initial_accumulator_value=1.0, eps=0.0)
    opt.step()
    np.testing.assert_allclose(p.data, [1 - 0.5 * 3 / math.sqrt(10), 1 + 0.5 * 4 / math.sqrt(17)])
    opt.step()
    s = np.array([19.0, 33.0])
    np.testing.assert_allclose(opt.state[p]["sum"], s)


def test_adam_hand_steps():
    p = _param_with_grad([1.0], [0.5])
    opt = optim.Adam([p], lr=0.1, betas=(0.8, 0.9), eps=0.0)
    opt.step()  # first step: m̂ = g, v̂ = g² -> moves by lr
    np.testing.assert_allclose(p.data, [0.9])
    p.grad = cr.Tensor(np.array([-1.0]))
    opt.step()
    m = 0.8 * 0.1 + 0.2 * -1.0
    v = 0.9 * 0.025 + 0.1 * 1.0
    step = 0.1 * (m / (1 - 0.64)) / (math.sqrt(v / (1 - 0.81)))
    np.testing.assert_allclose(p.data, [0.9 - step])


def test_adamw_decouples_weight_decay():
    p = _param_with_grad([2.0], [0.0])
    optim.AdamW([p], lr=0.1, weight_decay=0.5, eps=1e-8).step()
    np.testing.assert_allclose(p.data, [2.0 * (1 - 0.05)])  # zero gradient: only the decay
    q = _param_with_grad([2.0], [0.0])
    optim.Adam([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(q.data, [2.0 - 0.1], rtol=1e-6)  # L2 enters the moments


# ---------------------------------------------------------------------- PyTorch, 10 steps
CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (
        "Adagrad",
        {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.02, "initial_accumulator_value": 0.1},
    ),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.3, "amsgrad": True}),
]


# width 3000: the weight (12,000 elements) takes the scratch-buffer path of the updates,
# the bias (3,000) the temporary-array one
@pytest.mark.parametrize("width", [3, 3000])
@pytest.mark.parametrize("name,kw", CASES)
def test_matches_torch_over_10_steps(name, kw, width):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, width))
    b0 = rng.normal(size=width)
    X = rng.normal(size=(8, 4))
    Y = rng.normal(size=(8, width))
    w, b = nn.Parameter(w0), nn.Parameter(b0)
    opt = getattr(optim, name)([w, b], **kw)
    tw = torch.tensor(w0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    topt = getattr(torch.optim, name)([tw, tb], **kw)
    for _ in range(10):
        opt.zero_grad()
        ((cr.tanh(cr.Tensor(X) @ w + b) - Y) ** 2).mean().backward()
        opt.step()
        topt.zero_grad()
        ((torch.tanh(torch.tensor(X) @ tw + tb) - torch.tensor(Y)) ** 2).mean().backward()
        topt.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------- behaviour
def test_float32_params_stay_float32():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adam([p]), optim.Adagrad([p])):
        p.grad = cr.Tensor(np.ones(3, dtype=np.float32))
        opt.step()
        assert p.dtype == np.float32
        assert all(
            v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray)
        )


def test_skips_params_without_grad_and_updates_in_place():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    data_a = a.data
    a.grad = cr.Tensor(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    opt.step()
    assert b.data.tolist() == [1.0, 1.0] and b not in opt.state
    assert a.data is data_a and a.data[0] < 1


def test_version_bump_catches_stale_graph():
    w = nn.Parameter(np.ones(2))
    y = (w * w).sum()
    w.grad = cr.Tensor(np.ones(2))
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(cr.InplaceError):
        y.backward()


def test_rejects_non_leaf_and_bad_arguments():
    w = cr.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(cr.GradientError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(cr.ChainruleError, match="'lr' is required"):
        optim.SGD([w])
    with pytest.raises(cr.ChainruleError, match="single Tensor"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(cr.ChainruleError, match="more than one place"):
        optim.SGD([w, w], lr=0.1)
    with pytest.raises(cr.ChainruleError, match="empty"):
        optim.Adam([])
    with pytest.raises(cr.ChainruleError, match="learning rate"):
        optim.Adam([w], lr=-1)
    with pytest.raises(cr.ChainruleError, match="betas"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(cr.ChainruleError, match="Nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)


def test_param_groups_have_their_own_lr():
    a, b = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = cr.Tensor(np.ones(1))
    b.grad = cr.Tensor(np.ones(1))
    opt.step()
    assert a.data.tolist() == [-0.1] and b.data.tolist() == [-1.0]
    assert "Parameter Group 1" in repr(opt)


def test_closure_is_evaluated():
    w = nn.Parameter(np.array([3.0]))
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0
    assert w.data.tolist() == [1.5]


def _train(opt_factory, steps, state=None):
    rng = np.random.default_rng(0)
    model = nn.Linear(3, 2, rng=rng, dtype=np.float64)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    opt = opt_factory(model.parameters())
    if state is not None:
        model.load_state_dict(state[0])
        opt.load_state_dict(state[1])
    for _ in range(steps):
        opt.zero_grad()
        ((model(cr.Tensor(X)) - Y) ** 2).sum().backward()
        opt.step()
    return model, opt


@pytest.mark.parametrize(
    "factory",
    [
        lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9),
        lambda ps: optim.Adagrad(ps, lr=0.1),
        lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True),
    ],
)
def test_state_dict_resume_equals_uninterrupted(factory, tmp_path):
    full, _ = _train(factory, 6)
    half, opt = _train(factory, 3)
    path = tmp_path / "ckpt"
    cr.io.save({"model": half.state_dict(), "optim": opt.state_dict()}, path)
    loaded = cr.io.load(path)
    resumed, _ = _train(factory, 3, state=(loaded["model"], loaded["optim"]))
    for p, q in zip(full.parameters(), resumed.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12)


def test_optimizer_load_errors_change_nothing():
    _, opt = _train(lambda ps: optim.Adam(ps, lr=0.1), 2)
    sd = opt.state_dict()
    before = {
        k: v.copy()
        for k, v in opt.state[opt.param_groups[0]["params"][0]].items()
        if isinstance(v, np.ndarray)
    }
    bad = {"state": dict(sd["state"]), "param_groups": sd["param_groups"]}
    bad["state"]["1"] = {**bad["state"]["1"], "exp_avg": np.zeros(5)}
    bad["state"]["0"] = {**bad["state"]["0"], "exp_avg": np.full((2, 3), 9.0)}
    with pytest.raises(optim.OptimizerStateError, match=r"shape \(5,\)"):
        opt.load_state_dict(bad)
    after = opt.state[opt.param_groups[0]["params"][0]]
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)
    with pytest.raises(optim.OptimizerStateError, match="group"):
        opt.load_state_dict({"state": {}, "param_groups": sd["param_groups"] * 2})
    with pytest.raises(optim.OptimizerStateError, match="names no parameter"):
        opt.load_state_dict({"state": {"7": {}}, "param_groups": sd["param_groups"]})
