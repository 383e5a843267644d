"""Layers, activations and initialisers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.testing.gradcheck import gradcheck


def test_linear_forward_backward_formula(rng):
    fc = nn.Linear(4, 3, rng=rng, dtype=np.float64)
    x = cr.Tensor(rng.normal(size=(5, 4)), requires_grad=True)
    y = fc(x)
    W, b = fc.weight.data, fc.bias.data
    np.testing.assert_allclose(y.data, x.data @ W.T + b)
    g = rng.normal(size=(5, 3))
    y.backward(g)
    np.testing.assert_allclose(fc.weight.grad.data, g.T @ x.data)
    np.testing.assert_allclose(fc.bias.grad.data, g.sum(axis=0))
    np.testing.assert_allclose(x.grad.data, g @ W)
    fc.zero_grad()
    assert gradcheck(lambda x, w, b: F.linear(x, w, b), x, fc.weight, fc.bias)


def test_linear_batched_input_and_no_bias(rng):
    fc = nn.Linear(4, 2, bias=False, rng=rng)
    x = cr.Tensor(rng.normal(size=(2, 3, 4)).astype(np.float32))
    y = fc(x)
    assert y.shape == (2, 3, 2) and y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_allclose(
        fc.weight.grad.data, np.ones((6, 2)).T @ x.data.reshape(6, 4), rtol=1e-5
    )


def test_linear_default_init_bounds():
    fc = nn.Linear(400, 300, rng=np.random.default_rng(0))
    bound = 1 / math.sqrt(400)
    for p in (fc.weight.data, fc.bias.data):
        assert p.dtype == np.float32
        assert p.min() >= -bound and p.max() <= bound
        assert p.max() > 0.9 * bound and p.min() < -0.9 * bound  # really uniform on the range
    # uniform(-b, b) has std b/sqrt(3)
    assert abs(fc.weight.data.std() - bound / math.sqrt(3)) < 0.02 * bound


def test_layers_are_reproducible_with_a_seed():
    a = nn.Linear(5, 5, rng=np.random.default_rng(7))
    b = nn.Linear(5, 5, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    init.manual_seed(11)
    c = nn.Linear(5, 5)
    init.manual_seed(11)
    d = nn.Linear(5, 5)
    np.testing.assert_array_equal(c.weight.data, d.weight.data)


def test_embedding_dense_and_sparse_gradients_agree(rng):
    ids = np.array([[1, 4, 1], [0, 2, 4]])
    dense = nn.Embedding(6, 3, rng=np.random.default_rng(0), dtype=np.float64)
    sparse = nn.Embedding(6, 3, sparse=True, rng=np.random.default_rng(0), dtype=np.float64)
    np.testing.assert_array_equal(dense.weight.data, sparse.weight.data)
    g = rng.normal(size=(2, 3, 3))
    out_d, out_s = dense(ids), sparse(ids)
    np.testing.assert_array_equal(out_d.data, dense.weight.data[ids])
    np.testing.assert_array_equal(out_s.data, out_d.data)
    out_d.backward(g)
    out_s.backward(g)
    assert isinstance(dense.weight.grad, cr.Tensor)
    assert isinstance(sparse.weight.grad, cr.RowSparse)
    np.testing.assert_allclose(sparse.weight.grad.to_dense(), dense.weight.grad.data)
    ref = np.zeros((6, 3))
    np.add.at(ref, ids, g)
    np.testing.assert_allclose(dense.weight.grad.data, ref)


@pytest.mark.parametrize("sparse", [False, True])
def test_embedding_padding_idx(sparse):
    emb = nn.Embedding(5, 2, padding_idx=3, sparse=sparse, rng=np.random.default_rng(0))
    assert np.all(emb.weight.data[3] == 0) and np.any(emb.weight.data[2] != 0)
    ids = np.array([3, 1, 3, 2])
    out = emb(ids)
    assert np.all(out.data[[0, 2]] == 0)
    out.backward(np.ones((4, 2), dtype=np.float32))
    dense = np.asarray(emb.weight.grad.data)
    assert np.all(dense[3] == 0) and np.all(dense[1] == 1) and np.all(dense[0] == 0)


def test_embedding_errors_and_pretrained():
    emb = nn.Embedding(4, 2)
    with pytest.raises(cr.OpError, match=r"\[0, 4\)"):
        emb(np.array([0, 4]))
    with pytest.raises(cr.OpError, match="integers"):
        emb(np.array([0.0]))
    table = np.arange(6.0).reshape(3, 2)
    pre = nn.Embedding.from_pretrained(table)
    assert not pre.weight.requires_grad and pre(np.array([2])).data.tolist() == [[4.0, 5.0]]
    assert (
        repr(nn.Embedding(10, 3, padding_idx=0, sparse=True))
        == "Embedding(10, 3, padding_idx=0, sparse=True)"
    )


def test_dropout_inverted_scaling_and_determinism():
    x = cr.Tensor(np.ones((200, 50)), requires_grad=True)
    drop = nn.Dropout(0.3, rng=np.random.default_rng(0))
    y = drop(x)
    vals = np.unique(y.data)
    np.testing.assert_allclose(vals, [0.0, 1 / 0.7])
    assert abs((y.data == 0).mean() - 0.3) < 0.02
    assert abs(y.data.mean() - 1.0) < 0.03  # expectation preserved
    y.backward(np.ones_like(y.data))
    np.testing.assert_array_equal(x.grad.data, y.data)  # gradient uses the same mask
    again = nn.Dropout(0.3, rng=np.random.default_rng(0))(x)
    np.testing.assert_array_equal(again.data, y.data)
    drop.eval()
    assert drop(x) is x
    assert np.all(nn.Dropout(1.0)(x).data == 0)
    with pytest.raises(cr.OpError):
        nn.Dropout(1.5)


def test_maxout_is_max_over_pieces(rng):
    m = nn.Maxout(3, 2, pieces=3, rng=rng, dtype=np.float64)
    x = cr.Tensor(rng.normal(size=(4, 3)), requires_grad=True)
    z = x.data @ m.weight.data.T + m.bias.data
    np.testing.assert_allclose(m(x).data, z.reshape(4, 2, 3).max(axis=-1))
    assert gradcheck(
        lambda x, w, b: cr.max(cr.reshape(F.linear(x, w, b), (4, 2, 3)), axis=-1),
        x,
        m.weight,
        m.bias,
    )


@pytest.mark.parametrize(
    "name,ref",
    [
        ("relu", lambda x: np.maximum(x, 0)),
        ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
        ("tanh", np.tanh),
        ("leaky_relu", lambda x: np.where(x > 0, x, 0.01 * x)),
        ("elu", lambda x: np.where(x > 0, x, np.expm1(x))),
    ],
)
def test_activation_modules(name, ref, rng):
    x = rng.normal(size=(3, 4))
    np.testing.assert_allclose(nn.activation(name)(cr.Tensor(x)).data, ref(x), rtol=1e-12)


def test_softmax_modules_and_unknown_activation(rng):
    x = rng.normal(size=(3, 4))
    s = nn.Softmax(dim=1)(cr.Tensor(x)).data
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    np.testing.assert_allclose(nn.LogSoftmax(dim=1)(cr.Tensor(x)).data, np.log(s))
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(cr.Tensor(x)).data, np.where(x > 0, x, 0.1 * x))
    with pytest.raises(cr.ChainruleError, match="unknown activation"):
        nn.activation("swish")


def test_flatten_identity(rng):
    x = cr.Tensor(rng.normal(size=(2, 3, 4)))
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Identity()(x) is x


def test_initialisers_statistics():
    rng = np.random.default_rng(0)
    w = nn.Parameter(np.zeros((300, 200)))
    init.xavier_uniform_(w, rng=rng)
    a = math.sqrt(6 / 500)
    assert np.abs(w.data).max() <= a and abs(w.data.std() - a / math.sqrt(3)) < 0.02 * a
    init.xavier_normal_(w, gain=2.0, rng=rng)
    assert abs(w.data.std() - 2 * math.sqrt(2 / 500)) < 0.02 * 2 * math.sqrt(2 / 500)
    init.kaiming_normal_(w, nonlinearity="relu", rng=rng)
    assert abs(w.data.std() - math.sqrt(2 / 200)) < 0.02 * math.sqrt(2 / 200)
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu", rng=rng)
    assert np.abs(w.data).max() <= math.sqrt(6 / 300)
    init.normal_(w, 1.0, 0.5, rng=rng)
    assert abs(w.data.mean() - 1.0) < 0.01 and abs(w.data.std() - 0.5) < 0.01
    init.constant_(w, 0.25)
    assert np.all(w.data == 0.25)
    init.zeros_(w)
    assert not w.data.any()
    init.ones_(w)
    assert np.all(w.data == 1)
    with pytest.raises(cr.ChainruleError, match="at least 2 dimensions"):
        init.xavier_uniform_(nn.Parameter(np.zeros(3)))
    with pytest.raises(cr.ChainruleError, match="Generator"):
        init.normal_(w, rng=0)
    assert init.calculate_gain("leaky_relu", 0.1) == pytest.approx(math.sqrt(2 / 1.01))


def test_linear_matches_torch_layer():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    fc = nn.Linear(4, 3, rng=np.random.default_rng(0), dtype=np.float64)
    tl = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(fc.weight.data))
        tl.bias.copy_(torch.tensor(fc.bias.data))
    x = np.random.default_rng(1).normal(size=(5, 4))
    np.testing.assert_allclose(fc(cr.Tensor(x)).data, tl(torch.tensor(x)).detach().numpy())
    assert dict(tl.state_dict()).keys() == fc.state_dict().keys()
