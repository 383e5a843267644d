"""examples/flat_backprop.py: hand-written NumPy backprop == chainrule, to 1e-10 in float64."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "examples" / "flat_backprop.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("flat_backprop_example", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_same_loss_and_gradients(example, reg):
    rng = np.random.default_rng(0)
    X, y = example.spiral_data(30, 3, rng=rng)
    p = example.init_params(2, 16, 3, rng, std=0.5)  # large enough for active ReLU kinks
    p["b1"] = rng.normal(size=16)
    lf, gf = example.flat_loss_and_grads(p, X, y, reg)
    for fn in (example.chainrule_loss_and_grads, example.module_loss_and_grads):
        la, ga = fn(p, X, y, reg)
        assert abs(la - lf) <= 1e-10
        for k in gf:
            assert ga[k].dtype == np.float64
            np.testing.assert_allclose(ga[k], gf[k], rtol=0, atol=1e-10)
    assert max(np.abs(g).max() for g in gf.values()) > 1e-3  # not trivially zero


def test_numeric_gradient_agrees_with_flat(example):
    rng = np.random.default_rng(1)
    X, y = example.spiral_data(5, 3, rng=rng)
    p = example.init_params(2, 6, 3, rng, std=0.5)
    _, g = example.flat_loss_and_grads(p, X, y, 0.1)
    eps = 1e-6
    for k in ("W1", "b2"):
        for idx in [(0,) * p[k].ndim, tuple(s - 1 for s in p[k].shape)]:
            old = p[k][idx]
            p[k][idx] = old + eps
            up, _ = example.flat_loss_and_grads(p, X, y, 0.1)
            p[k][idx] = old - eps
            down, _ = example.flat_loss_and_grads(p, X, y, 0.1)
            p[k][idx] = old
            assert (up - down) / (2 * eps) == pytest.approx(g[k][idx], abs=1e-6)


def test_main_runs(example, capsys):
    example.main(steps=20)
    out = capsys.readouterr().out
    assert "largest parameter difference" in out
