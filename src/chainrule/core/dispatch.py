"""The front door: every op call goes through :func:`apply`.

``apply`` runs the primitive's NumPy forward, wraps the result, and decides what else
happens: recording a graph node (reverse mode), propagating tangents (forward mode),
telling observers (tracing, anomaly checks). Transforms plug in through the named modes
of :mod:`chainrule.core.modes` (observers, forward levels); they never edit an op, and an op
never knows about them. The switches are read from this thread's state (one ContextVar
lookup per op), so threads never see each other's modes.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AnomalyError, ChainruleError, OpError, ShapeError
from .forward import propagate_tangents
from .kept import remember
from .state import _get, state, tick
from .tensor import Tensor, complex_error, is_complex, version_owner

if TYPE_CHECKING:
    from types import FrameType

    from .primitive import Primitive

_ndarray = np.ndarray
_asarray = np.asarray
_new = object.__new__
# Constants that cannot be complex, let through before the complex check (a Tensor never
# holds complex numbers: Tensor() refuses them, so only constants are checked)
_SCALARS = (float, int)


def apply(op: type[Primitive], *args: Any, **params: Any) -> Tensor:
    """Apply primitive ``op`` to ``args`` (Tensors, arrays or scalars) with keyword ``params``.

    Returns a Tensor. Inside a first-order backward rule (raw mode) arrays go straight
    through ``op.forward``: no wrapping, no recording.
    """
    # Typed `-> Tensor`, the result that every caller outside a rule gets. A rule in raw mode
    # gets op.forward's ndarray instead; rules take and return values typed Any (a Tensor
    # when the backward pass is recorded, else an array), so the annotation misleads no one.
    st = _get(None)
    if st is None:
        st = state()
    if st.raw:
        return op.forward(*args, **params)  # type: ignore[no-any-return]  # an array: see above
    fwd = op.forward
    box: list[Any] | None = None
    if op.keeps is not None and st.grad_enabled:  # a node may be recorded: keep what it offers
        box = []
        fwd = _keeping(op.keeps, box)
    # Unwrap the arguments. One and two arguments (nearly every call) are spelled out:
    # on small arrays, building a list and unpacking *datas cost as much as the NumPy call.
    n = len(args)
    try:
        if n == 2:
            a, b = args
            if isinstance(a, Tensor):
                da, needs_grad = a.data, a.requires_grad
            else:
                da, needs_grad = a, False
                if type(a) not in _SCALARS and is_complex(a):  # a constant: no complex
                    raise _complex_arg(op, a)
            if isinstance(b, Tensor):
                db = b.data
                if b.requires_grad:
                    needs_grad = True
            else:
                db = b
                if type(b) not in _SCALARS and is_complex(b):  # a constant: no complex
                    raise _complex_arg(op, b)
            datas: Any = (da, db)
            out = fwd(da, db, **params) if params else fwd(da, db)
        elif n == 1:
            a = args[0]
            if isinstance(a, Tensor):
                da, needs_grad = a.data, a.requires_grad
            else:
                da, needs_grad = a, False
                if type(a) not in _SCALARS and is_complex(a):  # a constant: no complex
                    raise _complex_arg(op, a)
            datas = (da,)
            out = fwd(da, **params) if params else fwd(da)
        else:
            datas = []
            needs_grad = False
            for a in args:
                if isinstance(a, Tensor):
                    datas.append(a.data)
                    if a.requires_grad:
                        needs_grad = True
                else:
                    if type(a) not in _SCALARS and is_complex(a):
                        raise _complex_arg(op, a)
                    datas.append(a)
            out = fwd(*datas, **params)
    except ChainruleError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        raise _forward_error(op, args, params, exc) from exc
    if type(out) is not _ndarray:
        out = _asarray(out)

    t = _new(Tensor)
    t.data = out
    t.grad = None
    t.name = None
    t._version = 0
    t._retain = False
    t._source = None
    t._tangents = None
    if needs_grad and st.grad_enabled and op.differentiable:
        t.requires_grad = True
        t._op = op
        t._inputs = args
        t._saved = datas  # the arrays a first-order backward hands to the rules
        t._params = params
        t._seq = tick()
        if box:
            remember(out, box[0])
    else:
        t.requires_grad = False
        t._op = None
        t._inputs = None
        t._saved = None
        t._params = None
        t._seq = 0
    if op.views:
        _share_version(t, args)
    if st.extras:
        _extras(st, op, args, params, t)
    return t


def _keeping(keeps: Any, box: list[Any]) -> Any:
    """A forward that runs ``keeps`` and puts the kept value (when not None) in ``box``."""

    def forward(*args: Any, **params: Any) -> Any:
        out, kept = keeps(*args, **params)
        if kept is not None:
            box.append(kept)
        return out

    return forward


def _complex_arg(op: Any, value: Any) -> ChainruleError:
    """The error for a complex constant given to an op. Only values that are not Tensors are
    checked (a Tensor never holds complex numbers: Tensor() refuses them), and Python floats
    and ints are let through first, so ops on tensors pay nothing for the check."""
    dtype = getattr(value, "dtype", complex)
    return complex_error(
        f"{op.name} (at {format_frame(user_frame())})",
        dtype if isinstance(dtype, np.dtype) else complex,
    )


def _share_version(t: Tensor, args: tuple) -> None:
    """An output that is a view of an input shares that input's version counter."""
    base = t.data.base
    if base is None:
        return
    for a in args:
        if isinstance(a, Tensor) and (a.data is base or a.data.base is base):
            t._version = version_owner(a)
            return


