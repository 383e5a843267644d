"""grad, value_and_grad, vjp and backward(create_graph=True): values, composition, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.testing import numeric_vjp
from chainrule.transforms import grad, value_and_grad, vjp


def _f(x, w):
    return (cr.tanh(cr.matmul(w, x)) ** 2).sum()


def test_grad_matches_finite_differences(rng):
    x, w = rng.normal(size=4), rng.normal(size=(3, 4))
    gx, gw = grad(_f, argnums=(0, 1))(x, w)
    nx, nw = numeric_vjp(lambda a, b: _f(a, b), [x, w], np.array(1.0))
    np.testing.assert_allclose(gx.data, nx, atol=1e-7)
    np.testing.assert_allclose(gw.data, nw, atol=1e-7)
    assert gx.shape == x.shape and gw.shape == w.shape  # gradients shaped like inputs
    np.testing.assert_allclose(grad(_f, argnums=1)(x, w).data, nw, atol=1e-7)


def test_grad_leaves_tensors_alone(rng):
    w = cr.Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    x = cr.Tensor(rng.normal(size=4))
    g = grad(_f)(x, w)
    assert w.grad is None and x.grad is None  # nothing accumulated anywhere
    assert g.requires_grad  # it reads w, so like any op it records
    with cr.no_grad():
        g0 = grad(_f)(x, w)
    assert not g0.requires_grad  # a plain first-order result
    np.testing.assert_allclose(g0.data, g.data)
    assert not grad(_f)(x, w.detach()).requires_grad


def test_value_and_grad_and_aux(rng):
    x = rng.normal(size=3)

    def loss(v):
        y = v * v
        return y.sum(), {"y": y}

    (val, aux), g = value_and_grad(loss, has_aux=True)(x)
    assert val.item() == pytest.approx(np.sum(x * x))
    np.testing.assert_allclose(aux["y"].data, x * x)
    np.testing.assert_allclose(g.data, 2 * x)
    g2, aux2 = grad(loss, has_aux=True)(x)
    np.testing.assert_allclose(g2.data, 2 * x)
    v, g3 = value_and_grad(lambda v: (v**3).sum())(x)
    np.testing.assert_allclose(g3.data, 3 * x**2)
    assert v.item() == pytest.approx(np.sum(x**3))


def test_unused_argument_gets_zeros_and_same_tensor_twice_gets_partials():
    x = cr.Tensor([2.0, 3.0])
    ga, gb = grad(lambda a, b: (a * a).sum(), argnums=(0, 1))(x, x)
    np.testing.assert_allclose(ga.data, [4.0, 6.0])
    np.testing.assert_allclose(gb.data, [0.0, 0.0])
    ga, gb = grad(lambda a, b: (a * b * b).sum(), argnums=(0, 1))(x, x)
    np.testing.assert_allclose(ga.data, x.data**2)  # ∂/∂a of a·b² at a = b = x
    np.testing.assert_allclose(gb.data, 2 * x.data**2)  # ∂/∂b


def test_grad_errors_are_clear():
    with pytest.raises(cr.GradientError, match="shape \\(3,\\).*one-element"):
        grad(lambda v: v * 2)(np.ones(3))
    with pytest.raises(cr.GradientError, match="dtype int64"):
        grad(lambda v: (v * 2).sum())(np.arange(3))
    with pytest.raises(cr.ChainruleError, match="argnums"):
        grad(lambda v: v.sum(), argnums=2)(np.ones(2))
    with pytest.raises(cr.ChainruleError, match="must return"):
        grad(lambda v: 3.0)(np.ones(2))


def test_grad_works_inside_no_grad(rng):
    x = rng.normal(size=3)
    with cr.no_grad():
        g = grad(lambda v: (v**2).sum())(x)
    np.testing.assert_allclose(g.data, 2 * x)


def test_vjp_rows_and_multiple_outputs(rng):
    w = rng.normal(size=(3, 4))
    x = rng.normal(size=4)
    out, vjp_fn = vjp(lambda v: cr.matmul(w, v), x)
    np.testing.assert_allclose(out.data, w @ x)
    for i in range(3):  # row i of the Jacobian = e_iᵀ J
        (row,) = vjp_fn(np.eye(3)[i])
        np.testing.assert_allclose(row.data, w[i])
    (outs, vjp2) = vjp(lambda a, b: (a * b, a + b), x, 2 * x)
    ga, gb = vjp2((np.ones(4), np.full(4, 2.0)))
    np.testing.assert_allclose(ga.data, 2 * x + 2)
    np.testing.assert_allclose(gb.data, x + 2)
    with pytest.raises(cr.ChainruleError, match="cotangent of shape"):
        vjp_fn(np.ones(4))


def test_backward_create_graph_gives_differentiable_gradients():
    x = cr.Tensor([1.5, -0.5], requires_grad=True)
    y = (x**3).sum()
    y.backward(create_graph=True)
    g = x.grad
    assert g.requires_grad  # the backward pass was recorded
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    x.grad = None
    g.sum().backward()  # d/dx Σ 3x² = 6x
    np.testing.assert_allclose(x.grad.data, 6 * x.data)


def test_grad_of_grad_matches_analytic_derivatives():
    f = lambda x: x**4 + cr.tanh(x)  # noqa: E731
    d1 = grad(f)
    d2 = grad(d1)
    d3 = grad(d2)
    for x0 in (-1.2, 0.3, 2.0):
        t = np.tanh(x0)
        assert d1(x0).item() == pytest.approx(4 * x0**3 + (1 - t * t), rel=1e-12)
        assert d2(x0).item() == pytest.approx(12 * x0**2 - 2 * t * (1 - t * t), rel=1e-12)
        assert d3(x0).item() == pytest.approx(
            24 * x0 - 2 * (1 - t * t) ** 2 + 4 * t * t * (1 - t * t), rel=1e-10
        )


def test_reverse_over_reverse_mixed_partials(rng):
    # f(x, y) = Σ sin-free: x² y + exp(x y); ∂²f/∂x∂y = 2x + exp(xy)(1 + xy)
    f = lambda x, y: (x * x * y + cr.exp(x * y)).sum()  # noqa: E731
    x, y = rng.normal(size=3), rng.normal(size=3)
    dxy = grad(lambda a, b: grad(f, argnums=0)(a, b).sum(), argnums=1)(x, y)
    np.testing.assert_allclose(dxy.data, 2 * x + np.exp(x * y) * (1 + x * y), rtol=1e-12)
    # and the other order gives the same (symmetry of second derivatives)
    dyx = grad(lambda a, b: grad(f, argnums=1)(a, b).sum(), argnums=0)(x, y)
    np.testing.assert_allclose(dyx.data, dxy.data, rtol=1e-12)


def test_grad_through_model_parameters_and_aux_under_nesting(rng):
    # the gradient penalty ||∂L/∂x||² differentiated with respect to weights
    w = rng.normal(size=(2, 3))
    x = rng.normal(size=3)

    def penalty(wt):
        gx = grad(lambda v: cr.tanh(cr.matmul(wt, v)).sum())(x)
        return (gx * gx).sum()

    g = grad(penalty)(w)
    eps = 1e-6
    num = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        num[idx] = (penalty(cr.Tensor(wp)).item() - penalty(cr.Tensor(wm)).item()) / (2 * eps)
    np.testing.assert_allclose(g.data, num, atol=1e-7)


def test_transforms_accept_tensors_whose_graph_was_freed(rng):
    w = cr.Tensor(rng.normal(size=3), requires_grad=True)
    h = cr.tanh(w)
    h.sum().backward()  # frees h's graph; h still "requires grad"
    g = grad(lambda v: (v**2).sum())(h)
    np.testing.assert_allclose(g.data, 2 * h.data)
    from chainrule.transforms import jacobian

    np.testing.assert_allclose(jacobian(lambda v: v * 3.0)(h).data, 3 * np.eye(3))
