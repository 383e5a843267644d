"""User code with mistakes that mypy must report (tests/typing/test_mypy.py).

Each marked line must give exactly the error code after ``# expect:``, and no other line may
give one: were the library's results typed ``Any``, none of these would be caught. The
functions are never called (importing the module, as pytest does, only defines them).
"""

from __future__ import annotations

import numpy as np

import chainrule as cr


def results_are_tensors_not_any(x: cr.Tensor, W: cr.Tensor) -> tuple[str, int]:
    label: str = (x @ W).sum()  # expect: assignment
    count: int = cr.exp(x)  # expect: assignment
    x.no_such_method()  # expect: attr-defined
    return label, count


def arguments_are_checked(x: cr.Tensor) -> None:
    cr.sum(x, axis="rows")  # expect: arg-type
    cr.exp({"a": 1.0})  # expect: arg-type
    x.reshape(2.5)  # expect: arg-type
    cr.exp(x, 2)  # expect: call-arg
    cr.softmax(x, axis="last")  # expect: arg-type


def gradients_may_be_missing(x: cr.Tensor) -> float:
    return float(x.grad.sum())  # expect: union-attr


def arrays_are_not_tensors(a: np.ndarray) -> None:
    a.backward()  # expect: attr-defined
