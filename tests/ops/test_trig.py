"""The trigonometric/hyperbolic/log-family primitives (chainrule.ops.trig).

Their VJP/JVP/second derivatives are checked by the registry sweep and the nested
transforms sweep (tests/transforms/test_second_order_sweep.py); here: values, NumPy
routing, dtypes and numerically hard inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import REGISTRY
from chainrule.transforms import grad

UNARY = {
    "sin": (np.sin, np.cos),
    "cos": (np.cos, lambda x: -np.sin(x)),
    "tan": (np.tan, lambda x: 1 / np.cos(x) ** 2),
    "arcsin": (np.arcsin, lambda x: 1 / np.sqrt(1 - x * x)),
    "arccos": (np.arccos, lambda x: -1 / np.sqrt(1 - x * x)),
    "arctan": (np.arctan, lambda x: 1 / (1 + x * x)),
    "sinh": (np.sinh, np.cosh),
    "cosh": (np.cosh, np.sinh),
    "arcsinh": (np.arcsinh, lambda x: 1 / np.sqrt(x * x + 1)),
    "arccosh": (np.arccosh, lambda x: 1 / np.sqrt(x * x - 1)),
    "arctanh": (np.arctanh, lambda x: 1 / (1 - x * x)),
    "log1p": (np.log1p, lambda x: 1 / (1 + x)),
    "expm1": (np.expm1, np.exp),
    "log2": (np.log2, lambda x: 1 / (x * np.log(2))),
    "log10": (np.log10, lambda x: 1 / (x * np.log(10))),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_gradients_and_numpy_routing(name) -> None:
    f_np, df = UNARY[name]
    lo, hi = REGISTRY[name].domain
    x0 = np.linspace(lo + 0.05, hi - 0.05, 5)
    fn = getattr(cr, name)
    x = cr.Tensor(x0, requires_grad=True)
    y = fn(x)
    np.testing.assert_array_equal(y.data, f_np(x0))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, df(x0), rtol=1e-12)
    routed = f_np(x)  # NumPy's own function on a tensor runs the chainrule op
    assert isinstance(routed, cr.Tensor) and routed.op == name
    x32 = cr.Tensor(x0.astype(np.float32), requires_grad=True)
    fn(x32).sum().backward()
    assert fn(x32).dtype == np.float32 and x32.grad.dtype == np.float32


def test_binary_ops() -> None:
    y = cr.Tensor([1.0, -2.0, 0.5], requires_grad=True)
    x = cr.Tensor([2.0, 1.0, -3.0], requires_grad=True)
    z = cr.arctan2(y, x)
    np.testing.assert_array_equal(z.data, np.arctan2(y.data, x.data))
    z.sum().backward()
    r2 = x.data**2 + y.data**2
    np.testing.assert_allclose(y.grad.data, x.data / r2, rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, -y.data / r2, rtol=1e-12)
    h = np.hypot(cr.Tensor([3.0], requires_grad=True), cr.Tensor([4.0]))
    assert h.op == "hypot" and h.item() == 5.0
    assert np.logaddexp(cr.Tensor([0.0], requires_grad=True), 0.0).op == "logaddexp"


def test_numerically_hard_inputs_stay_finite() -> None:
    a = cr.Tensor([1000.0, -1000.0], requires_grad=True)
    b = cr.Tensor([1000.0, 0.0], requires_grad=True)
    z = cr.logaddexp(a, b)
    np.testing.assert_allclose(z.data, [1000 + np.log(2), 0.0])
    z.sum().backward()
    np.testing.assert_allclose(a.grad.data, [0.5, 0.0])
    np.testing.assert_allclose(b.grad.data, [0.5, 1.0])
    big = cr.Tensor([1e200], requires_grad=True)
    h = cr.hypot(big, big)
    h.backward(np.ones(1))
    np.testing.assert_allclose(big.grad.data, [2 / np.sqrt(2)])
    tiny = cr.Tensor([1e-12], requires_grad=True)
    cr.log1p(tiny).backward(np.ones(1))
    assert cr.log1p(tiny).item() == pytest.approx(1e-12, rel=1e-10)
    assert cr.expm1(tiny).item() == pytest.approx(1e-12, rel=1e-10)
    np.testing.assert_allclose(tiny.grad.data, [1.0])


def test_second_derivative_of_sin_is_minus_sin() -> None:
    g2 = grad(grad(lambda x: cr.sin(x)))(np.array(0.7))
    assert float(g2) == pytest.approx(-np.sin(0.7), rel=1e-12)
