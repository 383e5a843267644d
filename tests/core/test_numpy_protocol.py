"""NumPy's own functions on tensors (``__array_ufunc__``/``__array_function__``).

Routed functions run the chainrule op (a Tensor result, gradients flow); queries run on
the arrays; anything else on a tensor being differentiated raises NumpyFunctionError.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.transforms import grad, jvp


def _x(shape=(2, 3), seed=0) -> cr.Tensor:
    return cr.Tensor(np.random.default_rng(seed).uniform(0.5, 2.0, shape), requires_grad=True)


def _grad_of(f, x: cr.Tensor) -> np.ndarray:
    x.grad = None
    f(x).sum().backward()
    return x.grad.data


ROUTED = [
    ("exp", lambda t: np.exp(t), lambda t: cr.exp(t)),
    ("log", lambda t: np.log(t), lambda t: cr.log(t)),
    ("sqrt", lambda t: np.sqrt(t), lambda t: cr.sqrt(t)),
    ("tanh", lambda t: np.tanh(t), lambda t: cr.tanh(t)),
    ("abs", lambda t: np.abs(-t), lambda t: cr.abs(-t)),
    ("square", lambda t: np.square(t), lambda t: t * t),
    ("power", lambda t: np.power(t, 3.0), lambda t: t**3.0),
    ("negative", lambda t: np.negative(t), lambda t: -t),
    ("ndarray+", lambda t: np.ones(3) + t, lambda t: 1.0 + t),
    ("ndarray-", lambda t: np.ones(3) - t, lambda t: 1.0 - t),
    ("ndarray*", lambda t: np.full(3, 2.0) * t, lambda t: 2.0 * t),
    ("ndarray/", lambda t: np.full(3, 2.0) / t, lambda t: 2.0 / t),
    ("ndarray**", lambda t: np.full(3, 2.0) ** t, lambda t: 2.0**t),
    ("scalar*", lambda t: np.float64(3.0) * t, lambda t: 3.0 * t),
    ("maximum", lambda t: np.maximum(t, 1.0), lambda t: cr.maximum(t, 1.0)),
    ("minimum", lambda t: np.minimum(t, 1.0), lambda t: cr.minimum(t, 1.0)),
    ("matmul", lambda t: np.matmul(t, np.ones((3, 2))), lambda t: t @ np.ones((3, 2))),
    ("ndarray@", lambda t: np.ones((2, 2)) @ t, lambda t: cr.matmul(np.ones((2, 2)), t)),
    ("sum", lambda t: np.sum(t, axis=0), lambda t: t.sum(axis=0)),
    (
        "sum-keepdims",
        lambda t: np.sum(t, axis=1, keepdims=True),
        lambda t: t.sum(axis=1, keepdims=True),
    ),
    ("mean", lambda t: np.mean(t, axis=(0, 1)), lambda t: t.mean()),
    ("max", lambda t: np.max(t, axis=1), lambda t: t.max(axis=1)),
    ("amin", lambda t: np.amin(t), lambda t: t.min()),
    ("add.reduce", lambda t: np.add.reduce(t), lambda t: t.sum(axis=0)),
    ("maximum.reduce", lambda t: np.maximum.reduce(t, axis=1), lambda t: t.max(axis=1)),
    (
        "concatenate",
        lambda t: np.concatenate([t, 2 * t], axis=1),
        lambda t: cr.concatenate([t, 2 * t], axis=1),
    ),
    (
        "concatenate-None",
        lambda t: np.concatenate([t, t], axis=None),
        lambda t: cr.concatenate([t.reshape(-1), t.reshape(-1)]),
    ),
    ("stack", lambda t: np.stack([t, t * t]), lambda t: cr.stack([t, t * t])),
    ("where", lambda t: np.where(t.data > 1, t, -t), lambda t: cr.where(t.data > 1, t, -t)),
    ("reshape", lambda t: np.reshape(t, (3, 2)), lambda t: t.reshape(3, 2)),
    ("ravel", lambda t: np.ravel(t), lambda t: t.reshape(-1)),
    ("transpose", lambda t: np.transpose(t), lambda t: t.T),
    ("swapaxes", lambda t: np.swapaxes(t, 0, 1), lambda t: t.swapaxes(0, 1)),
    ("expand_dims", lambda t: np.expand_dims(t, 0), lambda t: t.expand_dims(0)),
    ("squeeze", lambda t: np.squeeze(np.expand_dims(t, 0)), lambda t: t),
    ("broadcast_to", lambda t: np.broadcast_to(t, (4, 2, 3)), lambda t: t.broadcast_to((4, 2, 3))),
    ("clip", lambda t: np.clip(t, 0.8, 1.5), lambda t: cr.clip(t, 0.8, 1.5)),
    ("dot", lambda t: np.dot(t, np.ones(3)), lambda t: t @ np.ones(3)),
    ("take", lambda t: np.take(t, [2, 0], axis=1), lambda t: cr.take(t, [2, 0], axis=1)),
    (
        "var",
        lambda t: np.var(t, axis=1),
        lambda t: ((t - t.mean(axis=1, keepdims=True)) ** 2).mean(axis=1),
    ),
    ("std-ddof", lambda t: np.std(t, ddof=1), lambda t: cr.sqrt(((t - t.mean()) ** 2).sum() / 5)),
]


@pytest.mark.parametrize("name,f,ref", ROUTED, ids=[r[0] for r in ROUTED])
def test_numpy_functions_are_routed_to_chainrule_ops(name, f, ref) -> None:
    shape = (
        (2, 3)
        if name not in {"ndarray+", "ndarray-", "ndarray*", "ndarray/", "ndarray**", "scalar*"}
        else (3,)
    )
    if name == "ndarray@":
        shape = (2, 3)
    x = _x(shape)
    y = f(x)
    assert isinstance(y, cr.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.data, ref(x).data, rtol=1e-12)
    np.testing.assert_allclose(_grad_of(f, x), _grad_of(ref, x), rtol=1e-12)


def test_comparisons_give_tensors_without_grad_and_sign_a_zero_gradient() -> None:
    x = _x((3,))
    for y in (np.ones(3) < x, np.equal(x, x), np.greater_equal(x, 1.0)):
        assert isinstance(y, cr.Tensor) and not y.requires_grad
    s = np.sign(x)  # piecewise constant, like floor: recorded, with gradient 0 (as PyTorch)
    assert isinstance(s, cr.Tensor)
    (s * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.sign(x.data))


def test_dtype_keyword_casts_with_the_cast_op() -> None:
    x = _x((3,))
    y = np.exp(x, dtype=np.float32)
    assert y.dtype == np.float32 and y.requires_grad
    s = np.sum(x, dtype=np.float32)
    assert s.dtype == np.float32
    (y.sum() + s).backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data) + 1, rtol=1e-6)
    assert x.grad.dtype == np.float64


def test_out_keyword_is_refused_for_tensors_being_differentiated() -> None:
    x = _x((3,))
    with pytest.raises(cr.NumpyFunctionError, match=r"numpy\.exp\(\.\.\., out=\.\.\.\)"):
        np.exp(x, out=np.empty(3))
    with pytest.raises(TypeError, match="out="):
        np.sum(x, out=np.empty(()))
    a = np.zeros(3)
    with pytest.raises(cr.ChainruleError):
        a += x  # an ndarray updated in place from a tensor that requires grad
    assert issubclass(cr.NumpyFunctionError, TypeError)
    assert issubclass(cr.NumpyFunctionError, cr.ChainruleError)


def test_out_keyword_works_for_plain_tensors() -> None:
    x = cr.Tensor([0.0, 1.0])
    out = cr.Tensor(np.empty(2))
    res = np.exp(x, out=out)
    assert res is out
    np.testing.assert_allclose(out.data, np.exp([0.0, 1.0]))
    a = np.zeros(2)
    a += x
    np.testing.assert_allclose(a, [0.0, 1.0])


def test_unsupported_functions_raise_naming_the_function_and_an_alternative() -> None:
    x = _x((3,))
    with pytest.raises(cr.NumpyFunctionError, match=r"numpy\.nancumsum"):
        np.nancumsum(x)
    with pytest.raises(TypeError, match=r"numpy\.linalg\.matrix_power"):
        np.linalg.matrix_power(cr.Tensor(np.eye(2), requires_grad=True), 2)
    with pytest.raises(cr.NumpyFunctionError, match=r"numpy\.nanprod"):
        np.nanprod(x)
    with pytest.raises(cr.NumpyFunctionError, match=r"numpy\.unwrap"):
        np.unwrap(x)
    with pytest.raises(cr.NumpyFunctionError, match=r"numpy\.sum.*`where`"):
        np.sum(x, where=np.array([True, False, True]))
    with pytest.raises(cr.NumpyFunctionError, match=r"numpy\.add\.accumulate"):
        np.add.accumulate(x)


def test_forward_mode_tracking_counts_as_being_differentiated() -> None:
    def f(x):
        return np.exp(np.sum(x * x))

    _, t = jvp(f, (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    assert float(t) == pytest.approx(2 * np.exp(5.0))
    with pytest.raises(cr.NumpyFunctionError):
        jvp(lambda x: np.nancumsum(x), (np.array([1.0, 2.0]),), (np.ones(2),))
    g = grad(lambda x: np.sum(np.tanh(x)))(np.array([0.3]))
    np.testing.assert_allclose(g.data, 1 - np.tanh(0.3) ** 2)


def test_plain_tensors_fall_back_to_numpy_arrays() -> None:
    x = cr.Tensor([1.0, 2.0, 3.0])
    y = np.nancumsum(x)
    assert type(y) is np.ndarray and y.tolist() == [1.0, 3.0, 6.0]
    assert np.nanprod(x) == 6.0
    with cr.no_grad():  # nothing is recorded: the arrays are enough
        assert np.nancumsum(_x((3,))).shape == (3,)


def test_queries_run_on_the_arrays_for_any_tensor() -> None:
    x = _x((2, 3))
    assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6
    assert np.isfinite(x).all() and not np.isnan(x).any()
    assert np.allclose(x, x.data) and np.array_equal(x, x.data)
    assert np.argmax(x) == int(np.argmax(x.data))
    assert np.zeros_like(x).shape == (2, 3)
    assert np.nonzero(np.where(x.data > 1.0))[0].size >= 0
    assert np.result_type(x, np.float32) == np.float64


def test_remainder_and_floor_division() -> None:
    a = cr.Tensor([7.0, -7.0, 5.5, -0.5], requires_grad=True)
    b = cr.Tensor([3.0, 3.0, -2.0, 0.7], requires_grad=True)
    r = a % b
    np.testing.assert_array_equal(r.data, np.remainder(a.data, b.data))  # exactly NumPy's
    r.sum().backward()
    np.testing.assert_array_equal(a.grad.data, np.ones(4))
    np.testing.assert_array_equal(b.grad.data, -np.floor_divide(a.data, b.data))
    q = a // b
    np.testing.assert_array_equal(q.data, np.floor_divide(a.data, b.data))
    assert not q.requires_grad  # piecewise constant: zero gradient
    assert np.array_equal((7.0 % b).data, np.remainder(7.0, b.data))
    assert np.array_equal((7 // cr.Tensor([2, 3])).data, [3, 2])
    d, m = divmod(a, 2.0)
    np.testing.assert_array_equal(d.data, a.data // 2.0)
    np.testing.assert_array_equal(m.data, a.data % 2.0)
    assert np.array_equal(np.remainder(a, 2.0).data, a.data % 2.0)
    assert (cr.Tensor([7, -7]) % 3).tolist() == [1, 2]


def test_ravel_flatten_and_inplace_matmul() -> None:
    x = _x((2, 3))
    assert x.ravel().shape == (6,) and x.flatten().shape == (6,)
    x.flatten().sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3)))
    y = x
    y @= cr.Tensor(np.ones((3, 2)))
    assert y.shape == (2, 2) and y.requires_grad and x.shape == (2, 3)


def test_tensor_of_a_list_of_tensors_stacks_them_differentiably() -> None:
    x = cr.Tensor(np.float32(3.0), requires_grad=True)
    y = cr.tensor([[x, 1.0], [2.0, x * x]])
    assert y.shape == (2, 2) and y.dtype == np.float32 and y.requires_grad
    y.sum().backward()
    assert float(x.grad) == 7.0
    z = cr.tensor([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])], requires_grad=True, name="z")
    assert z.is_leaf and z.requires_grad and z.name == "z" and z.shape == (2, 2)
    assert cr.tensor([x, x], dtype=np.float64).dtype == np.float64
    assert cr.tensor([1, 2]).dtype == np.int64  # no tensor inside: as before
