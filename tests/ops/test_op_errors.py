"""User mistakes in op arguments raise chainrule's own errors (OpError/ShapeError, both
ValueError subclasses, so ``except ValueError`` keeps working) with a message that says
what to do."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core.errors import ChainruleError, OpError, ShapeError

X = cr.Tensor(np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize(
    ("call", "error", "hint"),
    [
        (lambda: cr.concatenate([]), OpError, "at least one tensor"),
        (lambda: cr.stack([]), OpError, "at least one tensor"),
        (lambda: cr.clip(X), OpError, "give `low`, `high` or both"),
        (lambda: cr.concatenate([X, X], axis=2), ShapeError, "valid: -2..1"),
        (lambda: cr.stack([X, X], axis=3), ShapeError, "valid: -3..2"),
        (lambda: cr.take(X, [0], axis=2), ShapeError, "out of range"),
        (lambda: cr.take(cr.Tensor(1.0), [0]), ShapeError, "reshape it to 1-d"),
        (lambda: cr.gather(cr.Tensor(1.0), np.array(0), axis=0), ShapeError, "0-d"),
        (lambda: cr.swapaxes(X, 0, 2), ShapeError, "out of range"),
        (lambda: cr.transpose(X, (0, 2)), ShapeError, "out of range"),
        (lambda: cr.transpose(X, (0,)), ShapeError, "each of the 2 axes"),
        (lambda: X[[[0, 1], [0]]], OpError, "integer array of one shape"),
        (lambda: X[np.array([0.0, 1.0])], OpError, "astype(int)"),
        (lambda: X[[0.5]], OpError, "astype(int)"),
        (lambda: X[5], OpError, "getitem"),
        (lambda: cr.sum(X, axis=1.5), ShapeError, "an int or a tuple of ints"),
        (lambda: cr.mean(X, axis=True), ShapeError, "an int or a tuple of ints"),
    ],
)
def test_user_mistakes_raise_library_errors(call, error, hint):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, ValueError)  # old `except ValueError` still works
    assert hint in str(info.value)


def test_out_of_range_axes_are_not_wrapped_around():
    # axis % ndim used to pick axis 0 here, silently
    with pytest.raises(ShapeError):
        cr.concatenate([X, X], axis=2)
    with pytest.raises(ShapeError):
        cr.take(X, [0, 1], axis=-3)
    np.testing.assert_array_equal(cr.take(X, [2], axis=-1).data, X.data[:, [2]])
    np.testing.assert_array_equal(cr.stack([X, X], axis=-1).data, np.stack([X.data] * 2, -1))


def test_every_op_error_is_a_chainrule_error():
    for call in (lambda: cr.concatenate(()), lambda: cr.clip(X, None, None)):
        with pytest.raises(ChainruleError):
            call()
