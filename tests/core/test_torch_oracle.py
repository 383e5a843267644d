"""PyTorch as an oracle: the same random programs give the same values and gradients."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


class CR:
    """The operations the programs use, in chainrule."""

    exp, tanh, sigmoid, relu, log, sqrt, abs = (
        cr.exp,
        cr.tanh,
        cr.sigmoid,
        cr.relu,
        cr.log,
        cr.sqrt,
        cr.abs,
    )
    maximum, minimum, matmul, where = cr.maximum, cr.minimum, cr.matmul, cr.where

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return cr.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return cr.mean(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def amax(x, axis):
        return cr.max(x, axis=axis)

    @staticmethod
    def lse(x, axis):
        return cr.logsumexp(x, axis=axis)

    @staticmethod
    def log_softmax(x, axis):
        return cr.log_softmax(x, axis=axis)

    @staticmethod
    def leaky(x, s):
        return cr.leaky_relu(x, s)

    @staticmethod
    def elu(x):
        return cr.elu(x)

    @staticmethod
    def idx(x, i):
        return x[i]

    @staticmethod
    def gather(x, i, axis):
        return cr.gather(x, i, axis)

    @staticmethod
    def cat(xs, axis):
        return cr.concatenate(xs, axis)

    @staticmethod
    def stack(xs, axis):
        return cr.stack(xs, axis)

    @staticmethod
    def reshape(x, shape):
        return x.reshape(shape)

    @staticmethod
    def T(x):
        return x.T

    @staticmethod
    def clip(x, lo, hi):
        return cr.clip(x, lo, hi)

    @staticmethod
    def const(a):
        return cr.Tensor(a)


class TH:
    """The same operations in PyTorch."""

    exp, tanh, sigmoid, relu, log, sqrt, abs = (
        torch.exp,
        torch.tanh,
        torch.sigmoid,
        torch.relu,
        torch.log,
        torch.sqrt,
        torch.abs,
    )
    maximum, minimum, matmul, where = torch.maximum, torch.minimum, torch.matmul, torch.where

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return x.sum() if axis is None else x.sum(dim=axis, keepdim=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return x.mean() if axis is None else x.mean(dim=axis, keepdim=keepdims)

    @staticmethod
    def amax(x, axis):
        return torch.amax(x, dim=axis)

    @staticmethod
    def lse(x, axis):
        return torch.logsumexp(x, dim=axis)

    @staticmethod
    def log_softmax(x, axis):
        return torch.log_softmax(x, dim=axis)

    @staticmethod
    def leaky(x, s):
        return torch.nn.functional.leaky_relu(x, s)

    @staticmethod
    def elu(x):
        return torch.nn.functional.elu(x)

    @staticmethod
    def idx(x, i):
        i = tuple(
            torch.as_tensor(j) if isinstance(j, np.ndarray) else j
            for j in (i if isinstance(i, tuple) else (i,))
        )
        return x[i]

    @staticmethod
    def gather(x, i, axis):
        return torch.gather(x, axis, torch.as_tensor(i))

    @staticmethod
    def cat(xs, axis):
        return torch.cat(xs, dim=axis)

    @staticmethod
    def stack(xs, axis):
        return torch.stack(xs, dim=axis)

    @staticmethod
    def reshape(x, shape):
        return x.reshape(shape)

    @staticmethod
    def T(x):
        return x.T

    @staticmethod
    def clip(x, lo, hi):
        return torch.clamp(x, lo, hi)

    @staticmethod
    def const(a):
        return torch.as_tensor(a)


def _programs(rng):
    """(name, input shapes, program(lib, *xs) -> scalar)."""
    mask = rng.random((3, 4)) > 0.5
    rows = np.array([0, 2, 2, 1, 0])
    cols = rng.integers(0, 4, size=(3, 2))
    return [
        (
            "broadcast_arith",
            [(3, 4), (4,), (3, 1)],
            lambda L, a, b, c: L.sum((a * b + c) / (1.5 + L.sigmoid(b)) - a**2),
        ),
        (
            "reductions",
            [(2, 3, 4)],
            lambda L, a: (
                L.sum(L.amax(a, 1) * L.mean(a, axis=(0, 1), keepdims=True)[0]) + L.sum(L.lse(a, -1))
            ),
        ),
        (
            "indexing",
            [(3, 4)],
            lambda L, a: (
                L.sum(L.tanh(L.idx(a, rows)) * 2.0)
                + L.sum(L.idx(a, (slice(1, 3), 2)))
                + L.sum(L.gather(a, cols, 1) ** 2)
            ),
        ),
        (
            "matmul_mlp",
            [(5, 4), (4, 6), (6,), (6, 3)],
            lambda L, x, w1, b1, w2: L.sum(
                L.log_softmax(L.matmul(L.relu(L.matmul(x, w1) + b1), w2), 1)
            ),
        ),
        (
            "batched_matmul",
            [(2, 3, 4), (4, 5), (5,)],
            lambda L, a, b, v: L.sum(L.matmul(L.matmul(a, b), v) ** 2),
        ),
        (
            "select",
            [(3, 4), (3, 4)],
            lambda L, a, b: L.sum(
                L.where(L.const(mask), L.maximum(a, b), L.minimum(a, b) * 3) + L.clip(a, -0.5, 0.5)
            ),
        ),
        (
            "activations",
            [(3, 4)],
            lambda L, a: L.sum(L.leaky(a, 0.1) * L.elu(a) + L.abs(a) + L.sqrt(L.exp(a))),
        ),
        (
            "shapes",
            [(2, 3), (2, 3)],
            lambda L, a, b: (
                L.sum(L.T(L.reshape(L.cat([a, b], 0), (3, 4))) ** 2)
                + L.sum(L.stack([a, b], 1) * 2.0)
            ),
        ),
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", [p[0] for p in _programs(np.random.default_rng(0))])
def test_same_values_and_gradients_as_torch(name, seed):
    rng = np.random.default_rng(seed)
    prog = {p[0]: p for p in _programs(rng)}[name]
    _, shapes, fn = prog
    arrays = [rng.normal(size=s) for s in shapes]
    ours = [cr.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_c = fn(CR, *ours)
    out_t = fn(TH, *theirs)
    np.testing.assert_allclose(out_c.item(), out_t.item(), rtol=1e-10, atol=1e-12)
    out_c.backward()
    out_t.backward()
    for k, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(
            o.grad.data,
            t.grad.numpy(),
            rtol=1e-9,
            atol=1e-12,
            err_msg=f"{name}: gradient of input {k}",
        )


def test_float32_matches_torch():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)
    xc, wc = cr.Tensor(x), cr.Tensor(w, requires_grad=True)
    xt, wt = torch.tensor(x), torch.tensor(w, requires_grad=True)
    lc = cr.logsumexp(cr.tanh(xc @ wc), axis=1).mean()
    lt = torch.logsumexp(torch.tanh(xt @ wt), dim=1).mean()
    assert lc.dtype == np.float32
    lc.backward()
    lt.backward()
    assert wc.grad.dtype == np.float32
    np.testing.assert_allclose(wc.grad.data, wt.grad.numpy(), rtol=1e-5, atol=1e-6)
