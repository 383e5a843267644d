"""Integer and bool inputs follow NumPy: integral results stay integral, the others are
computed in floating point (int64 -> float64, int8/bool -> float16, as ``np.exp``).

The registry sweep checks every *primitive* this way (``integer`` check); here the same
check covers the composed functions, and the user-visible examples of the bug."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops._dtypes import as_floating, float_dtype
from chainrule.testing.sweep import INTEGER_DTYPES, integer_mismatch

X = np.array([[1.0, 2.0, -3.0], [0.0, 2.0, 1.0]])
POS = np.array([[1.0, 2.0, 3.0], [4.0, 1.0, 2.0]])

# composed (or commonly used) functions: name -> (function, float values to test on)
FUNCTIONS = {
    "softmax": (lambda x: cr.softmax(x, axis=1), X),
    "softmax_axis0": (lambda x: cr.softmax(x, axis=0), X),
    "log_softmax": (lambda x: cr.log_softmax(x, axis=-1), X),
    "logsumexp": (lambda x: cr.logsumexp(x, axis=1), X),
    "mean": (lambda x: cr.mean(x), X),
    "mean_axis": (lambda x: cr.mean(x, axis=0, keepdims=True), X),
    "div": (lambda x: x / 2, X),
    "rdiv": (lambda x: 1 / x, POS),
    "pow_half": (lambda x: x**0.5, POS),
    "pow_int": (lambda x: x**2, X),
    "sqrt": (cr.sqrt, POS),
    "exp": (cr.exp, X),
    "log": (cr.log, POS),
    "tanh": (cr.tanh, X),
    "sigmoid": (cr.sigmoid, X),
    "relu": (cr.relu, X),
    "leaky_relu": (lambda x: cr.leaky_relu(x, 0.1), X),
    "elu": (cr.elu, X),
    "clip": (lambda x: cr.clip(x, -0.5, 1.5), X),
    "abs": (cr.abs, X),
    "sum": (lambda x: cr.sum(x, axis=1), X),
    "max": (lambda x: cr.max(x, axis=0), X),
    "matmul": (lambda x: x @ x.T, X),
}


def _values(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return (x != 0) if dtype.kind == "b" else x.astype(dtype)


@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_composed_functions_follow_numpy_for_integer_inputs(name, dtype):
    fn, x = FUNCTIONS[name]
    xi = _values(x, dtype)
    with np.errstate(all="ignore"):
        ref = fn(cr.Tensor(xi.astype(np.float64))).data
        out = fn(cr.Tensor(xi)).data
    msg = integer_mismatch(out, ref, [xi.dtype])
    assert msg is None, f"{name} on {dtype}: {msg}"


def test_the_reported_examples():
    np.testing.assert_allclose(
        cr.sigmoid(cr.Tensor([1, 2, -3])).data, 1 / (1 + np.exp(-np.array([1.0, 2.0, -3.0])))
    )  # was [0, 0, 0]
    from chainrule.nn import functional as F

    loss = F.cross_entropy(cr.Tensor([[1, 2, 3]]), cr.Tensor([0]))
    assert loss.dtype == np.float64  # was int64: 1
    np.testing.assert_allclose(loss.item(), np.log(np.exp([1, 2, 3]).sum()) - 1)


@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=str)
def test_result_dtypes_match_numpy(dtype):
    xi = _values(POS, dtype)
    t = cr.Tensor(xi)
    # where NumPy has the function, the dtype is NumPy's own
    assert cr.mean(t).dtype == np.mean(xi).dtype
    assert cr.exp(t).dtype == np.exp(xi).dtype
    assert cr.tanh(t).dtype == np.tanh(xi).dtype
    assert cr.sqrt(t).dtype == np.sqrt(xi).dtype
    assert (t / t).dtype == (xi / xi).dtype
    assert cr.sum(t).dtype == np.sum(xi).dtype
    assert cr.max(t).dtype == np.max(xi).dtype
    # and the functions NumPy lacks compute in the dtype np.exp would use
    for fn in (cr.sigmoid, cr.softmax, cr.log_softmax, cr.logsumexp):
        assert fn(t).dtype == float_dtype(dtype) == np.exp(xi).dtype, fn


def test_float_inputs_keep_their_dtype():
    for dt in (np.float16, np.float32, np.float64):
        x = cr.Tensor(X.astype(dt))
        for fn in (cr.sigmoid, cr.softmax, cr.log_softmax, cr.logsumexp, cr.mean):
            assert fn(x).dtype == dt, (fn, dt)
        a = X.astype(dt)
        assert as_floating(a) is a  # no copy on the common path


def test_integer_tensors_still_cannot_require_grad():
    with pytest.raises(cr.ChainruleError):
        cr.Tensor([1, 2], requires_grad=True)
