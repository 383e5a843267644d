"""Composed functions under ``chainrule.compile``: traced on one input, run on others.

A composed function that decides something from its input's *values* in Python (a NumPy
mask, a test for NaNs or zeros) would be traced with the first call's decision frozen in:
the compiled code would then be silently wrong for later values. Every composed function
with a sample (those of HIPS autograd's list, ``test_composed_second_order.SAMPLES``, and
the value-dependent ones below) is compiled, called on its sample, then on other values
(reversed and rescaled, and the special values below), and must equal eager.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_composed_second_order import SAMPLES

import chainrule as cr

R = np.random.default_rng(11)
X = R.normal(size=(3, 4))

# name -> (f, first inputs, later inputs): the later ones hit the branches the first miss
VALUE_DEPENDENT = {
    "clip_tensor_bounds": (
        lambda x, hi: cr.clip(x, -1.0, hi),
        (X * 0.1, np.array(1.0)),
        (X * 3.0, np.array(0.5)),
    ),
    "sinc_zeros": (lambda x: cr.sinc(x), (X + 5.0,), (np.where(X > 0, 0.0, X),)),
    "nan_to_num": (
        lambda x: cr.nan_to_num(x * 2.0, posinf=9.0),
        (X,),
        (np.where(X > 0.5, np.inf, np.where(X < -0.5, np.nan, X)),),
    ),
    "select_tensor_conditions": (
        lambda x: cr.select([x < 0, x > 1], [-x, x * 10], default=x),
        (np.abs(X) * 0.5 + 0.1,),
        (X * 2.0,),
    ),
    "fmin_nans": (
        lambda a, b: cr.fmin(a, b),
        (X, X + 0.3),
        (np.where(X > 0, np.nan, X), X),
    ),
    "fmax_nans": (lambda a, b: cr.fmax(a, b), (X, X + 0.3), (X, np.where(X > 0, np.nan, X))),
    "mod": (lambda a: cr.mod(a, 0.7), (np.abs(X),), (X * 3.0 + 0.05,)),
    "gradient_tensor_spacing": (
        lambda x, h, c: cr.gradient(x, h, c, edge_order=2),
        (X, np.array(0.5), np.array([0.0, 1.0, 1.5, 3.0])),
        (X * 2.0, np.array(0.25), np.array([0.0, 0.1, 2.0, 2.5])),
    ),
    "floor_divide": (lambda a: cr.floor_divide(a, 0.7) * a, (np.abs(X),), (X * 3.0 + 0.05,)),
}


def _outputs(out):
    return list(out) if isinstance(out, list | tuple) else [out]


def _other_values(x):
    x = np.asarray(x, dtype=float)
    return np.flip(x).copy() * 1.3 if x.ndim else x * 1.3


def _compare(f, first, later):
    cf = cr.compile(lambda *ts: tuple(_outputs(f(*ts))))
    cf(*[cr.Tensor(x) for x in first])
    for inputs in later:
        got = cf(*[cr.Tensor(x) for x in inputs])
        want = _outputs(f(*[cr.Tensor(x) for x in inputs]))
        for g, w in zip(_outputs(got), want, strict=True):
            np.testing.assert_allclose(g.data, w.data, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert cf.cache_info()["traces"] == 1


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_composed_function_compiled_on_other_values(name):
    f, inputs = SAMPLES[name]
    _compare(f, inputs, [[_other_values(x) for x in inputs]])


@pytest.mark.parametrize("name", sorted(VALUE_DEPENDENT))
def test_value_dependent_composed_function_compiled(name):
    f, first, later = VALUE_DEPENDENT[name]
    _compare(f, first, [later, [_other_values(x) for x in later]])


def test_compiled_average_checks_every_calls_weights():
    cf = cr.compile(lambda a, w: cr.average(a, weights=w))
    a = cr.Tensor([1.0, 2.0, 4.0])
    np.testing.assert_allclose(cf(a, cr.Tensor([1.0, 1.0, 2.0])).data, 2.75)
    with pytest.raises(cr.OpError, match="weights sum to zero"):
        cf(a, cr.Tensor([1.0, -1.0, 0.0]))
    assert cf.cache_info()["traces"] == 1