def _extras(st: Any, op: Any, args: tuple, params: dict, t: Tensor) -> None:
    """The slower features, off the hot path: source lines, anomaly checks, JVP, observers."""
    if st.record_source and t._op is not None:
        t._source = user_frame()
    if st.anomaly and t.data.dtype.kind == "f" and not np.isfinite(t.data).all():
        raise AnomalyError(
            f"{op.name} produced {_bad_values(t.data)} in the forward pass "
            f"(output shape {t.data.shape}, input shapes {shapes_of(args)}), at "
            f"{format_frame(user_frame())}"
        )
    if st.fwd_levels:
        propagate_tangents(op, args, params, t)
    for observer in st.observers:
        observer(op, args, params, t)


# ---------------------------------------------------------------------- error helpers
def shapes_of(args: tuple) -> str:
    parts = []
    for a in args:
        if isinstance(a, Tensor | np.ndarray):
            parts.append(str(tuple(a.shape)))
        else:
            parts.append(type(a).__name__)
    return ", ".join(parts)


def _forward_error(op: Any, args: tuple, params: dict, exc: Exception) -> Exception:
    custom = getattr(op, "explain_error", None)
    detail = custom(exc, *args, **params) if custom else None
    names = [f" ({a.name!r})" if isinstance(a, Tensor) and a.name else "" for a in args]
    shown = ", ".join(
        (str(tuple(a.shape)) if isinstance(a, Tensor | np.ndarray) else repr(a)) + n
        for a, n in zip(args, names, strict=True)
    )
    where = format_frame(user_frame())
    msg = f"{op.name}: cannot apply to arguments of shapes [{shown}]"
    if params:
        msg += f" with {', '.join(f'{k}={v!r}' for k, v in params.items())}"
    msg += f": {detail or exc} (at {where})"
    # NumPy signals shapes that do not fit (broadcasting, matmul, reshape, an axis out of
    # range) with ValueError (AxisError is one); bad indices and argument types with
    # IndexError/TypeError. Ops that know better raise a library error themselves.
    return ShapeError(msg) if isinstance(exc, ValueError) else OpError(msg)


def _bad_values(a: np.ndarray) -> str:
    n_nan = int(np.isnan(a).sum())
    n_inf = int(np.isinf(a).sum())
    return " and ".join(
        x for x in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf else "") if x
    )


_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_frame() -> tuple[str, int, str] | None:
    """(file, line, function) of the innermost caller outside the chainrule package."""
    f: FrameType | None = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_PKG_DIR) or "/apps/" in fn or "/examples/" in fn:
            return (fn, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


def format_frame(frame: tuple[str, int, str] | None) -> str:
    if frame is None:
        return "an unknown line"
    return f"{frame[0]}:{frame[1]} in {frame[2]}"
