"""gradcheck finds wrong rules and says where."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import apply
from chainrule.testing import GradcheckError, gradcheck, numeric_jvp, numeric_vjp


class WrongSquare(cr.Primitive):
    name = "test_wrong_square"
    register = False

    def forward(x):
        return x * x

    vjp = (lambda g, out, x: g * x,)  # should be 2·x


def test_passes_on_correct_gradients(rng):
    assert gradcheck(
        lambda a, b: cr.tanh(a @ b) * 2.0, rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    )


def test_reports_input_element_and_error():
    with pytest.raises(GradcheckError) as e:
        gradcheck(lambda x: apply(WrongSquare, x).sum(), np.array([1.0, 2.0, 3.0]))
    msg = str(e.value)
    assert "3 element(s) disagree" in msg
    assert "input 0, element (2,): analytic 3, numeric 6" in msg


def test_returns_false_when_asked():
    assert gradcheck(lambda x: apply(WrongSquare, x).sum(), [1.0], raise_exception=False) is False


def test_integer_inputs_pass_through(rng):
    idx = np.array([0, 2, 2])
    assert gradcheck(lambda t, i: cr.take(t, i, axis=0) ** 2, rng.normal(size=(3, 2)), idx)


def test_numeric_helpers_match_analytic(rng):
    a = rng.normal(size=(3,))
    u = rng.normal(size=(3,))
    (g,) = numeric_vjp(lambda x: cr.exp(x), [a], u)
    np.testing.assert_allclose(g, u * np.exp(a), rtol=1e-6)
    v = rng.normal(size=(3,))
    np.testing.assert_allclose(numeric_jvp(lambda x: cr.exp(x), [a], [v]), v * np.exp(a), rtol=1e-6)


def test_gradcheck_on_a_zero_dimensional_input():
    # a 0-d input used to crash the mismatch search (np.nonzero refuses 0-d arrays)
    assert gradcheck(lambda x: x * x * 3.0, np.array(1.5))
    assert gradcheck(lambda x: apply(WrongSquare, x), np.array(1.5), raise_exception=False) is False
    with pytest.raises(GradcheckError, match=r"element \(\)"):
        gradcheck(lambda x: apply(WrongSquare, x), np.array(1.5))
