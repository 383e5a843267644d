"""NumPy's own functions on tensors: ``np.exp(t)``, ``np.sum(t, axis=0)``, ``arr + t``.

Tensor implements NumPy's two dispatch protocols, ``__array_ufunc__`` (NEP 13: ufuncs such
as ``np.exp``, ``np.add``, ``np.matmul``, and the operators of an ``ndarray`` whose other
operand is a Tensor) and ``__array_function__`` (NEP 18: ``np.sum``, ``np.concatenate``,
``np.where``, ...). Both are bound to Tensor by :mod:`chainrule.ops` (the core knows no
specific op). Three outcomes, decided per call:

1. **Routed.** A NumPy function that chainrule implements runs the chainrule op (``np.exp``
   is ``cr.exp``, ``np.sum`` is ``cr.sum``, ...), whatever the tensors: the result is a
   Tensor and gradients flow. ``dtype=`` casts the inputs first (the cast op, so it is
   differentiable to float dtypes). ``out=`` cannot be recorded: it is refused for tensors
   being differentiated and done by NumPy otherwise.
2. **Queries.** Functions whose result carries no derivative (``np.shape``, ``np.ndim``,
   ``np.isfinite``, ``np.allclose``, ``np.argmax``, ``np.zeros_like``, any ufunc with a bool
   result, ...) run on the arrays and return NumPy values, for any tensor.
3. **Everything else** raises :class:`NumpyFunctionError` (a ``TypeError``) naming the
   function and the chainrule alternative when a tensor involved is being differentiated
   (it requires grad while grad mode is on, or a forward-mode level tracks it): the graph is
   never dropped silently. For tensors that are not being differentiated the function runs
   on the arrays and returns what NumPy returns (plain arrays).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import ChainruleError
from ..core.state import state
from ..core.tensor import Tensor
from . import arithmetic as _ar
from . import arrange as _ag
from . import contract as _ct
from . import cumulative as _cu
from . import decomp as _dc
from . import elementwise as _el
from . import functions as _fn
from . import index as _ix
from . import linalg as _la
from . import ordering as _or
from . import reduce as _rd
from . import rounding as _rn
from . import select as _se
from . import shape as _sh
from . import trig as _tr
from .arithmetic import floor_divide, remainder
from .cast import astype

__all__ = ["NumpyFunctionError", "floor_divide", "remainder", "register_ufunc"]


class NumpyFunctionError(ChainruleError, TypeError):
    """A NumPy function that chainrule does not implement was called on a tensor that is
    being differentiated (running it on the arrays would drop the graph)."""


# ---------------------------------------------------------------------- helpers
def _differentiated(x: Any) -> bool:
    """Whether ``x`` (or a tensor inside a list/tuple/dict) is being differentiated."""
    if isinstance(x, Tensor):
        return bool((x.requires_grad and state().grad_enabled) or x._tangents)
    if isinstance(x, list | tuple):
        return any(_differentiated(a) for a in x)
    if isinstance(x, dict):
        return any(_differentiated(a) for a in x.values())
    return False


def _unwrap(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, list):
        return [_unwrap(a) for a in x]
    if isinstance(x, tuple):
        return tuple(_unwrap(a) for a in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _outs(out: Any) -> tuple:
    if out is None:
        return ()
    return out if isinstance(out, tuple) else (out,)


def _numpy_with_out(func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run ``func`` on the arrays; ``out=`` tensors are written in place (and stamped)."""
    outs = _outs(kwargs.get("out"))
    for o in outs:
        if isinstance(o, Tensor):
            o._mutating(f"numpy.{_name(func)}(..., out=...)")
    res = func(*_unwrap(args), **_unwrap(kwargs))
    if outs:  # NumPy returns its out arrays: give back the caller's objects instead
        return outs[0] if len(outs) == 1 else outs
    return res


def _name(func: Any) -> str:
    mod = getattr(func, "__module__", None) or "numpy"
    name = getattr(func, "__name__", repr(func))
    if mod.startswith("numpy.linalg"):
        return f"linalg.{name}"
    if mod.startswith("numpy.fft"):
        return f"fft.{name}"
    return name


