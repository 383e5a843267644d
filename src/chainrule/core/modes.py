"""Switches as context managers (and decorators): no_grad, enable_grad, detect_anomaly."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .state import STATE

F = TypeVar("F", bound=Callable[..., Any])


class _GradMode(contextlib.ContextDecorator):
    """Base for no_grad / enable_grad: usable as ``with`` block or as a decorator."""

    _value: bool

    def __enter__(self) -> _GradMode:
        self._saved = STATE.grad_enabled
        STATE.grad_enabled = self._value
        return self

    def __exit__(self, *exc: Any) -> None:
        STATE.grad_enabled = self._saved

    def __call__(self, fn: F) -> F:  # a fresh instance per call keeps nesting re-entrant
        cls = type(self)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with cls():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradMode):  # noqa: N801 - named like the PyTorch API users know
    """Do not record operations (evaluation, parameter updates).

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    _value = False


class enable_grad(_GradMode):  # noqa: N801
    """Record operations again inside a ``no_grad`` block.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0], requires_grad=True)
    >>> with cr.no_grad(), cr.enable_grad():
    ...     (w * 2).requires_grad
    True
    """

    _value = True


def is_grad_enabled() -> bool:
    """Whether operations on tensors that require grad are being recorded."""
    return STATE.grad_enabled


def set_grad_enabled(flag: bool) -> None:
    """Turn recording on or off (prefer the ``no_grad`` context manager)."""
    STATE.grad_enabled = bool(flag)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise :class:`AnomalyError` at the first op whose value or gradient is NaN/inf.

    The error names the op and the line of *your* code that created it. Slower: use it to
    find a bug, not in production.

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> x = cr.Tensor([0.0], requires_grad=True)
    >>> with cr.detect_anomaly(), np.errstate(divide="ignore"):
    ...     try:
    ...         cr.log(x)
    ...     except cr.AnomalyError as e:
    ...         print(str(e).split(" in the")[0])
    log produced 1 inf
    """
    saved = STATE.anomaly
    STATE.anomaly = True
    STATE.record_source += 1
    STATE.refresh()
    try:
        yield
    finally:
        STATE.anomaly = saved
        STATE.record_source -= 1
        STATE.refresh()


@contextlib.contextmanager
def record_source() -> Iterator[None]:
    """Remember the user source line that created every recorded node (for diagnostics).

    Used by ``check_graph`` reports and ``detect_anomaly``; costs about a microsecond per op.
    """
    STATE.record_source += 1
    STATE.refresh()
    try:
        yield
    finally:
        STATE.record_source -= 1
        STATE.refresh()
