"""jacobian and hessian: values, conventions, mode choice and its report, batching."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import REGISTRY, apply
from chainrule.testing.sweep import sample_inputs
from chainrule.transforms import hessian, jacobian
from chainrule.transforms.batching import has_batched_rule


def _numeric_jacobian(f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    y0 = np.asarray(f(cr.Tensor(x)).data)
    J = np.zeros(y0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        J[(...,) + idx] = (f(cr.Tensor(xp)).data - f(cr.Tensor(xm)).data) / (2 * eps)
    return J


FUNCS = {
    "mlp": (
        lambda W1, W2: lambda x: cr.matmul(W2, cr.tanh(cr.matmul(W1, x))),
        ((4, 3), (2, 4)),
        (3,),
    ),
    "matrix_in": (lambda A: lambda X: cr.sigmoid(cr.matmul(X, A)).sum(axis=0), ((3, 2),), (4, 3)),
    "softmax": (lambda: lambda x: cr.softmax(x * 2.0, axis=-1), (), (2, 3)),
    "scalar_out": (lambda: lambda x: cr.logsumexp(x) * (x**2).mean(), (), (5,)),
}


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
@pytest.mark.parametrize("vectorize", [True, False])
def test_jacobian_matches_finite_differences(rng, name, mode, vectorize):
    make, param_shapes, x_shape = FUNCS[name]
    f = make(*(rng.normal(size=s) for s in param_shapes))
    x = rng.normal(size=x_shape)
    J = jacobian(f, mode=mode, vectorize=vectorize)(x)
    expected = _numeric_jacobian(f, x)
    assert J.shape == expected.shape  # out.shape + in.shape
    np.testing.assert_allclose(J.data, expected, atol=1e-8)


def test_scalar_output_jacobian_is_the_gradient_shaped_like_the_input(rng):
    x = rng.normal(size=(2, 3))
    J = jacobian(lambda v: (v**2).sum())(x)
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J.data, 2 * x)


def test_auto_picks_fwd_for_few_inputs_and_rev_for_few_outputs(rng, caplog):
    for n_in, n_out, expected in ((8, 512, "fwd"), (512, 8, "rev")):
        W = rng.normal(size=(n_out, n_in))
        x = rng.normal(size=n_in)
        jf = jacobian(lambda v, W=W: cr.tanh(cr.matmul(W, v)), return_info=True)
        with caplog.at_level(logging.INFO, logger="chainrule.transforms"):
            J, info = jf(x)
        assert info.mode == expected and info.requested == "auto"
        assert (info.n_in, info.n_out) == (n_in, n_out)
        assert info.batched and info.passes == 1
        assert jf.last_info is info
        assert f"used {expected!r}" in str(info) and "auto chose" in str(info)
        assert str(info) in caplog.text  # told through logging too
        np.testing.assert_allclose(J.data, (1 - np.tanh(W @ x) ** 2)[:, None] * W, atol=1e-12)


def test_report_flag_and_callable(rng, capsys):
    f = lambda v: v * 2.0  # noqa: E731
    jacobian(f, report=True)(np.ones(3))
    assert "jacobian: mode='auto' used 'rev'" in capsys.readouterr().out
    seen = []
    jacobian(f, mode="fwd", report=seen.append, vectorize=False)(np.ones(3))
    assert seen[0].mode == "fwd" and seen[0].passes == 3 and not seen[0].batched


def test_chunking_counts_passes(rng):
    W = rng.normal(size=(6, 10))
    f = lambda v: cr.tanh(cr.matmul(W, v))  # noqa: E731
    x = rng.normal(size=10)
    full = jacobian(f, mode="rev")(x).data
    for mode, n, chunk in (("rev", 6, 4), ("fwd", 10, 3)):
        J, info = jacobian(f, mode=mode, chunk_size=chunk, return_info=True)(x)
        assert info.passes == -(-n // chunk)
        np.testing.assert_allclose(J.data, full, atol=1e-14)


# ---------------------------------------------------------------------- the lectures' Jacobians
def test_elementwise_activation_jacobian_is_diagonal(rng):
    z = rng.normal(size=5)
    for fn, deriv in (
        (cr.tanh, lambda v: 1 - np.tanh(v) ** 2),
        (cr.sigmoid, lambda v: (s := 1 / (1 + np.exp(-v))) * (1 - s)),
        (cr.exp, np.exp),
    ):
        for mode in ("fwd", "rev"):
            J = jacobian(fn, mode=mode)(z).data
            np.testing.assert_allclose(J, np.diag(deriv(z)), atol=1e-14)


def test_affine_layer_jacobians(rng):
    W, b, x = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=4)
    affine = lambda W, x, b: cr.matmul(W, x) + b  # noqa: E731
    Jx, Jb = jacobian(affine, argnums=(1, 2))(W, x, b)
    np.testing.assert_allclose(Jx.data, W)  # d(Wx+b)/dx = W
    np.testing.assert_allclose(Jb.data, np.eye(3))  # d(Wx+b)/db = I
    # d(Wx)/dW has shape (3, 3, 4); as a matrix with row-major vec(W) it is I ⊗ xᵀ
    JW = jacobian(affine, argnums=0)(W, x, b)
    assert JW.shape == (3, 3, 4)
    np.testing.assert_allclose(JW.data.reshape(3, 12), np.kron(np.eye(3), x[None, :]))


def test_inner_product_jacobian(rng):
    u, h = rng.normal(size=6), rng.normal(size=6)
    J = jacobian(lambda u: cr.matmul(u, h))(u)  # d(uᵀh)/du = hᵀ
    np.testing.assert_allclose(J.data, h)


def _net(W0, b0, W1, b1, x):
    z = cr.sigmoid(cr.matmul(W0, x) + b0)
    return cr.matmul(W1, z) + b1  # W1 a row: y is a scalar


def test_one_hidden_layer_sigmoid_network(rng):
    n, h = 4, 5
    W0, b0 = rng.normal(size=(h, n)), rng.normal(size=h)
    W1, b1 = rng.normal(size=h), np.array(0.3)
    x = rng.normal(size=n)
    z = 1 / (1 + np.exp(-(W0 @ x + b0)))
    delta = W1 * z * (1 - z)  # W¹ᵀ ∘ z ∘ (1 − z)
    for mode in ("fwd", "rev"):
        dW0, db0 = jacobian(_net, argnums=(0, 1), mode=mode)(W0, b0, W1, b1, x)
        assert dW0.shape == W0.shape
        np.testing.assert_allclose(dW0.data, np.outer(delta, x), atol=1e-14)  # [..] xᵀ
        np.testing.assert_allclose(db0.data, delta, atol=1e-14)


def test_all_zero_weights_give_zero_first_layer_gradient(rng):
    n, h = 3, 4
    x = rng.normal(size=n)
    dW0 = jacobian(_net)(np.zeros((h, n)), np.zeros(h), np.zeros(h), np.array(0.0), x)
    np.testing.assert_array_equal(dW0.data, np.zeros((h, n)))


# ---------------------------------------------------------------------- structure
def test_tuple_outputs_and_tuple_argnums_nest_outputs_outside(rng):
    a, b = rng.normal(size=2), rng.normal(size=3)
    f = lambda a, b: (a * 2.0, cr.concatenate([a, b]))  # noqa: E731
    (J00, J01), (J10, J11) = jacobian(f, argnums=(0, 1))(a, b)
    assert (J00.shape, J01.shape, J10.shape, J11.shape) == ((2, 2), (2, 3), (5, 2), (5, 3))
    np.testing.assert_allclose(J00.data, 2 * np.eye(2))
    np.testing.assert_allclose(J01.data, 0)
    np.testing.assert_allclose(J10.data, np.eye(5)[:, :2])
    np.testing.assert_allclose(J11.data, np.eye(5)[:, 2:])


def test_identity_and_constant_functions(rng):
    x = rng.normal(size=3)
    for mode in ("fwd", "rev"):
        np.testing.assert_allclose(jacobian(lambda v: v, mode=mode)(x).data, np.eye(3))
        np.testing.assert_allclose(
            jacobian(lambda v: cr.Tensor(np.ones(2)), mode=mode)(x).data, np.zeros((2, 3))
        )


def test_unbatchable_index_falls_back_correctly(rng):
    x = rng.normal(size=(3, 2, 4))
    rows, cols = np.array([0, 2]), np.array([3, 1])
    f = lambda v: v[rows, :, cols] * 2.0  # noqa: E731  (advanced indices around a slice)
    for mode in ("fwd", "rev"):
        J, info = jacobian(f, mode=mode, return_info=True)(x)
        assert not info.batched and "not batched" in info.reason
        np.testing.assert_allclose(J.data, _numeric_jacobian(f, x), atol=1e-8)


def test_jacobian_with_parameters_that_require_grad_is_differentiable(rng):
    # contractive penalty ||∂h/∂x||² depends on W: its gradient flows back to W
    W = cr.Tensor(rng.normal(size=(3, 2)), requires_grad=True)
    x = rng.normal(size=2)
    J = jacobian(lambda v: cr.tanh(cr.matmul(W, v)))(x)
    assert J.requires_grad
    (J * J).sum().backward()
    eps = 1e-6
    num = np.zeros(W.shape)
    for idx in np.ndindex(W.shape):
        for sgn in (1, -1):
            w = W.data.copy()
            w[idx] += sgn * eps
            t = np.tanh(w @ x)
            num[idx] += sgn * np.sum(((1 - t * t)[:, None] * w) ** 2) / (2 * eps)
    np.testing.assert_allclose(W.grad.data, num, atol=1e-7)
    with cr.no_grad():
        assert not jacobian(lambda v: cr.tanh(cr.matmul(W, v)))(x).requires_grad


# ---------------------------------------------------------------------- hessians
def test_hessian_matches_analytic_in_both_modes(rng):
    a = rng.normal(size=3)
    B = rng.normal(size=(3, 3))
    x = rng.normal(size=3)

    def f(y):
        return cr.exp(cr.matmul(a, y)) + 0.5 * cr.matmul(y, cr.matmul(B, y))

    H = np.exp(a @ x) * np.outer(a, a) + (B + B.T) / 2
    for mode in ("fwd", "rev", "auto"):
        got, info = hessian(f, mode=mode, return_info=True)(x)
        np.testing.assert_allclose(got.data, H, rtol=1e-12)
        assert info.batched  # built-in ops batch through backward too
    np.testing.assert_allclose(hessian(f, vectorize=False)(x).data, H, rtol=1e-12)


def test_hessian_blocks_for_tuple_argnums(rng):
    x, y = rng.normal(size=2), rng.normal(size=3)
    f = lambda x, y: (x.sum() ** 2) * (y**2).sum()  # noqa: E731
    (Hxx, Hxy), (Hyx, Hyy) = hessian(f, argnums=(0, 1))(x, y)
    sx, sy = x.sum(), (y**2).sum()
    np.testing.assert_allclose(Hxx.data, 2 * sy * np.ones((2, 2)))
    np.testing.assert_allclose(Hxy.data, 4 * sx * np.broadcast_to(y, (2, 3)))
    np.testing.assert_allclose(Hyx.data, Hxy.data.T)
    np.testing.assert_allclose(Hyy.data, 2 * sx**2 * np.eye(3))


def test_jacobian_of_jacobian_third_order(rng):
    x = rng.normal(size=2)
    f = lambda v: (v**4).sum()  # noqa: E731
    T = jacobian(hessian(f))(x)  # ∂³f: 24 x_i on the diagonal
    expected = np.zeros((2, 2, 2))
    for i in range(2):
        expected[i, i, i] = 24 * x[i]
    np.testing.assert_allclose(T.data, expected, rtol=1e-12)


# ---------------------------------------------------------------------- batching is exact
def _registry_cases():
    cases = []
    for name in sorted(REGISTRY):
        prim = REGISTRY[name]
        if not prim.differentiable:
            continue
        try:
            samples = list(sample_inputs(prim, np.random.default_rng(1)))
        except LookupError:
            continue  # reported by the registry sweep
        for k, (args, params) in enumerate(samples[:12]):
            cases.append(pytest.param(prim, args, params, id=f"{name}-{k}"))
    return cases


@pytest.mark.parametrize(("prim", "args", "params"), _registry_cases())
def test_batched_rules_agree_with_one_pass_per_row(prim, args, params):
    fl = tuple(i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f")

    def f(*xs):
        return apply(prim, *xs, **params)

    args = tuple(np.array(a, dtype=np.float64) if i in fl else a for i, a in enumerate(args))
    ref = jacobian(f, argnums=fl, mode="rev", vectorize=False)(*args)
    for mode in ("fwd", "rev"):
        got, info = jacobian(f, argnums=fl, mode=mode, return_info=True)(*args)
        if has_batched_rule(prim):
            assert info.batched, info.reason
        for r, g in zip(ref, got, strict=True):
            np.testing.assert_allclose(g.data, r.data, atol=1e-12, err_msg=f"{mode} {info}")