_HINTS = {
    "dot": "cr.matmul (np.dot is routed for 1-d and 2-d operands only)",
    "copy": "the tensor itself (chainrule ops never write in place), or x + 0.0",
}


def _refuse(func: Any, what: str = "") -> NumpyFunctionError:
    name = _name(func)
    hint = _HINTS.get(name)
    alt = (
        f" Use {hint} instead."
        if hint
        else " Write it with chainrule ops (the cr.* functions and Tensor methods), "
    )
    if not hint:
        alt += "or call NumPy on x.detach() / x.data if you do not need its gradient."
    else:
        alt += " Call NumPy on x.detach() / x.data if you do not need its gradient."
    return NumpyFunctionError(
        f"numpy.{name}{what} on a tensor that is being differentiated (it requires grad, or "
        f"a forward-mode level tracks it): chainrule does not implement numpy.{name}, and "
        f"running it on the arrays would silently drop the gradient.{alt}"
    )


def _refuse_kw(func: Any, key: str) -> NumpyFunctionError:
    name = _name(func)
    if key == "out":
        return NumpyFunctionError(
            f"numpy.{name}(..., out=...) on a tensor that is being differentiated: a result "
            f"written into an existing array cannot be recorded for backward. Use the "
            f"returned tensor instead (y = np.{name}(...)), or pass x.detach() if you do "
            f"not need the gradient."
        )
    return NumpyFunctionError(
        f"numpy.{name}(..., {key}=...) on a tensor that is being differentiated: chainrule's "
        f"version of numpy.{name} does not support `{key}`, and running NumPy on the arrays "
        f"would silently drop the gradient. Leave `{key}` out (or call NumPy on x.detach())."
    )


def _cast_inputs(args: tuple, dtype: Any) -> tuple:
    return tuple(
        astype(a, dtype)
        if isinstance(a, Tensor | np.ndarray)
        else (np.asarray(a, dtype=dtype) if isinstance(a, int | float | bool) else a)
        for a in args
    )


# ---------------------------------------------------------------------- composed ops
# (floor_divide and remainder are primitives in arithmetic.py)
def _divmod(a: Any, b: Any) -> tuple[Any, Any]:
    return floor_divide(a, b), remainder(a, b)


def _positive(x: Any) -> Any:
    return x if isinstance(x, Tensor) else Tensor(x)


def _square(x: Any) -> Any:
    return _ar.mul(x, x)


# ---------------------------------------------------------------------- ufuncs
UFUNCS: dict[Any, Callable[..., Any]] = {
    np.add: _ar.add,
    np.subtract: _ar.sub,
    np.multiply: _ar.mul,
    np.true_divide: _ar.div,
    np.power: _ar.pow,
    np.negative: _ar.neg,
    np.positive: _positive,
    np.absolute: _el.abs,
    np.exp: _el.exp,
    np.log: _el.log,
    np.sqrt: _el.sqrt,
    np.tanh: _el.tanh,
    np.sign: _el.sign,
    np.square: _square,
    np.maximum: _se.maximum,
    np.minimum: _se.minimum,
    np.equal: _se.eq,
    np.not_equal: _se.ne,
    np.less: _se.lt,
    np.less_equal: _se.le,
    np.greater: _se.gt,
    np.greater_equal: _se.ge,
    np.matmul: _la.matmul,
    np.sin: _tr.sin,
    np.cos: _tr.cos,
    np.tan: _tr.tan,
    np.arcsin: _tr.arcsin,
    np.arccos: _tr.arccos,
    np.arctan: _tr.arctan,
    np.sinh: _tr.sinh,
    np.cosh: _tr.cosh,
    np.arcsinh: _tr.arcsinh,
    np.arccosh: _tr.arccosh,
    np.arctanh: _tr.arctanh,
    np.log1p: _tr.log1p,
    np.expm1: _tr.expm1,
    np.log2: _tr.log2,
    np.log10: _tr.log10,
    np.arctan2: _tr.arctan2,
    np.hypot: _tr.hypot,
    np.logaddexp: _tr.logaddexp,
    np.floor_divide: floor_divide,
    np.remainder: remainder,
    np.divmod: _divmod,
    # piecewise constant: zero-gradient primitives (gradient 0, as PyTorch)
    np.floor: _rn.floor,
    np.ceil: _rn.ceil,
    np.trunc: _rn.trunc,
    np.rint: _rn.rint,
}

