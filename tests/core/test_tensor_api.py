"""Tensor basics, error messages, anomaly detection and row-sparse gradients."""

import numpy as np
import pytest

import chainrule as cr


def test_basic_properties_and_numpy_interop():
    t = cr.Tensor([[1.0, 2.0], [3.0, 4.0]], name="t")
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4 and t.dtype == np.float64
    assert np.asarray(t) is t.data
    assert np.array(t, dtype=np.float32).dtype == np.float32
    assert t.numpy() is t.data and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert cr.Tensor(3.5).item() == 3.5 and float(cr.Tensor(2.0)) == 2.0
    assert len(t) == 2
    assert "name='t'" in repr(t)
    assert "requires_grad=True" in repr(cr.Tensor(1.0, requires_grad=True))
    assert "op=mul" in repr(cr.Tensor(1.0, requires_grad=True) * 2)
    rows = [r.tolist() for r in t]
    assert rows == [[1.0, 2.0], [3.0, 4.0]]


def test_numpy_on_the_left_gives_tensor():
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, cr.Tensor) and y.requires_grad
    z = 2.0**x
    z.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.log(2) * 2.0 ** np.array([1.0, 2.0]))


def test_detach_and_requires_grad_():
    x = cr.Tensor([1.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.is_leaf
    z = cr.Tensor([1.0]).requires_grad_()
    assert z.requires_grad
    with pytest.raises(cr.GradientError, match="non-leaf"):
        (x * 2).requires_grad_(False)


def test_matmul_shape_error_names_op_shapes_and_hint():
    a = cr.Tensor(np.ones((2, 3)), name="X")
    b = cr.Tensor(np.ones((4, 3)), name="W")
    with pytest.raises(cr.ShapeError) as e:
        a @ b
    msg = str(e.value)
    assert "matmul" in msg and "(2, 3)" in msg and "(4, 3)" in msg and "'W'" in msg
    assert "b.T" in msg


def test_broadcast_error_is_shape_error():
    with pytest.raises(cr.ShapeError, match=r"add.*\(2, 3\).*\(4,\)"):
        cr.Tensor(np.ones((2, 3))) + cr.Tensor(np.ones(4))


def test_index_out_of_range_is_op_error():
    with pytest.raises(cr.OpError, match="getitem"):
        cr.Tensor(np.ones(3))[5]
    with pytest.raises(cr.OpError, match=r"\[0, 3\)"):
        cr.embedding(cr.Tensor(np.ones((3, 2))), [0, 7])


def test_reduction_axis_error():
    with pytest.raises(cr.ShapeError, match="axis 2 is out of range"):
        cr.sum(cr.Tensor(np.ones((2, 3))), axis=2)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_detect_anomaly_forward_names_op_and_line():
    x = cr.Tensor([1.0, 0.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError) as e:
        cr.log(x)
    assert "log produced 1 inf" in str(e.value)
    assert "test_tensor_api.py" in str(e.value)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_detect_anomaly_backward_names_op_and_line():
    x = cr.Tensor([0.0, 1.0], requires_grad=True)
    with cr.detect_anomaly():
        y = cr.sqrt(x)  # finite forward, infinite gradient at 0
        with pytest.raises(cr.AnomalyError) as e:
            y.sum().backward()
    assert "sqrt" in str(e.value) and "test_tensor_api.py" in str(e.value)


def test_without_anomaly_mode_nan_passes_silently():
    x = cr.Tensor([-1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = cr.log(x)
    assert np.isnan(y.item())


def test_row_sparse_embedding_gradient():
    rng = np.random.default_rng(0)
    table = cr.Tensor(rng.normal(size=(6, 3)), requires_grad=True)
    ids = np.array([[1, 4], [4, 4]])
    out = cr.embedding(table, ids)
    w = rng.normal(size=out.shape)
    (out * w).sum().backward()
    g = table.grad
    assert isinstance(g, cr.RowSparse) and g.shape == (6, 3)
    dense = np.zeros((6, 3))
    np.add.at(dense, ids.reshape(-1), w.reshape(-1, 3))
    np.testing.assert_allclose(g.to_dense(), dense)
    c = g.coalesce()
    assert c.indices.tolist() == [1, 4]
    np.testing.assert_allclose(c.to_dense(), dense)
    # the same lookup through getitem gives the dense equivalent
    t2 = cr.Tensor(table.data, requires_grad=True)
    (t2[ids] * w).sum().backward()
    np.testing.assert_allclose(t2.grad.data, dense)


def test_row_sparse_accumulates_with_dense():
    table = cr.Tensor(np.ones((4, 2)), requires_grad=True)
    cr.embedding(table, [0, 0]).sum().backward()
    (table * 2).sum().backward()
    assert table.grad.data.tolist() == [[4.0, 4.0], [2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]


def test_sigmoid_is_stable():
    x = cr.Tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = cr.sigmoid(x)
        y.sum().backward()
    assert y.data.tolist() == [0.0, 0.5, 1.0]
    assert x.grad.data.tolist() == [0.0, 0.25, 0.0]


def test_logsumexp_is_stable():
    x = cr.Tensor([[1000.0, 1000.0], [-np.inf, 0.0]], requires_grad=True)
    y = cr.logsumexp(x, axis=1)
    np.testing.assert_allclose(y.data, [1000 + np.log(2), 0.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0.5, 0.5], [0.0, 1.0]])
