"""The symmetry lesson: equal initial weights stay equal under SGD; random ones do not."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "symmetry.py"


def _two_layer_sgd(W1, b1, W2, b2, x, y, steps, lr=0.2):
    """Plain SGD on a two-layer tanh network, written by hand; returns the parameters."""
    params = [cr.Tensor(np.array(a, dtype=float), requires_grad=True) for a in (W1, b1, W2, b2)]
    for _ in range(steps):
        W1t, b1t, W2t, b2t = params
        h = cr.tanh(cr.matmul(x, W1t.T) + b1t)  # (n, hidden)
        pred = cr.matmul(h, W2t.T) + b2t  # (n, out)
        loss = ((pred - y) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with cr.no_grad():
            for p in params:
                p.sub_(p.grad, alpha=lr)
    return [p.data for p in params]


def _data(rng, n=16):
    x = rng.normal(size=(n, 3))
    y = np.stack([np.sin(x[:, 0]) + x[:, 1] * x[:, 2], np.cos(x[:, 1])], axis=1)
    return x, y


@pytest.mark.parametrize("steps", [1, 7, 60])
def test_constant_init_keeps_hidden_units_identical(rng, steps):
    x, y = _data(rng)
    hidden = 5
    W1, b1, W2, b2 = _two_layer_sgd(
        np.full((hidden, 3), 0.4),
        np.full(hidden, 0.4),
        np.full((2, hidden), 0.4),
        np.full(2, 0.4),
        x,
        y,
        steps,
    )
    assert not np.allclose(W1, 0.4)  # it did train
    # every hidden unit: same incoming weights, same bias, same outgoing weights
    np.testing.assert_allclose(W1, np.broadcast_to(W1[0], W1.shape), rtol=0, atol=1e-12)
    np.testing.assert_allclose(b1, b1[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(W2, np.broadcast_to(W2[:, :1], W2.shape), rtol=0, atol=1e-12)


def test_random_init_breaks_the_symmetry(rng):
    x, y = _data(rng)
    hidden = 5
    W1, b1, W2, b2 = _two_layer_sgd(
        rng.normal(size=(hidden, 3)) * 0.5,
        np.zeros(hidden),
        rng.normal(size=(2, hidden)) * 0.5,
        np.zeros(2),
        x,
        y,
        20,
    )
    spread = np.abs(W1 - W1[0]).max(axis=1)
    assert np.all(spread[1:] > 1e-3)  # every unit is its own


def test_symmetry_example_runs(capsys):
    spec = importlib.util.spec_from_file_location("symmetry_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    p_const, losses_c = mod.train("constant", steps=30)
    p_rand, losses_r = mod.train("random", steps=30)
    assert mod.hidden_unit_spread(p_const) < 1e-12 < mod.hidden_unit_spread(p_rand)
    assert losses_c[-1] < losses_c[0] and losses_r[-1] < losses_r[0]
    mod.main()
    out = capsys.readouterr().out
    assert "constant init" in out and "random init" in out
