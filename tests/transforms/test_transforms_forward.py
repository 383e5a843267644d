"""jvp, hvp (forward-over-reverse), linearize, and nesting of forward mode."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.testing import numeric_jvp
from chainrule.transforms import grad, hvp, jvp, linearize


def _g(x, w):
    return cr.tanh(cr.matmul(w, x)) * cr.sigmoid(x.sum())


def test_jvp_matches_finite_differences(rng):
    x, w = rng.normal(size=4), rng.normal(size=(3, 4))
    vx, vw = rng.normal(size=4), rng.normal(size=(3, 4))
    out, tan = jvp(_g, (x, w), (vx, vw))
    np.testing.assert_allclose(out.data, _g(cr.Tensor(x), cr.Tensor(w)).data)
    np.testing.assert_allclose(tan.data, numeric_jvp(_g, [x, w], [vx, vw]), atol=1e-8)
    _, tan_x = jvp(_g, (x, w), (vx, None))  # None: a zero direction
    np.testing.assert_allclose(tan_x.data, numeric_jvp(_g, [x, w], [vx, None]), atol=1e-8)


def test_jvp_tuple_outputs_and_constant_outputs(rng):
    x = rng.normal(size=3)
    (a, b, c), (ta, tb, tc) = jvp(
        lambda v: (v * v, cr.exp(v), cr.Tensor(np.ones(2))), (x,), (np.ones(3),)
    )
    np.testing.assert_allclose(ta.data, 2 * x)
    np.testing.assert_allclose(tb.data, np.exp(x))
    np.testing.assert_allclose(tc.data, 0.0)  # does not depend on x


def test_jvp_errors():
    with pytest.raises(cr.ShapeError, match="tangent 0 has shape"):
        jvp(lambda v: v * 2, (np.ones(3),), (np.ones(2),))
    with pytest.raises(cr.ChainruleError, match="1 primal.*2 tangent"):
        jvp(lambda v: v, (np.ones(3),), (np.ones(3), np.ones(3)))


def test_jvp_of_jvp_is_a_second_directional_derivative():
    # f(x) = x³: d²/dε² f(x + ε v) = 6 x v²
    f = lambda x: x**3  # noqa: E731
    x, v = np.array([0.5, -2.0]), np.array([1.0, 3.0])
    _, t2 = jvp(lambda y: jvp(f, (y,), (v,))[1], (x,), (v,))
    np.testing.assert_allclose(t2.data, 6 * x * v * v)


def test_hvp_forward_over_reverse_matches_analytic_hessian(rng):
    # f(x) = Σ exp(a·x) + (xᵀ B x)/2 : H = exp(a·x) a aᵀ + (B + Bᵀ)/2
    a = rng.normal(size=4)
    b = rng.normal(size=(4, 4))
    x, v = rng.normal(size=4), rng.normal(size=4)

    def f(y):
        return cr.exp(cr.matmul(a, y)) + 0.5 * cr.matmul(y, cr.matmul(b, y))

    h = np.exp(a @ x) * np.outer(a, a) + (b + b.T) / 2
    got = hvp(f, x, v)
    np.testing.assert_allclose(got.data, h @ v, rtol=1e-12)
    assert not got.requires_grad
    # reverse-over-reverse gives the same: ∇ₓ ⟨∇f(x), v⟩
    rr = grad(lambda y: (grad(f)(y) * v).sum())(x)
    np.testing.assert_allclose(rr.data, h @ v, rtol=1e-12)


def test_reverse_over_forward(rng):
    # ∇ₓ (J(x) v) for f = tanh: J v = (1 - tanh²) v, gradient of its sum = -2 tanh (1-tanh²) v
    x, v = rng.normal(size=3), rng.normal(size=3)
    g = grad(lambda y: jvp(cr.tanh, (y,), (v,))[1].sum())(x)
    t = np.tanh(x)
    np.testing.assert_allclose(g.data, -2 * t * (1 - t * t) * v, rtol=1e-12)


def test_linearize_replays_tangents_without_recomputing(rng):
    w = rng.normal(size=(5, 3))
    x = rng.normal(size=3)
    calls = []

    def f(v):
        calls.append(1)
        return cr.tanh(cr.matmul(w, v)).sum(axis=0, keepdims=True) * v[0]

    out, lin = linearize(f, x)
    assert len(calls) == 1
    for _ in range(3):
        v = rng.normal(size=3)
        np.testing.assert_allclose(lin(v).data, jvp(f, (x,), (v,))[1].data, rtol=1e-12)
    np.testing.assert_allclose(out.data, f(cr.Tensor(x)).data)
    calls.clear()
    lin(np.ones(3))
    assert not calls  # built-in ops: no forward re-run


def test_linearize_falls_back_for_custom_ops(rng):
    class Double(cr.Operation):
        def forward(self, x):
            return 2 * x

        def backward(self, g):
            return (2 * g,)

        def jvp(self, t):
            return 2 * t

    x = rng.normal(size=3)
    _, lin = linearize(lambda v: Double()(v) * v, x)
    v = rng.normal(size=3)
    np.testing.assert_allclose(lin(v).data, 4 * x * v)
