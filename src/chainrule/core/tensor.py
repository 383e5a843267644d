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

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GradientError, InplaceError
from .state import _get, stamp_write, state

if TYPE_CHECKING:  # for type checkers only: these modules import this one
    from collections.abc import Callable, Iterator, Sequence

    from numpy.typing import DTypeLike

    from ..viz.explain import Explanation
    from .primitive import Primitive
    from .sparse import RowSparse
    from .typing import Axis, ShapeLike, TensorLike

_FLOAT_KINDS = ("f",)  # complex is left out on purpose: every rule here is real-valued


def is_complex(value: Any) -> bool:
    """Whether a value that is not a Tensor holds complex numbers (array, scalar, list).

    For the places where outside values enter (``Tensor(...)``, the constant arguments of
    an op): a Tensor itself never holds complex numbers, so it is never checked again.
    """
    if type(value) is np.ndarray:  # the usual constant: one attribute test
        return bool(value.dtype.kind == "c")
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        return getattr(dtype, "kind", None) == "c"
    if isinstance(value, complex):
        return True
    if isinstance(value, list | tuple):
        return any(is_complex(v) for v in value)
    return False


def complex_error(where: str, dtype: Any = complex) -> GradientError:
    """The error for complex numbers given to chainrule (what, where, what to do instead)."""
    return GradientError(
        f"{where}: got complex numbers (dtype {np.dtype(dtype)}), which chainrule does not "
        f"support: tensors are real and every derivative rule is real-valued. Work with the "
        f"real and imaginary parts as two real tensors (np.real(z), np.imag(z))."
    )


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

    __slots__ = (
        "data",
        "requires_grad",
        "grad",
        "name",
        "_version",
        "_op",
        "_inputs",
        "_params",
        "_seq",
        "_retain",
        "_source",
        "_tangents",
        "_saved",
        "__weakref__",
    )

    # NumPy defers to our reflected operators (ndarray + Tensor -> Tensor.__radd__).
    __array_priority__ = 1000

    # The slots' types, for type checkers (set by _init_leaf and core.dispatch.apply).
    data: np.ndarray
    requires_grad: bool
    grad: Tensor | RowSparse | None  # RowSparse: a sparse gradient (ops.index.embedding)
    name: str | None
    _version: int | Tensor  # an int on the owner of the counter, else the owner
    _op: type[Primitive] | None
    _inputs: tuple[Any, ...] | None
    _params: dict[str, Any] | None
    _seq: int
    _retain: bool
    _source: tuple[str, int, str] | None
    _tangents: dict[Any, Any] | None
    _saved: Any  # the forward's arrays (a tuple or a list), or None once freed

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        *,
        dtype: DTypeLike | None = None,
        name: str | None = None,
    ) -> None:
        base = None
        if isinstance(data, Tensor):
            base = data
            data = data.data
        try:
            arr = np.asarray(data, dtype=dtype)
        except Exception:
            from .interop import to_array  # a torch tensor that requires grad: detach it

            arr = to_array(data, dtype)  # type: ignore[assignment]  # None: raise below
            if arr is None:
                raise
        if arr.dtype.kind == "c":
            raise complex_error(f"creating a tensor{' ' + repr(name) if name else ''}", arr.dtype)
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
        # Any in NumPy 1.26's stubs (a bare ndarray's dtype), a dtype in NumPy 2's
        return self.data.dtype  # type: ignore[no-any-return, unused-ignore]

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
        _concrete(self, "t.item()")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def tolist(self) -> Any:
        _concrete(self, "t.tolist()")
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: Any = None,
        dl_device: Any = None,
        copy: Any = None,
    ) -> Any:
        """Export the data through DLPack (``torch.from_dlpack(t)``, ``np.from_dlpack(t)``).

        The consumer shares this tensor's memory (CPU only). A tensor that requires grad
        exports its data, detached: the graph does not cross over, and writes made by the
        consumer are not seen by chainrule's in-place checks (as for ``t.data``). Keywords
        are passed on to ``ndarray.__dlpack__`` only when given, so a NumPy that lacks one
        raises ``TypeError`` and the consumer retries without it (the protocol's rule).
        """
        kwargs = {
            k: v
            for k, v in (
                ("stream", stream),
                ("max_version", max_version),
                ("dl_device", dl_device),
                ("copy", copy),
            )
            if v is not None
        }
        return self.data.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        """The DLPack device of the data: always the CPU, ``(1, 0)``."""
        return self.data.__dlpack_device__()

    def __float__(self) -> float:
        _concrete(self, "float(t)")
        return float(self.data)

    def __int__(self) -> int:
        _concrete(self, "int(t)")
        return int(self.data)

    def __bool__(self) -> bool:
        _concrete(self, "bool(t) (an `if`, `while`, `and`/`or` or comparison chain)")
        return bool(self.data)

    __hash__ = object.__hash__  # comparisons return tensors, so hash by identity

    def __repr__(self) -> str:
        body = np.array2string(
            self.data, separator=", ", prefix="Tensor(", precision=4, threshold=40, edgeitems=3
        )
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
                f"{self._op.name!r}); use .detach() to get a tensor outside the graph"
            )
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

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """Call ``hook(self)`` in each backward pass as soon as ``self.grad`` is final.

        For a leaf with ``requires_grad=True``: the pass sets its ``.grad`` (and runs the
        hook, once per pass) right after visiting the last operation that used it, so a
        parameter of an early layer is final long before the pass ends; data-parallel
        training starts reducing it then. Returns a handle whose ``remove()`` unregisters
        the hook. Costs nothing while no tensor has a hook. The hook may read
        ``self.grad`` or assign a new one, but must not write into it in place: the rest of
        the pass may still be using that array.

        Examples
        --------
        >>> import chainrule as cr
        >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
        >>> seen = []
        >>> handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad))
        >>> (3 * w).sum().backward()
        >>> seen
        [Tensor([3., 3.])]
        >>> handle.remove()
        """
        from .engine import register_post_accumulate_grad_hook

        return register_post_accumulate_grad_hook(self, hook)

    def backward(
        self, grad: Any = None, *, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
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
        _engine_backward()(
            [self],
            None if grad is None else [grad],
            retain_graph=retain_graph,
            create_graph=create_graph,
        )

    # ------------------------------------------------------------------ in-place writes
    def _mutating(self, what: str) -> None:
        # In-place writes never enter the graph: they are for parameter updates
        # (under no_grad) and for tensors outside autodiff. The clock stamp lets the
        # engine notice if a value that a saved rule needs was changed afterwards.
        if self.requires_grad and (_get(None) or state()).grad_enabled:  # (as apply reads it)
            raise InplaceError(
                f"in-place {what} on a tensor that requires grad"
                f"{' (' + repr(self.name) + ')' if self.name else ''}: it would silently "
                f"change values the backward pass needs. Do updates under "
                f"`with chainrule.no_grad():`, or use the out-of-place op."
            )
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

    if TYPE_CHECKING:
        # Bound at import time by chainrule.ops (and chainrule.viz) through install_methods:
        # declared here so that type checkers see `(x @ W + b).sum()` as a Tensor.
        def __add__(self, other: TensorLike) -> Tensor: ...
        def __radd__(self, other: TensorLike) -> Tensor: ...
        def __sub__(self, other: TensorLike) -> Tensor: ...
        def __rsub__(self, other: TensorLike) -> Tensor: ...
        def __mul__(self, other: TensorLike) -> Tensor: ...
        def __rmul__(self, other: TensorLike) -> Tensor: ...
        def __truediv__(self, other: TensorLike) -> Tensor: ...
        def __rtruediv__(self, other: TensorLike) -> Tensor: ...
        def __floordiv__(self, other: TensorLike) -> Tensor: ...
        def __rfloordiv__(self, other: TensorLike) -> Tensor: ...
        def __mod__(self, other: TensorLike) -> Tensor: ...
        def __rmod__(self, other: TensorLike) -> Tensor: ...
        def __divmod__(self, other: TensorLike) -> tuple[Tensor, Tensor]: ...
        def __rdivmod__(self, other: TensorLike) -> tuple[Tensor, Tensor]: ...
        def __pow__(self, other: TensorLike) -> Tensor: ...
        def __rpow__(self, other: TensorLike) -> Tensor: ...
        def __matmul__(self, other: TensorLike) -> Tensor: ...
        def __rmatmul__(self, other: TensorLike) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __lt__(self, other: TensorLike) -> Tensor: ...
        def __le__(self, other: TensorLike) -> Tensor: ...
        def __gt__(self, other: TensorLike) -> Tensor: ...
        def __ge__(self, other: TensorLike) -> Tensor: ...
        # Elementwise, as in NumPy: object's `-> bool` does not hold (hence the ignores).
        def __eq__(self, other: object) -> Tensor: ...  # type: ignore[override]
        def __ne__(self, other: object) -> Tensor: ...  # type: ignore[override]
        def __getitem__(self, index: Any) -> Tensor: ...
        def __iter__(self) -> Iterator[Tensor]: ...
        def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def logsumexp(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def reshape(self, *shape: ShapeLike) -> Tensor: ...
        def transpose(self, *axes: int | Sequence[int]) -> Tensor: ...
        def permute(self, *axes: int | Sequence[int]) -> Tensor: ...
        def swapaxes(self, a: int, b: int) -> Tensor: ...
        def squeeze(self, axis: Axis = None) -> Tensor: ...
        def expand_dims(self, axis: int | Sequence[int]) -> Tensor: ...
        def broadcast_to(self, shape: Sequence[int]) -> Tensor: ...
        def astype(self, dtype: DTypeLike) -> Tensor: ...
        def ravel(self) -> Tensor: ...
        def flatten(self) -> Tensor: ...
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def tanh(self) -> Tensor: ...
        def sigmoid(self) -> Tensor: ...
        def relu(self) -> Tensor: ...
        def abs(self) -> Tensor: ...
        def clip(self, low: TensorLike | None = None, high: TensorLike | None = None) -> Tensor: ...
        def var(
            self,
            axis: Axis = None,
            dtype: DTypeLike | None = None,
            ddof: float = 0,
            keepdims: bool = False,
        ) -> Tensor: ...
        def std(
            self,
            axis: Axis = None,
            dtype: DTypeLike | None = None,
            ddof: float = 0,
            keepdims: bool = False,
        ) -> Tensor: ...
        def prod(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def cumsum(self, axis: int | None = None) -> Tensor: ...
        def cumprod(self, axis: int | None = None) -> Tensor: ...
        def sort(self, axis: int | None = -1) -> Tensor: ...
        def argsort(self, axis: int | None = -1, kind: str | None = None) -> Tensor: ...
        def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor: ...
        def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor: ...
        def round(self, decimals: int = 0) -> Tensor: ...
        def flip(self, axis: Axis = None) -> Tensor: ...
        def repeat(self, repeats: TensorLike, axis: int | None = None) -> Tensor: ...
        def trace(
            self, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: DTypeLike | None = None
        ) -> Tensor: ...
        def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor: ...
        def softmax(self, axis: int = -1) -> Tensor: ...
        def log_softmax(self, axis: int = -1) -> Tensor: ...
        def explain(self, **kwargs: Any) -> Explanation: ...
        @property
        def T(self) -> Tensor: ...
        @property
        def mT(self) -> Tensor: ...
        def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any: ...
        def __array_function__(
            self, func: Any, types: tuple[type, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any: ...


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
    # `type(v) is int` (cheaper than isinstance) narrows only one branch for mypy
    return v if type(v) is int else v._version  # type: ignore[union-attr,return-value]


def version_owner(t: Tensor) -> Tensor:
    """The tensor holding the version counter that ``t`` shares with its aliases.

    ``_version`` is an int on a tensor that owns its counter, and the owning Tensor on an
    alias (``detach()``, ``Tensor(t)``, an op whose output is a view of its input): one
    counter per piece of memory, without an extra object per op.
    """
    v = t._version
    return t if type(v) is int else v  # type: ignore[return-value]  # as in version()


def as_tensor(x: Any, dtype: DTypeLike | None = None) -> Tensor:
    """Return ``x`` if it is already a Tensor (of ``dtype``), else wrap it without copying."""
    if isinstance(x, Tensor) and (dtype is None or x.data.dtype == dtype):
        return x
    return Tensor(x, dtype=dtype)


def install_methods(methods: dict[str, Any]) -> None:
    """Bind operator and method implementations (called once by :mod:`chainrule.ops`)."""
    for name, fn in methods.items():
        setattr(Tensor, name, fn)


def _concrete(t: Tensor, what: str) -> None:
    """Tell this thread's concretisation hook (set while tracing) that ``t`` becomes a value."""
    st = _get(None)
    if st is not None and st.concrete is not None:
        st.concrete(t, what)
