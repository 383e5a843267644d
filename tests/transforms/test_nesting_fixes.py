"""Regression tests for nested transforms (issue #11, part 1).

* forward over forward: outer levels see the inner tangent computation, including the
  dependence of the op's output on the primal (rules reading ``out``);
* ``vjp``'s pullback treats its cotangent as a value (linear in it);
* every transform falls back cleanly when a batched rule refuses.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import Primitive, apply
from chainrule.core.lecture import Lecture
from chainrule.transforms import grad, hessian, hvp, jacobian, jvp, linearize, vjp


# ---------------------------------------------------------------------- forward over forward
def test_jvp_of_jvp_of_exp() -> None:
    _, t = jvp(lambda x: jvp(cr.exp, (x,), (0.7,))[1], (0.3,), (1.3,))
    assert float(t) == pytest.approx(0.7 * 1.3 * np.exp(0.3), rel=1e-12)


def test_jvp_of_jvp_of_reciprocal() -> None:
    _, t = jvp(lambda x: jvp(lambda y: 1 / y, (x,), (0.7,))[1], (0.3,), (1.3,))
    assert float(t) == pytest.approx(2 * 0.7 * 1.3 / 0.3**3, rel=1e-12)


def test_third_order_forward_nesting() -> None:
    # d³/dx³ exp(x) = exp(x): three nested forward levels
    def d(f):
        return lambda x: jvp(f, (x,), (1.0,))[1]

    assert float(d(d(d(cr.exp)))(0.4)) == pytest.approx(np.exp(0.4), rel=1e-12)
    assert float(d(d(d(cr.tanh)))(0.4)) == pytest.approx(
        -2 * (1 - np.tanh(0.4) ** 2) * (1 - 3 * np.tanh(0.4) ** 2), rel=1e-10
    )


@pytest.mark.parametrize(
    "f",
    [
        cr.exp,
        cr.tanh,
        cr.sigmoid,
        cr.sqrt,
        lambda x: 1 / x,
        lambda x: x**2.5,
        lambda x: cr.softmax(x, axis=0),
    ],
)
def test_jacobian_of_jacobian_agrees_across_modes(f) -> None:
    x0 = np.array([0.3, 0.8, 1.4])
    ref = jacobian(jacobian(f, mode="rev"), mode="rev")(x0).data
    for inner in ("fwd", "rev"):
        for outer in ("fwd", "rev"):
            h = jacobian(jacobian(f, mode=inner), mode=outer)(x0).data
            np.testing.assert_allclose(
                h, ref, rtol=1e-10, atol=1e-12, err_msg=f"inner={inner} outer={outer}"
            )


# ---------------------------------------------------------------------- vjp's cotangent
def test_vjp_pullback_does_not_differentiate_its_cotangent() -> None:
    x = cr.Tensor([0.5], requires_grad=True)
    out, f = vjp(cr.tanh, x)
    (g,) = f(out)
    t = np.tanh(0.5)
    np.testing.assert_allclose(g.data, [(1 - t * t) * t], rtol=1e-12)
    np.testing.assert_allclose(g.data, f(out.detach())[0].data, rtol=1e-12)
    # and the result is still differentiable with respect to x, through J and through u
    g.sum().backward()
    np.testing.assert_allclose(
        x.grad.data, [(1 - t * t) ** 2 - 2 * t * t * (1 - t * t)], rtol=1e-10
    )


def test_vjp_pullback_is_linear_in_a_differentiated_cotangent() -> None:
    t = np.tanh(0.5)

    def h(u):
        _, f = vjp(cr.tanh, np.array([0.5]))
        return f(u)[0].sum()

    np.testing.assert_allclose(grad(h)(np.array([2.0])).data, [1 - t * t], rtol=1e-12)
    _, tan = jvp(h, (np.array([2.0]),), (np.array([3.0]),))
    assert float(tan) == pytest.approx(3 * (1 - t * t), rel=1e-12)


def test_vjp_with_a_cotangent_depending_on_the_primal_under_forward_mode() -> None:
    def g(x):
        out, f = vjp(cr.tanh, x)
        return f(out)[0]

    t = np.tanh(0.5)
    exact = (1 - t * t) ** 2 - 2 * t * t * (1 - t * t)
    assert float(grad(lambda x: g(x).sum())(np.array(0.5))) == pytest.approx(exact, rel=1e-10)
    assert float(jvp(g, (np.array(0.5),), (np.array(1.0),))[1]) == pytest.approx(exact, rel=1e-10)


# ---------------------------------------------------------------------- batched refusals
class _RefusingExp(Primitive):
    """exp, whose batched rules refuse every batch (a rule reading ``out`` through itself)."""

    name = "test_refusing_exp"
    register = False
    forward = np.exp
    vjp = (lambda g, out, x: g * _refusing_exp(x),)
    jvp = (lambda t, out, x: t * _refusing_exp(x),)
    lecture = Lecture("rexp({0})", ("{dz} · {z}",))

    @staticmethod
    def jvp_batched(tans, out, args, params):
        raise ValueError("refused on purpose")

    @staticmethod
    def vjp_batched(i, g, out, args, params):
        raise ValueError("refused on purpose")


class _PartlyRefusingExp(_RefusingExp):
    """Batched rules that work for a batch holding the first basis vector only."""

    name = "test_partly_refusing_exp"
    register = False

    @staticmethod
    def jvp_batched(tans, out, args, params):
        t = tans[0]
        if t.shape[0] != 1 or t.reshape(-1)[0] != 1:
            raise IndexError("refused on purpose")
        return t * out

    @staticmethod
    def vjp_batched(i, g, out, args, params):
        if g.shape[0] != 1 or g.reshape(-1)[0] != 1:
            raise TypeError("refused on purpose")
        return g * out


def _refusing_exp(x):
    return apply(_RefusingExp, x)


@pytest.mark.parametrize("op", [_RefusingExp, _PartlyRefusingExp])
@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_jacobian_falls_back_when_a_batched_rule_refuses(op, mode) -> None:
    x0 = np.array([0.1, -0.4, 0.7])
    jac = jacobian(lambda x: apply(op, x) * 2.0, mode=mode, chunk_size=1, return_info=True)
    J, info = jac(x0)
    np.testing.assert_allclose(J.data, np.diag(2 * np.exp(x0)), rtol=1e-12)
    assert not info.batched and "not batched" in info.reason


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_hessian_falls_back_when_a_batched_rule_refuses(mode) -> None:
    x0 = np.array([0.1, -0.4, 0.7])
    f = lambda x: (_refusing_exp(x) * x).sum()  # noqa: E731
    H, info = hessian(f, mode=mode, return_info=True)(x0)
    np.testing.assert_allclose(H.data, np.diag(np.exp(x0) * (x0 + 2)), rtol=1e-12)
    assert not info.batched
    v = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(hvp(f, x0, v).data, H.data @ v, rtol=1e-12)


def test_linearize_and_nested_jacobian_fall_back_when_a_batched_rule_refuses() -> None:
    x0 = np.array([0.1, -0.4, 0.7])
    _, lin = linearize(_refusing_exp, x0)
    np.testing.assert_allclose(lin(np.ones(3)).data, np.exp(x0), rtol=1e-12)
    # jacobian of a jacobian (the inner one composable, the outer one batched then not)
    H = jacobian(jacobian(_refusing_exp))(x0).data
    want = np.zeros((3, 3, 3))
    want[np.arange(3), np.arange(3), np.arange(3)] = np.exp(x0)
    np.testing.assert_allclose(H, want, rtol=1e-12)
