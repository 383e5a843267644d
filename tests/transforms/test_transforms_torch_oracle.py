"""chainrule's transforms against torch.func (jvp, vjp, jacrev, jacfwd, hessian)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import transforms as T

torch = pytest.importorskip("torch")
tf = pytest.importorskip("torch.func")
torch.set_num_threads(1)

# torch.func's internals emit this on import in torch 2.13; it is not about our code
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


def _pair(rng):
    """The same functions written for both libraries (float64)."""
    W = rng.normal(size=(5, 4))
    A = rng.normal(size=(3, 5))
    Wt, At = torch.from_numpy(W), torch.from_numpy(A)

    def f_cr(x):
        h = cr.tanh(cr.matmul(W, x))
        return cr.softmax(cr.matmul(A, h), axis=-1) * cr.sigmoid(x.sum())

    def f_t(x):
        h = torch.tanh(Wt @ x)
        return torch.softmax(At @ h, dim=-1) * torch.sigmoid(x.sum())

    def s_cr(x):
        return cr.logsumexp(cr.matmul(W, x)) + (x**3).sum() * 0.1 + cr.exp(-x * x).sum()

    def s_t(x):
        return torch.logsumexp(Wt @ x, dim=0) + (x**3).sum() * 0.1 + torch.exp(-x * x).sum()

    return f_cr, f_t, s_cr, s_t


def _t(a):
    return torch.from_numpy(np.array(a, dtype=np.float64))


def test_jvp_and_vjp_against_torch_func(rng):
    f_cr, f_t, _, _ = _pair(rng)
    x, v, u = rng.normal(size=4), rng.normal(size=4), rng.normal(size=3)
    out, tan = T.jvp(f_cr, (x,), (v,))
    out_t, tan_t = tf.jvp(f_t, (_t(x),), (_t(v),))
    np.testing.assert_allclose(out.data, out_t.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tan.data, tan_t.numpy(), rtol=1e-10, atol=1e-14)
    _, vjp_fn = T.vjp(f_cr, x)
    _, vjp_t = tf.vjp(f_t, _t(x))
    np.testing.assert_allclose(vjp_fn(u)[0].data, vjp_t(_t(u))[0].numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("vectorize", [True, False])
def test_jacobians_against_jacrev_and_jacfwd(rng, vectorize):
    f_cr, f_t, _, _ = _pair(rng)
    x = rng.normal(size=4)
    rev = T.jacobian(f_cr, mode="rev", vectorize=vectorize)(x).data
    fwd = T.jacobian(f_cr, mode="fwd", vectorize=vectorize)(x).data
    np.testing.assert_allclose(rev, tf.jacrev(f_t)(_t(x)).numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(fwd, tf.jacfwd(f_t)(_t(x)).numpy(), rtol=1e-10, atol=1e-14)


def test_jacobian_of_a_matrix_argument_matches_torch_layout(rng):
    x = rng.normal(size=4)
    W = rng.normal(size=(3, 4))
    J = T.jacobian(lambda w: cr.tanh(cr.matmul(w, x)), mode="fwd")(W).data
    Jt = tf.jacrev(lambda w: torch.tanh(w @ _t(x)))(_t(W)).numpy()
    assert J.shape == Jt.shape == (3, 3, 4)
    np.testing.assert_allclose(J, Jt, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_hessian_and_hvp_against_torch(rng, mode):
    _, _, s_cr, s_t = _pair(rng)
    x, v = rng.normal(size=4), rng.normal(size=4)
    H = T.hessian(s_cr, mode=mode)(x).data
    Ht = tf.hessian(s_t)(_t(x)).numpy()
    np.testing.assert_allclose(H, Ht, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(T.hvp(s_cr, x, v).data, Ht @ v, rtol=1e-10, atol=1e-13)
    g2 = T.grad(lambda y: (T.grad(s_cr)(y) * v).sum())(x).data  # reverse-over-reverse
    np.testing.assert_allclose(g2, Ht @ v, rtol=1e-10, atol=1e-13)