#: ufunc.reduce that chainrule implements: ufunc -> reduction
_REDUCE = {np.add: _rd.sum, np.maximum: _rd.max, np.minimum: _rd.min, np.multiply: _cu.prod}


def register_ufunc(ufunc: Any, fn: Callable[..., Any]) -> None:
    """Route ``ufunc(...)`` on tensors to the chainrule function ``fn`` (used by op modules)."""
    UFUNCS[ufunc] = fn


def _bool_result(ufunc: Any) -> bool:
    return all(t.split("->")[1] == "?" * ufunc.nout for t in ufunc.types)


def array_ufunc(self: Tensor, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """``Tensor.__array_ufunc__`` (NEP 13)."""
    diff = _differentiated(inputs)
    out = kwargs.get("out")
    if method == "__call__":
        fn = UFUNCS.get(ufunc)
        if fn is not None and not _outs(out):
            extra = set(kwargs) - {"dtype", "out"}
            if extra:
                if diff:
                    raise _refuse_kw(ufunc, sorted(extra)[0])
            else:
                dtype = kwargs.get("dtype")
                args = _cast_inputs(inputs, dtype) if dtype is not None else inputs
                return fn(*args)
        if diff:
            if _outs(out) or _differentiated(out):
                raise _refuse_kw(ufunc, "out")
            if fn is None and not _bool_result(ufunc):
                raise _refuse(ufunc)
        return _numpy_with_out(ufunc, inputs, kwargs)
    if method == "reduce" and ufunc in _REDUCE and not _outs(out):
        extra = set(kwargs) - {"axis", "dtype", "keepdims", "out"}
        if not extra:
            (x,) = inputs
            dtype = kwargs.get("dtype")
            if dtype is not None:
                x = astype(x, dtype)
            return _REDUCE[ufunc](x, kwargs.get("axis", 0), bool(kwargs.get("keepdims", False)))
        if diff:
            raise _refuse_kw(ufunc, sorted(extra)[0])
    if diff and not _bool_result(ufunc):
        if _outs(out):
            raise _refuse_kw(ufunc, "out")
        raise _refuse(ufunc, f".{method}")
    return _numpy_with_out(getattr(ufunc, method), inputs, kwargs)


# ---------------------------------------------------------------------- functions
# NumPy's "argument not given" marker (private: NumPy 1.26's stubs do not declare it)
_NO = np._NoValue  # type: ignore[attr-defined, unused-ignore]


def _given(kwargs: dict, key: str) -> bool:
    v = kwargs.get(key, _NO)
    return v is not _NO and v is not None


def _reduction(fn: Callable[..., Any], extra: tuple[str, ...] = ()) -> Callable[..., Any]:
    def h(
        a: Any,
        axis: Any = None,
        dtype: Any = None,
        out: Any = None,
        keepdims: Any = False,
        **kw: Any,
    ) -> Any:
        for key in ("initial", "where", *extra):
            if _given(kw, key):
                raise _Unsupported(key)
        if keepdims is _NO:
            keepdims = False
        if dtype is not None:
            a = astype(a, dtype)
        return fn(a, axis, bool(keepdims))

    return h


def _extremum(fn: Callable[..., Any]) -> Callable[..., Any]:
    def h(a: Any, axis: Any = None, out: Any = None, keepdims: Any = False, **kw: Any) -> Any:
        for key in ("initial", "where"):
            if _given(kw, key):
                raise _Unsupported(key)
        return fn(a, axis, False if keepdims is _NO else bool(keepdims))

    return h


class _Unsupported(Exception):
    """A keyword the chainrule version does not support (raised inside handlers)."""


def _flat(x: Any) -> Any:
    return _sh.reshape(x, -1)


def _concatenate(
    arrays: Any, axis: Any = 0, out: Any = None, dtype: Any = None, casting: Any = "same_kind"
) -> Any:
    xs = list(arrays)
    if axis is None:
        xs, axis = [_flat(x) for x in xs], 0
    if dtype is not None:
        xs = list(_cast_inputs(tuple(xs), dtype))
    return _sh.concatenate(xs, axis)


def _stack(
    arrays: Any, axis: int = 0, out: Any = None, *, dtype: Any = None, casting: Any = "same_kind"
) -> Any:
    xs = list(arrays)
    if dtype is not None:
        xs = list(_cast_inputs(tuple(xs), dtype))
    return _sh.stack(xs, axis)


def _where(condition: Any, *xy: Any) -> Any:
    if len(xy) != 2:
        raise _Query  # np.where(cond) is np.nonzero: indices, no derivative
    return _se.where(_unwrap(condition), xy[0], xy[1])


class _Query(Exception):
    """This call of a routed function is a query (runs on the arrays)."""


def _reshape(a: Any, *args: Any, **kw: Any) -> Any:
    shape = args[0] if args else kw.get("shape", kw.get("newshape"))
    order = args[1] if len(args) > 1 else kw.get("order", "C")
    if order not in ("C", None):
        raise _Unsupported("order")
    if kw.get("copy") is not None:
        raise _Unsupported("copy")
    # shape is whatever the caller gave (Any), or None when missing: reshape then raises
    return _sh.reshape(a, (shape,) if isinstance(shape, int | np.integer) else shape)  # type: ignore[arg-type]


def _ravel(a: Any, order: str = "C") -> Any:
    if order not in ("C", None):
        raise _Unsupported("order")
    return _flat(a)


def _transpose(a: Any, axes: Any = None) -> Any:
    return _sh.transpose(a, None if axes is None else tuple(axes))


def _dot(a: Any, b: Any, out: Any = None) -> Any:
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return _ar.mul(a, b)
    if na <= 2 and nb <= 2:
        return _la.matmul(a, b)
    raise _Unsupported("operands of more than 2 dimensions (use cr.matmul)")


def _take(a: Any, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Any:
    if mode != "raise":
        raise _Unsupported("mode")
    if axis is None:
        a, axis = _flat(a), 0
    return _ix.take(a, _unwrap(indices), axis)


# np.var, np.std, np.clip (tensor bounds too) and NumPy's array functions composed in
# chainrule.ops.toolbox are added to FUNCTIONS (and ufuncs to UFUNCS) by that module.


def _cumulative(fn: Callable[..., Any]) -> Callable[..., Any]:
    def h(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
        return fn(a if dtype is None else astype(a, dtype), axis)

    return h


def _sort(
    a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *, stable: Any = None
) -> Any:
    if order is not None:
        raise _Unsupported("order")
    return _or.sort(a, axis)  # every kind gives the same values


def _einsum(*operands: Any, out: Any = None, optimize: Any = False, **kw: Any) -> Any:
    for key in ("dtype", "order", "casting"):
        if kw.get(key) not in (None, "K", "safe"):
            raise _Unsupported(key)
    if not operands or not isinstance(operands[0], str):
        raise _Unsupported("the interleaved operand/sublist form")
    return _ct.einsum(operands[0], *operands[1:])


def _pad(array: Any, pad_width: Any, mode: Any = "constant", **kw: Any) -> Any:
    if callable(mode) or set(kw) - {"constant_values"}:
        raise _Unsupported("mode" if callable(mode) else sorted(set(kw) - {"constant_values"})[0])
    if mode not in ("constant", "edge", "reflect", "symmetric", "wrap"):
        raise _Unsupported(f"mode={mode!r}")
    cv = kw.get("constant_values", 0)
    if np.ndim(_unwrap(cv)) != 0:
        raise _Unsupported("constant_values (per side)")
    return _ag.pad(array, pad_width, mode, _unwrap(cv))


def _round(a: Any, decimals: int = 0, out: Any = None) -> Any:
    return _rn.round(a, decimals)


FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.sum: _reduction(_rd.sum),
    np.mean: _reduction(_fn.mean),
    np.max: _extremum(_rd.max),
    np.amax: _extremum(_rd.max),
    np.min: _extremum(_rd.min),
    np.amin: _extremum(_rd.min),
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.where: _where,
    np.reshape: _reshape,
    np.ravel: _ravel,
    np.transpose: _transpose,
    np.swapaxes: lambda a, axis1, axis2: _sh.swapaxes(a, axis1, axis2),
    np.squeeze: lambda a, axis=None: _sh.squeeze(a, axis),
    np.expand_dims: lambda a, axis: _sh.expand_dims(a, axis),
    np.broadcast_to: lambda array, shape, subok=False: _sh.broadcast_to(array, shape),
    np.dot: _dot,
    np.take: _take,
    # the array toolbox
    np.prod: _reduction(_cu.prod),
    np.cumsum: _cumulative(_cu.cumsum),
    np.cumprod: _cumulative(_cu.cumprod),
    np.sort: _sort,
    np.einsum: _einsum,
    np.tensordot: lambda a, b, axes=2: _ct.tensordot(a, b, axes),
    np.take_along_axis: lambda arr, indices, axis=-1: _ag.take_along_axis(arr, indices, axis),
    np.pad: _pad,
    np.flip: lambda m, axis=None: _ag.flip(m, axis),
    np.roll: lambda a, shift, axis=None: _ag.roll(a, shift, axis),
    np.round: _round,
    np.around: _round,
}


def _linalg(name: str) -> Callable[..., Any]:
    """Route to ``chainrule.linalg.<name>``, imported at call time (it imports the ops)."""

    def route(*args: Any, **kwargs: Any) -> Any:
        from .. import linalg

        return getattr(linalg, name)(*args, **kwargs)

    return route


# linear algebra (chainrule.linalg); NumPy 2's np.linalg.trace/diagonal/svdvals when present
FUNCTIONS.update(
    {
        getattr(np.linalg, n): _linalg(n)
        for n in (
            "solve",
            "inv",
            "det",
            "slogdet",
            "cholesky",
            "eigh",
            "eigvalsh",
            "svd",
            "svdvals",
            "qr",
            "pinv",
            "norm",
            "trace",
            "diagonal",
        )
        if hasattr(np.linalg, n)
    }
)


def _trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None) -> Any:
    return _dc.trace(a, offset, axis1, axis2, dtype)


def _diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    return _dc.diagonal(a, offset, axis1, axis2)


def _linalg_matmul(x1: Any, x2: Any) -> Any:
    return _la.matmul(x1, x2)


FUNCTIONS.update({np.trace: _trace, np.diagonal: _diagonal})
if hasattr(np.linalg, "matmul"):
    FUNCTIONS[np.linalg.matmul] = _linalg_matmul

#: functions whose result carries no derivative: run on the arrays for any tensor
QUERIES = frozenset(
    {
        np.shape,
        np.ndim,
        np.size,
        np.result_type,
        np.can_cast,
        np.min_scalar_type,
        np.zeros_like,
        np.ones_like,
        np.empty_like,
        np.full_like,
        np.allclose,
        np.isclose,
        np.array_equal,
        np.array_equiv,
        np.argmax,
        np.argmin,
        np.argsort,
        np.argwhere,
        np.nonzero,
        np.flatnonzero,
        np.count_nonzero,
        np.any,
        np.all,
        np.searchsorted,
        np.may_share_memory,
        np.shares_memory,
        np.iscomplexobj,
        np.isrealobj,
        np.array_repr,
        np.array_str,
        np.array2string,
        np.broadcast_shapes,
    }
)


_NDIM, _SHAPE = np.ndim, np.shape


def array_function(self: Tensor, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_function__`` (NEP 18)."""
    # ops call np.ndim/np.shape on their arguments: answer those first, without unwrapping
    if func is _NDIM:
        return self.data.ndim
    if func is _SHAPE:
        return self.data.shape
    if func in QUERIES:
        return func(*_unwrap(args), **_unwrap(kwargs))
    if not all(issubclass(t, Tensor | np.ndarray) for t in types):
        return NotImplemented
    diff = _differentiated(args) or _differentiated(kwargs)
    handler = FUNCTIONS.get(func)
    if handler is not None:
        if kwargs.get("out") is not None:
            if diff or _differentiated(kwargs.get("out")):
                raise _refuse_kw(func, "out")
            return _numpy_with_out(func, args, kwargs)
        try:
            return handler(*args, **kwargs)
        except _Unsupported as exc:
            if diff:
                raise _refuse_kw(func, str(exc)) from None
        except _Query:
            return func(*_unwrap(args), **_unwrap(kwargs))
    elif diff:
        raise _refuse(func)
    return _numpy_with_out(func, args, kwargs)
