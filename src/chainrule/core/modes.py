"""The switches as named context managers (and decorators).

Every mode change in chainrule goes through one of these; code outside the core never
edits the thread state by hand. All of them are per thread (see
:mod:`chainrule.core.state`): ``no_grad()`` in one thread leaves other threads recording.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .state import state

F = TypeVar("F", bound=Callable[..., Any])


class _GradMode(contextlib.ContextDecorator):
    """Base for no_grad / enable_grad: usable as ``with`` block or as a decorator."""

    _value: bool

    def __enter__(self) -> _GradMode:
        st = self._state = state()
        self._saved = st.grad_enabled
        st.grad_enabled = self._value
        return self

    def __exit__(self, *exc: Any) -> None:
        self._state.grad_enabled = self._saved

    def __call__(self, fn: F) -> F:  # a fresh instance per call keeps nesting re-entrant
        cls = type(self)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with cls():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]  # wraps keeps fn's signature: an F


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
    """Whether operations on tensors that require grad are being recorded (in this thread)."""
    return state().grad_enabled


def set_grad_enabled(flag: bool) -> None:
    """Turn recording on or off in this thread (prefer the ``no_grad`` context manager)."""
    state().grad_enabled = bool(flag)


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
    st = state()
    saved = st.anomaly
    st.anomaly = True
    st.record_source += 1
    st.refresh()
    try:
        yield
    finally:
        st.anomaly = saved
        st.record_source -= 1
        st.refresh()


@contextlib.contextmanager
def record_source() -> Iterator[None]:
    """Remember the user source line that created every recorded node (for diagnostics).

    Used by ``check_graph`` reports and ``detect_anomaly``; costs about a microsecond per op.
    """
    st = state()
    st.record_source += 1
    st.refresh()
    try:
        yield
    finally:
        st.record_source -= 1
        st.refresh()


def is_anomaly_enabled() -> bool:
    """Whether :func:`detect_anomaly` is active in this thread."""
    return state().anomaly


@contextlib.contextmanager
def raw_mode() -> Iterator[None]:
    """Run chainrule ops on plain arrays: no wrapping, no recording, no observers.

    This is how rules run in a first-order backward pass; interpreters of the recorded
    graph (batched Jacobians, ``check_graph``) use it to call a primitive's rules or
    forward exactly as the engine does.

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> with raw_mode():
    ...     type(cr.tanh(np.zeros(2))).__name__
    'ndarray'
    """
    st = state()
    saved = st.raw, st.grad_enabled
    st.raw, st.grad_enabled = True, True
    try:
        yield
    finally:
        st.raw, st.grad_enabled = saved


@contextlib.contextmanager
def observing(observer: Callable[..., None]) -> Iterator[None]:
    """Call ``observer(op, args, params, out)`` after every op this thread applies.

    The hook that tracing (:mod:`chainrule.jit`) is built on. Observers see the
    primitive class, the arguments as passed, the params dict and the output Tensor.

    Examples
    --------
    >>> import chainrule as cr
    >>> seen = []
    >>> with observing(lambda op, args, params, out: seen.append(op.name)):
    ...     _ = cr.tanh(cr.Tensor([1.0])) + 1.0
    >>> seen
    ['tanh', 'add']
    """
    st = state()
    st.observers.append(observer)
    st.refresh()
    try:
        yield
    finally:
        st.observers.remove(observer)
        st.refresh()


@contextlib.contextmanager
def concretizing(hook: Callable[[Any, str], None]) -> Iterator[None]:
    """Call ``hook(tensor, what)`` whenever this thread turns a Tensor into a Python value.

    ``what`` says how (``"bool(t) ..."``, ``"t.item()"``, ``"float(t)"``, ...). Tracing
    (:mod:`chainrule.jit`) installs one that raises for traced values, since a static
    graph cannot follow a branch taken on them. Hooks do not nest: the innermost wins.

    Examples
    --------
    >>> import chainrule as cr
    >>> seen = []
    >>> with concretizing(lambda t, what: seen.append(what)):
    ...     _ = float(cr.Tensor(2.0))
    >>> seen
    ['float(t)']
    """
    st = state()
    saved = st.concrete
    st.concrete = hook
    try:
        yield
    finally:
        st.concrete = saved


def note_random(what: str) -> None:
    """Say that ``what`` is drawing random numbers in Python (outside any op).

    A traced function would freeze such numbers into its static graph, so the
    concretisation hook (see :func:`concretizing`) is told, with ``None`` for the tensor.
    Outside tracing this does nothing.

    Examples
    --------
    >>> note_random("dropout")  # no hook installed: nothing happens
    """
    hook = state().concrete
    if hook is not None:
        hook(None, what)
