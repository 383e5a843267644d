"""What the pictures, explanations and formulas know about each op: read from the op.

Nothing here is a table of op names. Every primitive carries its lecture notation as
``lecture`` (a :class:`chainrule.core.lecture.Lecture`: formula, local rules, gate pattern,
drawing symbol, expression-language name) beside its forward and derivative rules, and the
mappings below are live views of :data:`chainrule.core.REGISTRY` built from it. Adding an op
to ``explain``, ``draw`` and ``chainrule explain`` is therefore one class in one file: a
primitive with ``lecture = Lecture(..., expr_name="sin")`` is explained with its rule, drawn
with its symbol, and typeable as ``sin(x)``, also when registered after this module was
imported.

Examples
--------
>>> from chainrule.viz.catalog import FUNCTION_ARITY, RULES, SYMBOLS, MATH_FUNCTIONS
>>> RULES["mul"].grads, SYMBOLS["mul"]
(('{dz} · {1}', '{dz} · {0}'), '×')
>>> FUNCTION_ARITY["max"], MATH_FUNCTIONS["sigmoid"](0.0)
(2, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ..core.dispatch import apply
from ..core.lecture import GENERIC, Lecture, lecture_of
from ..core.primitive import REGISTRY
from . import expr as _expr

__all__ = [
    "RULES",
    "SYMBOLS",
    "EXPR_OPS",
    "FUNCTION_ARITY",
    "MATH_FUNCTIONS",
    "TENSOR_FUNCTIONS",
    "lecture_for",
]


class _Live(Mapping):
    """A read-only mapping rebuilt from the registry whenever an op or its lecture changes."""

    def __init__(self, build: Callable[[], dict[str, Any]], doc: str) -> None:
        self._build = build
        self._key: tuple | None = None
        self._table: dict[str, Any] = {}
        self.__doc__ = doc

    def _current(self) -> dict[str, Any]:
        key = tuple(
            (id(c), id(c.__dict__.get("lecture", getattr(c, "lecture", None))))
            for c in REGISTRY.values()
        )
        if key != self._key:
            self._table, self._key = self._build(), key
        return self._table

    def __getitem__(self, k: str) -> Any:
        return self._current()[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"<live view of the op registry: {dict(self._current())!r}>"


def _rules() -> dict[str, Lecture]:
    return {n: c.lecture for n, c in REGISTRY.items() if isinstance(c.lecture, Lecture)}


def _symbols() -> dict[str, str]:
    return {
        n: c.lecture.symbol
        for n, c in REGISTRY.items()
        if isinstance(c.lecture, Lecture) and c.lecture.symbol
    }


def _expr_ops() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cls in REGISTRY.values():
        lec = cls.lecture
        if isinstance(lec, Lecture) and lec.expr_name and cls.differentiable:
            out.setdefault(lec.expr_name, cls)
    return dict(sorted(out.items()))


def _arity(cls: Any) -> int:
    return cls.lecture.expr_arity or len(cls.vjp)


def _float_function(cls: Any) -> Callable[..., float]:
    def f(*xs: float) -> float:
        # Errors as the math module raises them: OverflowError for a result too large,
        # ValueError outside the domain (log(0), sqrt(-1)); never a NaN or inf.
        try:
            with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
                return float(cls.forward(*(np.float64(x) for x in xs)))
        except FloatingPointError as exc:
            if "overflow" in str(exc):
                raise OverflowError(f"math range error ({exc})") from None
            raise ValueError(f"math domain error ({exc})") from None

    f.__name__ = cls.lecture.expr_name
    f.__doc__ = f"{cls.name} on Python floats (the primitive's own NumPy forward)."
    return f


def _tensor_function(cls: Any) -> Callable[..., Any]:
    def f(*xs: Any) -> Any:
        return apply(cls, *xs)

    f.__name__ = cls.lecture.expr_name
    f.__doc__ = f"{cls.name} on chainrule tensors (recorded like any call of the op)."
    return f


#: op name -> its :class:`Lecture` (ops without one are missing: see :func:`lecture_for`).
RULES: Mapping[str, Lecture] = _Live(_rules, "op name -> Lecture")
#: op name -> the label of its node in a picture.
SYMBOLS: Mapping[str, str] = _Live(_symbols, "op name -> drawing symbol")
#: expression-language name -> primitive class (ops whose lecture has ``expr_name``).
EXPR_OPS: Mapping[str, Any] = _Live(_expr_ops, "expression name -> primitive")
#: expression-language name -> number of arguments.
FUNCTION_ARITY: Mapping[str, int] = _Live(
    lambda: {n: _arity(c) for n, c in EXPR_OPS.items()}, "expression name -> arity"
)
#: expression-language name -> the op on Python floats (its NumPy forward).
MATH_FUNCTIONS: Mapping[str, Callable[..., float]] = _Live(
    lambda: {n: _float_function(c) for n, c in EXPR_OPS.items()}, "name -> float function"
)
#: expression-language name -> the op on chainrule tensors.
TENSOR_FUNCTIONS: Mapping[str, Callable[..., Any]] = _Live(
    lambda: {n: _tensor_function(c) for n, c in EXPR_OPS.items()}, "name -> tensor function"
)


_expr._install(arity=FUNCTION_ARITY, math=MATH_FUNCTIONS)


def lecture_for(op_name: str) -> Lecture:
    """The lecture of the registered op ``op_name``, or the generic one.

    Examples
    --------
    >>> lecture_for("add").gate.startswith("add gate distributes")
    True
    >>> lecture_for("no_such_op") is GENERIC
    True
    """
    cls = REGISTRY.get(op_name)
    return GENERIC if cls is None else lecture_of(cls)
