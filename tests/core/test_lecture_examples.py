"""The lecture examples, with exact values."""

import numpy as np
import pytest

import chainrule as cr


def leaf(v):
    return cr.Tensor(v, requires_grad=True)


def test_add_mul_circuit():
    x, y, z = leaf(-2.0), leaf(5.0), leaf(-4.0)
    f = (x + y) * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


def test_max_gate_routes_and_branches_sum():
    x, y, z = leaf(1.0), leaf(2.0), leaf(0.0)
    f = (x + y) * cr.maximum(y, z)
    f.backward()
    assert f.item() == 6.0
    # y gets 2 through (x + y) and 3 through max: the two paths are summed
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (2.0, 5.0, 0.0)


@pytest.mark.parametrize("use_sigmoid_op", [False, True])
def test_sigmoid_neuron(use_sigmoid_op):
    w = leaf([2.0, -3.0, -3.0])
    x = leaf([-1.0, -2.0])
    s = w[0] * x[0] + w[1] * x[1] + w[2]
    f = cr.sigmoid(s) if use_sigmoid_op else 1 / (1 + cr.exp(-s))
    f.backward()
    assert f.item() == pytest.approx(0.7310585786)
    local = (1 - f.item()) * f.item()  # the sigmoid's local gradient, ≈ 0.20
    assert local == pytest.approx(0.1966, abs=1e-4)
    np.testing.assert_allclose(w.grad.data, [-local, -2 * local, local])
    np.testing.assert_allclose(w.grad.data, [-0.20, -0.39, 0.20], atol=0.01)
    np.testing.assert_allclose(x.grad.data, [0.39, -0.59], atol=0.01)
    np.testing.assert_allclose(x.grad.data, [2 * local, -3 * local])


def test_matrix_multiply_gradients():
    X = np.array([[2.0, 1, -3], [-3, 4, 2]])
    W = np.array([[3.0, 2, 1, -1], [2, 1, 3, 2], [3, 2, 1, -2]])
    dY = np.array([[2.0, 3, -3, 9], [-8, 1, 4, 6]])
    x, w = leaf(X), leaf(W)
    y = x @ w
    np.testing.assert_array_equal(y.data, X @ W)
    y.backward(dY)
    np.testing.assert_array_equal(x.grad.data, dY @ W.T)
    np.testing.assert_array_equal(w.grad.data, X.T @ dY)
    # the numbers themselves, worked out by hand for the first row of dL/dX
    assert x.grad.data[0].tolist() == [0.0, 16.0, -9.0]  # e.g. 2·3 + 3·2 − 3·1 + 9·(−2)


def test_squared_norm_of_matrix_vector_product():
    rng = np.random.default_rng(1)
    Wv, xv = rng.normal(size=(3, 2)), rng.normal(size=2)
    W, x = leaf(Wv), leaf(xv)
    q = W @ x
    f = (q * q).sum()
    f.backward()
    qv = Wv @ xv
    np.testing.assert_allclose(W.grad.data, 2 * np.outer(qv, xv))
    np.testing.assert_allclose(x.grad.data, 2 * Wv.T @ qv)


def test_relu_backward():
    x = leaf([1.0, -2.0, 3.0, -1.0])
    cr.relu(x).backward(np.array([4.0, -1.0, 5.0, 9.0]))
    assert x.grad.data.tolist() == [4.0, 0.0, 5.0, 0.0]
