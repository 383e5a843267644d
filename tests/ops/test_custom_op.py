"""User-defined operations (chainrule.Operation): graph membership, state, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.testing import check_operation, gradcheck
from chainrule.transforms import grad, jacobian, jvp


class Sigmoid(cr.Operation):
    """The lectures' sigmoid gate: saves its output, backward is (1 - s) s."""

    name = "my_sigmoid"

    def forward(self, x):
        self.s = 1.0 / (1.0 + np.exp(-x))
        return self.s

    def backward(self, g):
        return (g * (1 - self.s) * self.s,)

    def jvp(self, t):
        return t * (1 - self.s) * self.s


class MulAdd(cr.Operation):
    """z = a * b + c with broadcasting handled by hand in backward."""

    def forward(self, a, b, c):
        self.a, self.b = a, b
        return a * b + c

    def backward(self, g):
        return g * self.b, g * self.a, g.sum(axis=0)

    def jvp(self, ta, tb, tc):
        return ta * self.b + self.a * tb + tc


def test_custom_op_joins_the_graph_like_a_builtin(rng):
    x = cr.Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    y = Sigmoid()(x)
    assert y.op == "my_sigmoid" and y.requires_grad
    (y * y).sum().backward()
    s = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(x.grad.data, 2 * s * s * (1 - s), rtol=1e-12)
    assert gradcheck(lambda v: (Sigmoid()(v) * v).sum(), rng.normal(size=(2, 3)))


def test_one_instance_many_calls_keep_separate_state(rng):
    sig = Sigmoid()
    a = cr.Tensor(rng.normal(size=4), requires_grad=True)
    b = cr.Tensor(rng.normal(size=4), requires_grad=True)
    out = (sig(a) * 2 + sig(b * 3)).sum()  # the second call must not clobber the first
    out.backward()
    sa = 1 / (1 + np.exp(-a.data))
    sb = 1 / (1 + np.exp(-3 * b.data))
    np.testing.assert_allclose(a.grad.data, 2 * sa * (1 - sa), rtol=1e-12)
    np.testing.assert_allclose(b.grad.data, 3 * sb * (1 - sb), rtol=1e-12)
    assert not hasattr(sig, "s")  # the instance itself holds no call state


def test_multi_input_custom_op_gradients_and_broadcasting(rng):
    a, b, c = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(2,))
    res = check_operation(MulAdd(), a, b, c)
    assert res.ok, str(res)
    assert {(c.check, c.arg) for c in res.checks} >= {("vjp", 2), ("jvp", 0), ("adjoint", 1)}


def test_custom_op_in_transforms(rng):
    x = rng.normal(size=5)
    g = grad(lambda v: Sigmoid()(v).sum())(x)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(g.data, s * (1 - s), rtol=1e-12)
    _, t = jvp(lambda v: Sigmoid()(v), (x,), (np.ones(5),))
    np.testing.assert_allclose(t.data, s * (1 - s), rtol=1e-12)
    for mode in ("fwd", "rev"):
        jf = jacobian(lambda v: Sigmoid()(v), mode=mode)
        J = jf(x)
        np.testing.assert_allclose(J.data, np.diag(s * (1 - s)), atol=1e-14)
        assert not jf.last_info.batched  # custom ops take the per-row/column path


def test_operation_without_jvp_reports_clearly(rng):
    class NoJvp(cr.Operation):
        name = "no_jvp"

        def forward(self, x):
            return 2 * x

        def backward(self, g):
            return (2 * g,)

    x = rng.normal(size=3)
    assert np.allclose(grad(lambda v: NoJvp()(v).sum())(x).data, 2)
    with pytest.raises(cr.OpError, match="no_jvp.*defines no jvp"):
        jvp(lambda v: NoJvp()(v), (x,), (x,))
    res = check_operation(NoJvp(), x)
    assert res.ok and res.skipped and "jvp" in res.skipped[0]


def test_wrong_number_of_gradients_is_an_error():
    class Bad(cr.Operation):
        name = "bad_arity"

        def forward(self, a, b):
            return a + b

        def backward(self, g):
            return (g,)

    a = cr.Tensor([1.0], requires_grad=True)
    out = Bad()(a, a * 2)
    with pytest.raises(cr.OpError, match="bad_arity.*1 gradient.*2 input"):
        out.backward()


def test_none_gradient_means_no_gradient():
    class FirstOnly(cr.Operation):
        def forward(self, a, b):
            return a * 1.0

        def backward(self, g):
            return g, None

    a = cr.Tensor([1.0, 2.0], requires_grad=True)
    b = cr.Tensor([3.0, 4.0], requires_grad=True)
    FirstOnly()(a, b).sum().backward()
    assert np.allclose(a.grad.data, 1) and b.grad is None


def test_higher_order_through_a_first_order_op_raises_not_lies():
    x = cr.Tensor([0.3, -0.2])
    with pytest.raises(cr.BackwardError, match="my_sigmoid.*twice_differentiable"):
        grad(grad(lambda v: Sigmoid()(v).sum()))(x[0])
    # first order under create_graph still gives the right value
    y = cr.Tensor([0.5], requires_grad=True)
    (g,) = cr.core.backward([Sigmoid()(y).sum()], create_graph=True, inputs=[y])
    s = 1 / (1 + np.exp(-0.5))
    assert np.isclose(g.item(), s * (1 - s))


def test_twice_differentiable_op_written_with_chainrule_ops():
    class Cube(cr.Operation):
        name = "cube2"
        twice_differentiable = True

        def forward(self, x):
            return x**3

        def backward(self, g):
            (x,) = self.inputs
            return (g * 3 * x * x,)

        def jvp(self, t):
            (x,) = self.inputs
            return t * 3 * x * x

    f = lambda v: Cube()(v).sum()  # noqa: E731
    x = cr.Tensor([1.0, -2.0])
    assert grad(grad(f))(2.0).item() == pytest.approx(12.0)  # d²/dx² x³ = 6x
    from chainrule.transforms import hessian, hvp

    np.testing.assert_allclose(hessian(f)(x).data, np.diag(6 * x.data))
    np.testing.assert_allclose(hvp(f, x, np.ones(2)).data, 6 * x.data)


def test_forward_must_return_an_array():
    class Listy(cr.Operation):
        def forward(self, x):
            return [1.0]

        def backward(self, g):
            return (g,)

    with pytest.raises(cr.OpError, match="must return a NumPy array"):
        Listy()(cr.Tensor([1.0]))


def test_custom_op_shape_error_names_the_op():
    class WrongShape(cr.Operation):
        name = "wrong_shape"

        def forward(self, x):
            return x.sum(keepdims=True)

        def backward(self, g):
            return (g,)  # should be broadcast to x's shape

    x = cr.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(cr.ShapeError, match="wrong_shape"):
        WrongShape()(x).sum().backward()
