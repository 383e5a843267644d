"""The Tensor: an ``np.ndarray`` plus the bookkeeping that reverse mode needs.

A tensor produced by a recorded op *is* its graph node: ``_op`` names the primitive,
``_inputs``/``_params`` are what its rules need, and ``_seq`` is the value of a global clock
when it was made. Inputs always exist before the ops that read them, so visiting nodes by
decreasing ``_seq`` is a reverse topological order: the engine needs no recursion and no
separate sort. Keeping the node on the tensor (instead of a separate Node object) saves an
allocation per op on the hot path.

Operators and methods that call ops (``+``, ``@``, ``.sum()``, ...) are bound by
:mod:`chainrule.ops`, because the core knows no specific op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import GradientError, InplaceError
from .state import stamp_write, state

_FLOAT_KINDS = ("f",)  # complex is left out on purpose: every rule here is real-valued


def _check_grad_dtype(dtype: np.dtype, name: str | None) -> None:
    if dtype.kind not in _FLOAT_KINDS:
        who = f"tensor {name!r}" if name else "a tensor"
        raise GradientError(
            f"{who} of dtype {dtype} cannot require grad: gradients are defined only for "
            f"floating-point tensors (an integer or bool value has no small changes to "
            f"differentiate). Convert first, e.g. x.astype('float32')."
        )


class Tensor:
    """An n-dimensional array that can record how it was computed.

    Parameters
    ----------
    data : array_like
        The value. Converted with ``np.asarray`` (NumPy's dtype rules: Python floats give
        float64), or to ``dtype`` when given. An array or a CPU torch tensor is wrapped
        without copying; a torch tensor that requires grad is detached first (its values
        come in, its graph stays behind). See also :func:`chainrule.from_dlpack`.
    requires_grad : bool
        Record operations on this tensor so that ``backward()`` can fill ``.grad``. Only
        floating-point tensors may require grad.
    dtype : numpy dtype, optional
    name : str, optional
        A label used in error messages, explanations and graph pictures.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, -2.0, 3.0], requires_grad=True, name="x")
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    Tensor([ 2., -4.,  6.])
    """

    __slots__ = ("data", "requires_grad", "grad", "name", "_version", "_op", "_inputs",
                 "_params", "_seq", "_retain", "_source", "_tangents", "_saved",
                 "__weakref__")

    # NumPy defers to our reflected operators (ndarray + Tensor -> Tensor.__radd__).
    __array_priority__ = 1000

    def __init__(self, data: Any, requires_grad: bool = False, *, dtype: Any = None,
                 name: str | None = None) -> None:
        base = None
        if isinstance(data, Tensor):
            base = data
            data = data.data
        try:
            arr = np.asarray(data, dtype=dtype)
        except Exception:
            from .interop import to_array  # a torch tensor that requires grad: detach it

            arr = to_array(data, dtype)
            if arr is None:
                raise
        if requires_grad:
            _check_grad_dtype(arr.dtype, name)
        _init_leaf(self, arr, bool(requires_grad), name)
        if base is not None and arr is base.data:
            self._version = version_owner(base)  # an alias: in-place writes show on both

    # ------------------------------------------------------------------ basic facts
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (inputs and parameters)."""
        return self._op is None

    @property
    def op(self) -> str | None:
        """Name of the primitive that produced this tensor, or None for a leaf."""
        return None if self._op is None else self._op.name

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None,
                   dl_device: Any = None, copy: Any = None) -> Any:
        """Export the data through DLPack (``torch.from_dlpack(t)``, ``np.from_dlpack(t)``).

        The consumer shares this tensor's memory (CPU only). A tensor that requires grad
        exports its data, detached: the graph does not cross over, and writes made by the
        consumer are not seen by chainrule's in-place checks (as for ``t.data``). Keywords
        are passed on to ``ndarray.__dlpack__`` only when given, so a NumPy that lacks one
        raises ``TypeError`` and the consumer retries without it (the protocol's rule).
        """
        kwargs = {k: v for k, v in (("stream", stream), ("max_version", max_version),
                                    ("dl_device", dl_device), ("copy", copy))
                  if v is not None}
        return self.data.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        """The DLPack device of the data: always the CPU, ``(1, 0)``."""
        return self.data.__dlpack_device__()

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    __hash__ = object.__hash__  # comparisons return tensors, so hash by identity

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", precision=4,
                               threshold=40, edgeitems=3)
        extras = []
        if self.data.dtype not in (np.float64, np.int64, np.bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self._op is not None:
            extras.append(f"op={self._op.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"Tensor({body}{', ' if extras else ''}{', '.join(extras)})"

    # ------------------------------------------------------------------ autograd state
    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Turn gradient recording on (or off) for this leaf, in place; returns self."""
        if self._op is not None and not flag:
            raise GradientError(
                f"cannot turn off requires_grad of a non-leaf tensor (made by "
                f"{self._op.name!r}); use .detach() to get a tensor outside the graph")
        if flag:
            _check_grad_dtype(self.data.dtype, self.name)
        self.requires_grad = bool(flag)
        return self

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, outside any graph.

        The two share one version counter: an in-place write through the detached alias
        is seen by the backward pass of a graph that saved the original (and raises
        :class:`InplaceError` instead of giving a wrong gradient).
        """
        t = Tensor._wrap(self.data)
        t._version = version_owner(self)
        return t

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        self._retain = True
        return self

    def backward(self, grad: Any = None, *, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Backpropagate from this tensor, accumulating into every leaf's ``.grad``.

        Parameters
        ----------
        grad : array_like, optional
            dL/d(self). May be omitted for a one-element tensor (seeded with 1).
        retain_graph : bool, optional
            Keep saved values so backward can run again through this graph. Defaults to
            ``create_graph``: a recorded backward pass may be differentiated again, which
            walks the same graph a second time.
        create_graph : bool
            Record the backward pass itself, so gradients can be differentiated again.
        """
        _engine_backward()([self], None if grad is None else [grad],
                           retain_graph=retain_graph, create_graph=create_graph)

    # ------------------------------------------------------------------ in-place writes
    def _mutating(self, what: str) -> None:
        # In-place writes never enter the graph: they are for parameter updates
        # (under no_grad) and for tensors outside autodiff. The clock stamp lets the
        # engine notice if a value that a saved rule needs was changed afterwards.
        if self.requires_grad and state().grad_enabled:
            raise InplaceError(
                f"in-place {what} on a tensor that requires grad"
                f"{' (' + repr(self.name) + ')' if self.name else ''}: it would silently "
                f"change values the backward pass needs. Do updates under "
                f"`with chainrule.no_grad():`, or use the out-of-place op.")
        version_owner(self)._version = stamp_write()

    def _other(self, other: Any) -> Any:
        return other.data if isinstance(other, Tensor) else other

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self += alpha * other, in place."""
        self._mutating("add_")
        o = self._other(other)
        self.data += o if alpha == 1.0 else alpha * o
        return self

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self -= alpha * other, in place."""
        self._mutating("sub_")
        o = self._other(other)
        self.data -= o if alpha == 1.0 else alpha * o
        return self

    def mul_(self, other: Any) -> Tensor:
        """self *= other, in place."""
        self._mutating("mul_")
        self.data *= self._other(other)
        return self

    def div_(self, other: Any) -> Tensor:
        """self /= other, in place."""
        self._mutating("div_")
        self.data /= self._other(other)
        return self

    def copy_(self, src: Any) -> Tensor:
        """Overwrite this tensor's values with ``src`` (broadcast to this shape)."""
        self._mutating("copy_")
        self.data[...] = self._other(src)
        return self

    def fill_(self, value: float) -> Tensor:
        """Set every element to ``value``, in place."""
        self._mutating("fill_")
        self.data.fill(value)
        return self

    def zero_(self) -> Tensor:
        """Set every element to zero, in place."""
        return self.fill_(0)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._mutating("assignment t[...] = value")
        if isinstance(index, Tensor):
            index = index.data
        self.data[index] = self._other(value)

    # ------------------------------------------------------------------ fast constructor
    @staticmethod
    def _wrap(data: np.ndarray) -> Tensor:
        """A leaf around an existing array, skipping conversion and checks (hot path)."""
        t = _new(Tensor)
        _init_leaf(t, data, False, None)
        return t


_new = object.__new__


def _engine_backward() -> Any:
    # The engine imports Tensor, so it is imported on first use and then kept (an import
    # statement on every backward() call costs a microsecond).
    global _ENGINE_BACKWARD
    if _ENGINE_BACKWARD is None:
        from .engine import backward

        _ENGINE_BACKWARD = backward
    return _ENGINE_BACKWARD


_ENGINE_BACKWARD: Any = None


def _init_leaf(t: Tensor, data: np.ndarray, requires_grad: bool, name: str | None) -> None:
    """Set every slot of a leaf (``core.dispatch.apply`` inlines the same for speed)."""
    t.data = data
    t.requires_grad = requires_grad
    t.grad = None
    t.name = name
    t._version = 0
    t._op = None
    t._inputs = None
    t._saved = None
    t._params = None
    t._seq = 0
    t._retain = False
    t._source = None
    t._tangents = None


def version(t: Tensor) -> int:
    """Clock stamp of the latest in-place write to ``t`` or to any alias of its data."""
    v = t._version
    return v if type(v) is int else v._version


def version_owner(t: Tensor) -> Tensor:
    """The tensor holding the version counter that ``t`` shares with its aliases.

    ``_version`` is an int on a tensor that owns its counter, and the owning Tensor on an
    alias (``detach()``, ``Tensor(t)``, an op whose output is a view of its input): one
    counter per piece of memory, without an extra object per op.
    """
    v = t._version
    return t if type(v) is int else v


def as_tensor(x: Any, dtype: Any = None) -> Tensor:
    """Return ``x`` if it is already a Tensor (of ``dtype``), else wrap it without copying."""
    if isinstance(x, Tensor) and (dtype is None or x.data.dtype == dtype):
        return x
    return Tensor(x, dtype=dtype)


def install_methods(methods: dict[str, Any]) -> None:
    """Bind operator and method implementations (called once by :mod:`chainrule.ops`)."""
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
