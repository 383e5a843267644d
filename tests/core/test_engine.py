"""Backward engine behaviour: accumulation, fan-out, freeing, versions, deep graphs."""

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.core.state import state


def leaf(v, **kw):
    return cr.Tensor(v, requires_grad=True, **kw)


def test_fan_out_gradients_sum():
    x = leaf(3.0)
    y = x * x + x  # x used three times
    y.backward()
    assert x.grad.item() == 2 * 3.0 + 1


def test_leaf_grad_accumulates_until_zeroed():
    x = leaf([1.0, 2.0])
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.data.tolist() == [5.0, 5.0]
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.data.tolist() == [3.0, 3.0]


def test_non_scalar_backward_needs_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(cr.BackwardError, match="needs `grad`"):
        (x * 2).backward()
    with pytest.raises(cr.BackwardError, match="shape"):
        (x * 2).backward(np.ones(3))


def test_backward_on_tensor_without_grad():
    with pytest.raises(cr.BackwardError, match="does not require grad"):
        cr.Tensor(1.0).backward()


def test_second_backward_through_freed_graph_raises():
    x = leaf(2.0)
    y = cr.exp(x) * x
    y.backward()
    with pytest.raises(cr.BackwardError, match="second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = leaf(2.0)
    y = cr.exp(x) * x
    y.backward(retain_graph=True)
    first = x.grad.item()
    y.backward()
    assert x.grad.item() == pytest.approx(2 * first)


def test_deep_chain_has_no_recursion_limit():
    x = leaf(1.0)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert x.grad.item() == 1.0
    assert y.item() == 100_001.0


def test_saved_values_are_released_after_backward():
    x = leaf(np.ones(1000))
    h = cr.tanh(x)
    ref = weakref.ref(h)
    y = (h * 2).sum()
    del h
    gc.collect()
    assert ref() is not None  # kept alive by the graph for backward
    y.backward()
    gc.collect()
    assert ref() is None  # freed once backward no longer needs it


def test_saved_values_kept_with_retain_graph():
    x = leaf(np.ones(10))
    h = cr.tanh(x)
    ref = weakref.ref(h)
    y = (h * 2).sum()
    del h
    y.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None


def test_inplace_change_of_saved_input_is_detected():
    w = leaf([1.0, 2.0])
    x = cr.Tensor([3.0, 4.0])
    y = (w * x).sum()
    x.mul_(10)  # x does not require grad: allowed, but mul's backward needs its old value
    with pytest.raises(cr.InplaceError, match="modified in place"):
        y.backward()


def test_inplace_on_tensor_requiring_grad_is_refused_in_grad_mode():
    w = leaf([1.0])
    with pytest.raises(cr.InplaceError, match="no_grad"):
        w.sub_(1.0)
    with cr.no_grad():
        w.sub_(1.0)
    assert w.data.tolist() == [0.0]


def test_setitem_bumps_version():
    w = leaf([1.0, 2.0])
    x = cr.Tensor([3.0, 4.0])
    y = cr.exp(x * w).sum()
    x[0] = 5.0
    with pytest.raises(cr.InplaceError):
        y.backward()


def test_gradient_shape_follows_broadcasting():
    a = leaf(np.ones((2, 3)))
    b = leaf(np.ones((3,)))
    c = leaf(np.ones((2, 1)))
    (a * b + c).sum().backward()
    assert b.grad.shape == (3,) and b.grad.data.tolist() == [2.0, 2.0, 2.0]
    assert c.grad.shape == (2, 1) and c.grad.data.tolist() == [[3.0], [3.0]]


def test_rule_returning_wrong_shape_names_op_and_shapes():
    class Bad(cr.Primitive):
        name = "test_bad_shape"
        register = False

        def forward(x):
            return x * 2

        vjp = (lambda g, out, x: g.sum(),)

    x = leaf(np.ones((2, 3)), name="weights")
    y = cr.core.apply(Bad, x)
    with pytest.raises(cr.ShapeError, match=r"test_bad_shape.*\(\).*'weights'.*\(2, 3\)"):
        y.sum().backward()


def test_leaf_grads_do_not_alias():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.mul_(10)
    assert b.grad.data.tolist() == [1.0, 1.0]
    x = leaf(np.ones((2, 2)))
    x.sum().backward()  # gradient arrives as a broadcast (read-only) view
    x.grad.mul_(3)
    assert x.grad.data.tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_no_grad_and_enable_grad():
    w = leaf(1.0)
    with cr.no_grad():
        assert not (w * 2).requires_grad
        with cr.enable_grad():
            assert (w * 2).requires_grad
    assert (w * 2).requires_grad

    @cr.no_grad()
    def f(t):
        return t * 2

    assert not f(w).requires_grad
    assert cr.is_grad_enabled()


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(cr.GradientError, match="integer|int64"):
        cr.Tensor([1, 2], requires_grad=True)
    with pytest.raises(cr.GradientError, match="astype"):
        cr.Tensor([1, 2]).requires_grad_()


def test_comparisons_do_not_record():
    x = leaf([1.0, -1.0])
    m = x > 0
    assert m.dtype == np.bool_ and not m.requires_grad


def test_create_graph_gives_second_derivative():
    x = leaf(1.5)
    y = x**3
    (g,) = cr.core.backward([y], inputs=[x], create_graph=True)
    assert g.item() == pytest.approx(3 * 1.5**2)
    (h,) = cr.core.backward([g], inputs=[x])
    assert h.item() == pytest.approx(6 * 1.5)


def test_retain_grad_on_intermediate():
    x = leaf(2.0)
    q = (x * 3).retain_grad()
    (q * q).backward()
    assert q.grad.item() == 12.0 and x.grad.item() == 36.0


def test_state_is_restored_after_error_in_backward():
    class Boom(cr.Primitive):
        name = "test_boom"
        register = False

        def forward(x):
            return x

        def _rule(g, out, x):
            raise RuntimeError("boom")

        vjp = (_rule,)

    x = leaf(1.0)
    with pytest.raises(RuntimeError, match="boom"):
        cr.core.apply(Boom, x).backward()
    assert state().raw is False and state().grad_enabled is True
