"""Saving and loading model + optimizer state with chainrule.io; damaged files never half-load."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.io import CheckpointError


def _model(seed):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(4, 8, rng=rng), nn.Tanh(), nn.Linear(8, 3, rng=rng))


def _trained(seed=0, steps=3):
    model = _model(seed)
    opt = optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(seed + 100)
    X = cr.Tensor(rng.normal(size=(10, 4)).astype(np.float32))
    y = rng.integers(0, 3, 10)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return model, opt


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _save(tmp_path, model, opt):
    path = tmp_path / "model.ckpt"
    cr.io.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "config": {"hidden": [8], "act": "tanh"},
        },
        path,
    )
    return path


def test_round_trip_model_and_optimizer(tmp_path):
    model, opt = _trained()
    path = _save(tmp_path, model, opt)
    state = cr.io.load(path)
    fresh = _model(seed=9)
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.5)
    fresh.load_state_dict(state["model"])
    fresh_opt.load_state_dict(state["optimizer"])
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)
        assert fresh.state_dict()[k].dtype == np.float32
    assert fresh_opt.param_groups[0]["lr"] == 0.01
    assert fresh_opt.param_groups[0]["betas"] == (0.9, 0.999)
    p_old, p_new = model[0].weight, fresh[0].weight
    np.testing.assert_array_equal(fresh_opt.state[p_new]["exp_avg"], opt.state[p_old]["exp_avg"])
    assert fresh_opt.state[p_new]["step"] == 3
    assert state["config"] == {"hidden": [8], "act": "tanh"}


def test_truncated_file_raises_and_model_unchanged(tmp_path):
    model, opt = _trained()
    path = _save(tmp_path, model, opt)
    raw = path.read_bytes()
    target = _model(seed=5)
    before = _snapshot(target)
    for cut in (0, 10, len(raw) // 2, len(raw) - 5):
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError):
            target.load_state_dict(cr.io.load(path)["model"])
    for k, v in _snapshot(target).items():
        np.testing.assert_array_equal(v, before[k])


def test_corrupted_array_is_detected(tmp_path):
    model, opt = _trained()
    path = _save(tmp_path, model, opt)
    # Rewrite one array entry with flipped bytes (same size, valid zip): the hash catches it.
    src = zipfile.ZipFile(path)
    entries = {n: src.read(n) for n in src.namelist()}
    src.close()
    victim = "array_0.npy"
    data = bytearray(entries[victim])
    data[-4:] = bytes(b ^ 0xFF for b in data[-4:])
    entries[victim] = bytes(data)
    with zipfile.ZipFile(path, "w") as dst:
        for n, b in entries.items():
            dst.writestr(n, b)
    with pytest.raises(CheckpointError, match="array_0|corrupt|SHA|sha"):
        cr.io.load(path)


def test_mismatched_architecture_never_half_loads(tmp_path):
    model, opt = _trained()
    path = _save(tmp_path, model, opt)
    state = cr.io.load(path)
    rng = np.random.default_rng(1)
    other = nn.Sequential(nn.Linear(4, 8, rng=rng), nn.Tanh(), nn.Linear(8, 5, rng=rng))
    before = _snapshot(other)
    with pytest.raises(nn.StateDictError) as info:
        other.load_state_dict(state["model"])
    assert info.value.shape_mismatches == [("2.weight", (5, 8), (3, 8)), ("2.bias", (5,), (3,))]
    for k, v in _snapshot(other).items():  # layer 0 would fit, but nothing was loaded
        np.testing.assert_array_equal(v, before[k])
    other_opt = optim.Adam(other.parameters())
    with pytest.raises(optim.OptimizerStateError, match="shape"):
        other_opt.load_state_dict(state["optimizer"])
    assert other_opt.state == {}
