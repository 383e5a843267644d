"""User code that mypy must accept, with the types it must infer (tests/typing/test_mypy.py).

Checked with the project's mypy settings (every function typed, no ``Any`` returned where
a type is promised, ...): ``assert_type`` fails the check if an expression's inferred
type is not exactly the one given (an ``Any`` would fail too), so this file pins down that
operators, methods bound at import time and op functions all give ``Tensor``. The test also
runs every function here, where ``assert_type`` checks the runtime value instead: the
declarations must tell the truth about what the bound methods return. (Importing the module
only defines functions: pytest imports it to look for doctests.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, get_args, get_origin

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.core.typing import Axis, TensorLike

if TYPE_CHECKING:
    from typing_extensions import assert_type  # typing.assert_type needs Python 3.11
else:

    def assert_type(value, typ):
        """At runtime: the value must be an instance of the class (or tuple of classes)."""
        if isinstance(typ, str):  # a union written as a string: checked by mypy only
            return value
        if get_origin(typ) is tuple:
            args = get_args(typ)
            if args[-1] is Ellipsis:  # tuple[T, ...]
                args = (args[0],) * len(value)
            assert isinstance(value, tuple) and len(value) == len(args), value
            for v, t in zip(value, args, strict=True):
                assert_type(v, t)
        else:
            assert isinstance(value, typ), f"{type(value).__name__} is not {typ.__name__}"
        return value


def affine(x: cr.Tensor, W: cr.Tensor, b: cr.Tensor) -> cr.Tensor:
    # the example: operators bound by install_methods are seen by the checker
    return (x @ W + b).sum()


def accepts_tensor_likes(v: TensorLike, axis: Axis = None) -> cr.Tensor:
    return cr.sum(cr.exp(v), axis=axis)


def operators(x: cr.Tensor, a: np.ndarray) -> None:
    assert_type(x + 1, cr.Tensor)
    assert_type(2.0 * x, cr.Tensor)  # float.__mul__ gives way to Tensor.__rmul__
    assert_type(1 - x, cr.Tensor)
    assert_type(x / a, cr.Tensor)
    assert_type(x**2, cr.Tensor)
    assert_type(-x, cr.Tensor)
    assert_type(abs(x), cr.Tensor)
    assert_type(x @ a, cr.Tensor)
    assert_type(x < 0, cr.Tensor)
    assert_type(x == 1, cr.Tensor)  # elementwise, as in NumPy
    assert_type(x[0, 1:], cr.Tensor)
    assert_type(divmod(x, 3), tuple[cr.Tensor, cr.Tensor])
    for row in x:
        assert_type(row, cr.Tensor)


def methods(x: cr.Tensor) -> None:
    assert_type(x.sum(), cr.Tensor)
    assert_type(x.mean(axis=0, keepdims=True), cr.Tensor)
    assert_type(x.max(axis=(0, 1)), cr.Tensor)
    assert_type(x.reshape(2, -1), cr.Tensor)
    assert_type(x.reshape((2, -1)), cr.Tensor)
    assert_type(x.T, cr.Tensor)
    assert_type(x.mT, cr.Tensor)
    assert_type(x.transpose(1, 0), cr.Tensor)
    assert_type(x.astype(np.float32), cr.Tensor)
    assert_type(x.relu().log_softmax(axis=-1), cr.Tensor)
    assert_type(x.detach(), cr.Tensor)
    assert_type(x.shape, tuple[int, ...])


def functions(x: cr.Tensor) -> None:
    assert_type(cr.exp(x), cr.Tensor)
    assert_type(cr.exp([1.0, 2.0]), cr.Tensor)
    assert_type(cr.add(np.ones(3), 1), cr.Tensor)
    assert_type(cr.where(x > 0, x, 0.0), cr.Tensor)
    assert_type(cr.concatenate([x, np.zeros((1, 2))]), cr.Tensor)
    assert_type(cr.stack([x, x], axis=1), cr.Tensor)
    assert_type(cr.matmul(x, x.T), cr.Tensor)
    assert_type(cr.softmax(x), cr.Tensor)
    assert_type(cr.clip(x, 0.0, None), cr.Tensor)
    assert_type(cr.sin(x) + cr.arctan2(x, 1.0), cr.Tensor)
    assert_type(accepts_tensor_likes(np.float64(2.0)), cr.Tensor)


def layers(x: cr.Tensor) -> None:
    # calling a layer runs its forward: typed for the layers whose forward is
    assert_type(nn.Linear(2, 3)(x), cr.Tensor)
    assert_type(nn.ReLU()(x), cr.Tensor)
    assert_type(nn.Flatten()(x), cr.Tensor)
    assert_type(nn.functional.log_softmax(x), cr.Tensor)
    assert_type(nn.Embedding(4, 2)([0, 3]), cr.Tensor)
    assert_type(nn.CrossEntropyLoss()(x, [0, 1]), cr.Tensor)
    assert_type(nn.MSELoss()(x, np.zeros((2, 2))), cr.Tensor)


def training_step() -> float:
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.ReLU(), nn.Linear(4, 2, rng=rng))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = cr.Tensor(rng.normal(size=(5, 3)))
    loss = nn.CrossEntropyLoss()(model(x), rng.integers(0, 2, size=5))
    opt.zero_grad()
    loss.backward()
    opt.step()
    w = cr.Tensor(np.ones((3, 2)), requires_grad=True)
    y = affine(x, w, cr.Tensor(np.zeros(2)))
    y.backward()
    grad = w.grad
    assert_type(grad, "cr.Tensor | cr.RowSparse | None")
    assert isinstance(grad, cr.Tensor)  # narrows the optional, sparse gradient
    return float(grad.sum()) + float(loss)
