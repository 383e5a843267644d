"""``chainrule.compile``: a function traced once per signature, run as generated NumPy code.

On the first call with a new *signature* (the shapes and dtypes of the tensor and array
arguments, which of them require grad, grad mode, and the values of every other argument)
:class:`Compiled` traces the function (:class:`~chainrule.jit.trace.Tracer`), derives the
gradient program from each primitive's own VJP rules (:mod:`chainrule.jit.grad`),
optimises both (:mod:`chainrule.jit.passes`) and generates two straight-line NumPy
functions (:mod:`chainrule.jit.codegen`). Later calls with that signature run the generated
forward; the call is **one node of the eager graph** (the primitive :class:`CompiledCall`),
whose backward runs the generated backward. So ``loss = cfn(x, y); loss.backward()`` works
as eager code does, and gradients reach the parameters the function captured.

Where the generated code cannot serve, the node replays its equations through
:func:`chainrule.core.apply`, which records the ordinary eager graph: under forward mode,
tracing, anomaly detection or source recording (decided at call time), and for a backward
pass that is itself recorded (``create_graph=True``, ``grad`` of ``grad``, Hessians).
Every transform therefore composes with a compiled function and gives the eager result.
"""

from __future__ import annotations

import builtins
import inspect
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import Primitive, Tensor, accumulate_grads, apply, concretizing, observing
from ..core.dispatch import format_frame, user_frame
from ..core.errors import BackwardError, ChainruleError, OpError
from ..core.lecture import Lecture
from ..core.modes import is_grad_enabled
from ..core.sparse import RowSparse
from ..core.state import _get, state
from . import passes
from .codegen import Block, Namer, chain_note
from .grad import gradient_program
from .trace import Const, DataOf, Equation, TraceError, Tracer, Var, _func_name, shape_of

__all__ = ["Compiled", "CompiledCall", "compile"]

_EAGER = object()  # cache value: this signature runs eagerly (fallback="eager")


class CompiledCall(Primitive):
    """One call of a compiled function, as a node of the eager graph.

    Its forward runs the generated forward code (saving the residuals on the call's
    context); its VJP runs the generated backward once per backward pass and hands each
    input its gradient. A recorded backward (``create_graph=True``) replays the equations
    through :func:`chainrule.core.apply` instead, so the gradient is itself differentiable.
    """

    name = "compiled"
    register = False  # not a NumPy primitive: the compile sweep covers it
    variadic = True
    lecture = Lecture(
        "{fn}({args})",
        each_grad="the generated backward of {fn}",
        symbol="{fn}",
        fields=lambda p: {"fn": p["call"].entry.fn_name},
    )

    def forward(*arrays: Any, call: _Call) -> np.ndarray:
        return call.run_forward(arrays)

    def vjp(i: int, g: Any, out: Any, *vals: Any, call: _Call) -> Any:
        return call.gradient(i, g, vals)

    def jvp(i: int, t: Any, out: Any, *vals: Any, call: _Call) -> Any:
        raise OpError(  # compiled calls made while forward mode is on are replayed eagerly
            f"the compiled call of {call.entry.fn_name!r} was made before forward mode was "
            f"turned on; call it inside the jvp/jacobian transform instead"
        )


class _Call:
    """The context of one compiled call: residuals saved for backward, gradients of a pass."""

    __slots__ = ("entry", "res", "grads")

    def __init__(self, entry: _Entry) -> None:
        self.entry = entry
        self.res: list | None = None
        self.grads: tuple[Any, Any] | None = None

    def run_forward(self, arrays: tuple) -> np.ndarray:
        outs, self.res = self.entry.forward(*arrays)  # the saved values: a fresh list
        return _own(self.entry.pack(outs), arrays)

    def gradient(self, i: int, g: Any, vals: tuple) -> Any:
        cached = self.grads
        if cached is not None and cached[0] is g:
            return cached[1][i]
        entry = self.entry
        if isinstance(g, np.ndarray):  # first-order pass: the generated backward
            res = self.res
            if res is None:
                raise BackwardError(
                    f"trying to backward through the compiled call of {entry.fn_name!r} a "
                    f"second time: its saved values were freed after the first backward(). "
                    f"Pass retain_graph=True to the first call if you need to backpropagate "
                    f"twice."
                )
            if _get(None).retain_graph:  # (a backward pass has set this thread's state)
                res = list(res)  # the generated code empties the list it is given
            else:
                self.res = None
            grads = entry.backward(*entry.unpack(g), res, *vals)
        else:  # a recorded pass: replay the equations, so the result is differentiable
            grads = entry.replay_backward(g, vals)
        self.grads = (g, grads)
        return grads[i]


class _Entry:
    """Everything compiled for one signature."""

    def __init__(self, fn_name: str) -> None:
        self.fn_name = fn_name
        self.arg_names: list[str] = []  # program names of the array arguments
        self.captured: list[Tensor] = []  # captured Tensors (node inputs after the args)
        self.captured_sig: list[tuple] = []  # (tensor, shape, dtype, requires_grad)
        self.forward_eqs: list[Equation] = []  # the programs the replays run
        self.backward_eqs: list[Equation] = []
        self.gen_forward: list[Equation] = []  # the programs the generated code runs
        self.gen_backward: list[Equation] = []
        self.outputs: tuple = ()
        self.single = True
        self.diff: list[int] = []  # indices of outputs that carry gradients
        self.residuals: list[str] = []
        self.cotangents: list[Var] = []
        self.grad_refs: list[Any] = []  # per node input: gradient reference or None
        self.grad_index: list[int] = []  # the node inputs that get a gradient
        self.node_inputs: list[str] = []  # program names of the node's inputs
        self.forward: Callable[..., Any] = _unset
        self.backward: Callable[..., Any] = _unset
        self.forward_only: Callable[..., Any] = _unset
        self.source_text = ""
        self.module_text = ""
        self.pack_layout: list[tuple[int, int, tuple[int, ...]]] = []
        self.pack_dtype: np.dtype | None = None
        # d(loss)/d(loss) = 1 for forward_backward, when the function returns one scalar
        # that carries a gradient (read-only: the generated code never writes into it)
        self.seed: np.ndarray | None = None

    def captured_ok(self) -> bool:
        """Whether every captured Tensor still has the shape, dtype and requires_grad traced."""
        return self.read_captured([])

    def read_captured(self, arrays: list[np.ndarray]) -> bool:
        """Append the captured Tensors' arrays to ``arrays``; False (stopping there) if one
        no longer has the shape, dtype or requires_grad traced."""
        for t, shape, dtype, rg in self.captured_sig:
            d = t.data
            if d.shape != shape or d.dtype is not dtype or t.requires_grad is not rg:
                if not (d.shape == shape and d.dtype == dtype and t.requires_grad == rg):
                    return False
            arrays.append(d)
        return True

    # ------------------------------------------------------------ packing several outputs
    def pack(self, outs: tuple) -> np.ndarray:
        if len(self.diff) == 1:
            return np.asarray(outs[self.diff[0]])
        return np.concatenate(
            [np.ravel(outs[j]).astype(self.pack_dtype, copy=False) for j in self.diff]
        )

    def unpack(self, g: Any) -> list[Any]:
        """The cotangent of each differentiable output (an array, or a Tensor in a replay)."""
        if len(self.diff) == 1:
            return [g]
        return [g[a:b].reshape(shape) for a, b, shape in self.pack_layout]

    # ------------------------------------------------------------ eager replays
    def _env(self, vals: tuple) -> dict[str, Any]:
        return dict(zip(self.node_inputs, vals, strict=True))

    def replay_forward(self, vals: tuple) -> dict[str, Any]:
        env = self._env(vals)
        _replay(self.forward_eqs, env)
        return env

    def replay_backward(self, g: Any, vals: tuple) -> list[Any]:
        env = self.replay_forward(vals)
        for var, gj in zip(self.cotangents, self.unpack(g), strict=True):
            env[var.name] = gj.astype(var.dtype) if gj.dtype != var.dtype else gj
        _replay(self.backward_eqs, env)
        return [None if r is None else _read(r, env) for r in self.grad_refs]


def _unset(*args: Any) -> Any:  # pragma: no cover - replaced when an entry is built
    raise ChainruleError("internal: compiled entry used before it was generated")


def _read(r: Any, env: dict[str, Any]) -> Any:
    if isinstance(r, Var):
        return env[r.name]
    if isinstance(r, Const):
        return env[r.name] if r.name in env else r.value
    if isinstance(r, DataOf):
        v = env[r.var.name]
        data = v.data if isinstance(v, Tensor) else v
        return data if r.in_param else Tensor(data)
    if isinstance(r, tuple | list):
        return type(r)(_read(x, env) for x in r)
    return r


def _replay(eqs: list[Equation], env: dict[str, Any]) -> None:
    for eq in eqs:
        params = {k: _read(v, env) for k, v in eq.params.items()}
        env[eq.out.name] = apply(eq.op, *[_read(r, env) for r in eq.inputs], **params)


# ---------------------------------------------------------------------- the public object
class Compiled:
    """A compiled function (made by :func:`compile`); call it like the function.

    Attributes
    ----------
    fn : callable
        The function compiled.
    traces : int
        How many times it was traced (one per new signature, plus retraces).
    retraces : int
        Traces caused by a captured Tensor whose shape, dtype or ``requires_grad`` changed.
    evictions : int
        Signatures dropped from the cache (it holds ``cache_size`` of them).
    """

    def __init__(
        self, fn: Callable[..., Any], *, fallback: str = "error", cache_size: int = 8
    ) -> None:
        if not callable(fn):
            raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
        if fallback not in ("error", "eager"):
            raise ValueError(f"compile: fallback must be 'error' or 'eager', got {fallback!r}")
        if cache_size < 1:
            raise ValueError(f"compile: cache_size must be at least 1, got {cache_size}")
        self.fn = fn
        self.fallback = fallback
        self.cache_size = cache_size
        self.traces = 0
        self.retraces = 0
        self.evictions = 0
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._last: _Entry | None = None
        # the latest signature looked up: (grad mode, per-argument expectations, entry, whether
        # the arguments bind positionally), so
        # a training loop's repeated call checks its arguments without building a cache key
        self._hot: tuple[bool, list[tuple], Any, bool] | None = None
        self._warned = False
        try:
            self._sig: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._sig = None
        # the common call (all parameters given positionally, no defaults) binds by zip
        plain = self._sig is not None and all(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
            for p in self._sig.parameters.values()
        )
        self._names = list(self._sig.parameters) if plain and self._sig else None
        self.__name__ = _func_name(fn)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return (
            f"<compiled {self.__name__}: {len(self._cache)} signature(s), {self.traces} trace(s)>"
        )

    # ------------------------------------------------------------------ calling
    def _bind(self, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
        names = self._names
        if names is not None and not kwargs and len(args) == len(names):
            return list(zip(names, args, strict=True))
        if self._sig is None:
            if kwargs:
                raise TypeError(
                    f"{self.__name__}: keyword arguments need a function whose "
                    f"signature Python can read"
                )
            return [(f"x{i}", a) for i, a in enumerate(args)]
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"compiled {self.__name__}: {exc}") from None
        bound.apply_defaults()
        out: list[tuple[str, Any]] = []
        for name, value in bound.arguments.items():
            kind = self._sig.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                out += [(f"{name}{i}", v) for i, v in enumerate(value)]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                out += [(f"{name}_{k}", v) for k, v in sorted(value.items())]
            else:
                out.append((name, value))
        return out

    def _key(self, bound: list[tuple[str, Any]]) -> tuple:
        parts: list[Any] = [_grad_mode()]
        for name, a in bound:
            if isinstance(a, Tensor):
                d = a.data
                parts.append((d.shape, d.dtype, a.requires_grad))
            elif isinstance(a, np.ndarray):
                parts.append((a.shape, a.dtype))
            else:
                try:
                    hash(a)
                except TypeError:
                    raise TypeError(
                        f"compiled {self.__name__}: argument {name!r} is a "
                        f"{type(a).__name__}, which is neither a Tensor/array (traced) nor "
                        f"hashable (a static argument is part of the cache key); pass "
                        f"tensors as separate arguments, or a tuple instead of a list"
                    ) from None
                parts.append(("S", type(a).__name__, a))
        return tuple(parts)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self._bind(args, kwargs)
        entry = self._lookup(bound, args, kwargs)
        if entry is _EAGER:
            return self.fn(*args, **kwargs)
        return _run(entry, [a for _, a in bound if isinstance(a, Tensor | np.ndarray)])

    def _lookup(self, bound: list[tuple[str, Any]], args: tuple, kwargs: dict) -> Any:
        """The entry of this call's signature (traced now if new or stale), or _EAGER."""
        hot = self._hot
        if (
            hot is not None
            and hot[0] is _grad_mode()
            and _read_args(hot[1], [a for _, a in bound], [], [])
        ):
            entry = hot[2]
            if entry is _EAGER or entry.captured_ok():
                return entry
        entry = self._lookup_key(bound, args, kwargs)
        # plain: the bound values are the positional arguments (forward_backward's check
        # reads those as given)
        plain = self._names is not None
        self._hot = (_grad_mode(), [_expect(a) for _, a in bound], entry, plain)
        return entry

    def _lookup_key(self, bound: list[tuple[str, Any]], args: tuple, kwargs: dict) -> Any:
        key = self._key(bound)
        entry = self._cache.get(key)
        if entry is not None and entry is not _EAGER and not entry.captured_ok():
            self.retraces += 1
            del self._cache[key]
            entry = None
        if entry is None:
            return self._build(bound, key, args, kwargs)
        self._cache.move_to_end(key)
        return entry

    def forward_backward(self, *args: Any, **kwargs: Any) -> Tensor:
        """``loss = fn(*args); loss.backward()`` in one go; returns the loss, detached.

        The function must return one scalar floating Tensor. Its gradients accumulate into
        ``.grad`` of every argument and captured Tensor that requires one, exactly as
        ``loss.backward()`` would (same values, same post-accumulate-grad hooks), but the
        generated forward and backward run back to back: no graph node, no engine pass.
        This is the fast path of a training step (:func:`chainrule.optim.compile_step`).
        Under forward mode, tracing, anomaly checks, or a function that runs eagerly
        (``fallback="eager"``), it calls the function and ``backward()`` instead.

        Examples
        --------
        >>> import chainrule as cr
        >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
        >>> step = cr.compile(lambda x: (w * x).sum())
        >>> step.forward_backward(cr.Tensor([3.0, 4.0]))
        Tensor(11.)
        >>> w.grad
        Tensor([3., 4.])
        """
        st = _get(None) or state()
        hot = self._hot
        if hot is not None and hot[3] and hot[0] is True and not (kwargs or st.extras or st.raw):
            # the training loop's case: a positional call with the latest signature
            entry = hot[2]
            if entry is not _EAGER and entry.seed is not None and st.grad_enabled:
                node: list[Any] = []
                arrays: list[Any] = []
                if _read_args(hot[1], args, node, arrays) and entry.read_captured(arrays):
                    return _forward_backward(entry, node + entry.captured, arrays)
        bound = self._bind(args, kwargs)
        entry = None
        if not (st.extras or st.raw) and st.grad_enabled:
            entry = self._lookup(bound, args, kwargs)
        if entry is None or entry is _EAGER:
            out = self.fn(*args, **kwargs) if entry is _EAGER else self(*args, **kwargs)
            _check_loss(out, self.__name__)
            out.backward()
            return out.detach()
        if entry.seed is None:  # not one scalar loss (the seed is made for one)
            if not entry.diff:
                raise BackwardError(
                    f"forward_backward: the output of {self.__name__} does not depend on "
                    f"any tensor that requires grad: there is nothing to differentiate"
                )
            shapes = [tuple(shape_of(r)) for r in entry.outputs]
            raise BackwardError(
                f"forward_backward needs {self.__name__} to return one scalar loss, but it "
                f"returns {len(shapes)} output(s) of shape(s) {shapes}; call it and "
                f"backward() the result instead"
            )
        node_args = [a for _, a in bound if isinstance(a, Tensor | np.ndarray)]
        node_args += entry.captured
        arrays = [a.data if isinstance(a, Tensor) else a for a in node_args]
        return _forward_backward(entry, node_args, arrays)

    def _build(self, bound: list[tuple[str, Any]], key: tuple, args: tuple, kwargs: dict) -> Any:
        self.traces += 1
        try:
            entry = _compile_entry(self.fn, self.__name__, bound, args, kwargs)
        except TraceError as exc:
            if self.fallback != "eager":
                raise
            if not self._warned:
                warnings.warn(
                    f"chainrule.compile: running {self.__name__} eagerly: {exc}", stacklevel=3
                )
                self._warned = True
            entry = _EAGER
        except Exception as exc:
            _explain_trace_failure(exc, self.__name__, bound, self._cache)
            raise
        self._cache[key] = entry
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
            self.evictions += 1
        if entry is not _EAGER:
            self._last = entry
        return entry

    # ------------------------------------------------------------------ reading the code
    def _entry_for(self, args: tuple, kwargs: dict) -> _Entry:
        if args or kwargs:
            bound = self._bind(args, kwargs)
            key = self._key(bound)
            entry = self._cache.get(key)
            if entry is None:
                entry = self._build(bound, key, args, kwargs)
            if entry is _EAGER:
                raise TraceError(f"{self.__name__} runs eagerly for this signature: no code")
            return entry
        if self._last is None:
            raise ChainruleError(
                f"compiled {self.__name__} has not been called yet: call it once (or pass "
                f"example arguments to source()/export()) so that it is traced"
            )
        return self._last

    def source(self, *args: Any, **kwargs: Any) -> str:
        """The generated forward and backward code, as readable Python.

        With arguments, the code for their signature (traced now if needed); without, the
        code of the latest signature traced.
        """
        return self._entry_for(args, kwargs).source_text

    def export(self, path: str, *args: Any, **kwargs: Any) -> str:
        """Write the generated code as a standalone module that needs only NumPy.

        The module defines ``forward(...)`` (returns the outputs and the saved values) and
        ``backward(...)`` (returns one gradient per input, None where none is computed),
        and holds the constants the function captured. Returns ``path``.
        """
        entry = self._entry_for(args, kwargs)
        from .export import module_source

        text = module_source(entry)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def cache_info(self) -> dict[str, int]:
        """Traces, retraces, evictions and the number of cached signatures."""
        return {
            "traces": self.traces,
            "retraces": self.retraces,
            "evictions": self.evictions,
            "signatures": len(self._cache),
        }


def _explain_trace_failure(
    exc: Exception, fn_name: str, bound: list[tuple[str, Any]], cache: OrderedDict
) -> None:
    """Add a note to an error raised while tracing: which arguments were traced, and an
    argument that earlier signatures held static but that is a Tensor now."""
    add_note = getattr(exc, "add_note", None)  # Python >= 3.11
    if add_note is None:
        return
    traced = [name for name, a in bound if isinstance(a, Tensor | np.ndarray)]
    note = (
        f"(while chainrule.compile traced {fn_name}: traced arguments "
        f"{', '.join(traced) or 'none'}; every other argument is static)"
    )
    for key in cache:
        for (name, a), part in zip(bound, key[1:], strict=False):
            was_static = isinstance(part, tuple) and part[:1] == ("S",)
            if was_static and isinstance(a, Tensor | np.ndarray):
                note += (
                    f"\nargument {name!r} was a static {part[1]} in an earlier call and "
                    f"is a {type(a).__name__} now: a traced value cannot be used as a "
                    f"Python number inside the function; pass a number as before"
                )
                break
    add_note(note)


def compile(
    fn: Callable[..., Any] | None = None,
    *,
    fallback: str = "error",  # noqa: A001
    cache_size: int = 8,
) -> Any:
    """Compile ``fn`` into generated NumPy forward and backward code (a static graph).

    Parameters
    ----------
    fn : callable
        Takes Tensors/arrays (traced: their values may change from call to call) and any
        other arguments (static: part of the cache key), and returns a Tensor or a tuple
        of Tensors. Tensors it captures (a module's parameters) are read on every call and
        receive gradients.
    fallback : {"error", "eager"}
        What to do when ``fn`` cannot be traced (it branches on a traced value, calls
        ``.item()``, draws random numbers): raise a :class:`TraceError` naming the line, or
        run ``fn`` eagerly for that signature (with one warning saying why).
    cache_size : int
        How many signatures are kept (least recently used evicted; see ``cache_info()``).

    Returns
    -------
    Compiled
        Call it like ``fn``; ``.source()`` prints the generated code, ``.export(path)``
        writes it as a module needing only NumPy.

    Examples
    --------
    >>> import chainrule as cr
    >>> @cr.compile
    ... def loss(x, w):
    ...     return (cr.tanh(x @ w) ** 2).sum()
    >>> x = cr.Tensor([[1.0, 2.0]])
    >>> w = cr.Tensor([[0.5], [-0.25]], requires_grad=True)
    >>> l = loss(x, w)
    >>> l.backward()
    >>> round(float(l), 6), w.grad.shape
    (0.0, (2, 1))
    >>> print(loss.source().split("def backward")[0])
    # chainrule.compile: loss
    #   x: argument
    #   w: argument
    def forward(x, w):
        t1 = np.dot(x, w)
        t2 = np.tanh(t1)
        t3 = np.power(t2, 2)
        t4 = t3.sum()
        return ((t4,), [t2])
    <BLANKLINE>
    <BLANKLINE>
    """
    if fn is None:
        return lambda f: Compiled(f, fallback=fallback, cache_size=cache_size)
    return Compiled(fn, fallback=fallback, cache_size=cache_size)


# ---------------------------------------------------------------------- running an entry
def _own(value: Any, inputs: Any) -> np.ndarray:
    """An output array nobody else holds: a copy when the generated code returned an input's
    array or a view of one (``lambda x: w``, a reshape of an argument), which eagerly would be
    the same tensor or a view tracked by the engine's version counter."""
    arr = value if type(value) is np.ndarray else np.asarray(value)
    if arr.base is None:
        for a in inputs:
            if a is arr:
                break
        else:
            return arr  # the common case: a fresh result
    if any(isinstance(a, np.ndarray) and np.may_share_memory(arr, a) for a in inputs):
        return arr.copy()
    return arr


def _check_loss(out: Any, name: str) -> None:
    if not isinstance(out, Tensor) or out.shape != ():
        what = type(out).__name__ if not isinstance(out, Tensor) else f"shape {out.shape}"
        raise BackwardError(
            f"forward_backward needs {name} to return one scalar loss Tensor, got {what}"
        )


def _expect(a: Any) -> tuple:
    """What :func:`_read_args` checks of an argument: what the cache key holds of it."""
    if isinstance(a, Tensor):
        return (Tensor, a.data.shape, a.data.dtype, a.requires_grad)
    if isinstance(a, np.ndarray):
        return (np.ndarray, a.shape, a.dtype, None)
    return (None, a, None, None)


def _read_args(expected: list[tuple], values: Sequence[Any], node: list, arrays: list) -> bool:
    """Whether ``values`` have the signature ``expected`` (from :func:`_expect`): the same
    shapes, dtypes and requires_grad, and the very same static values (an equal but
    distinct static value goes to the cache's key lookup). Appends the tensor and array
    arguments to ``node`` and their arrays to ``arrays`` on the way."""
    if len(values) != len(expected):
        return False
    for a, (kind, shape, dtype, rg) in zip(values, expected, strict=True):
        if kind is Tensor:
            if not isinstance(a, Tensor):
                return False
            d = a.data
            if d.shape != shape or d.dtype is not dtype or a.requires_grad is not rg:
                return False
            node.append(a)
            arrays.append(d)
        elif kind is np.ndarray:
            if type(a) is not np.ndarray or a.shape != shape or a.dtype is not dtype:
                return False
            node.append(a)
            arrays.append(a)
        elif a is not shape or isinstance(a, Tensor | np.ndarray):
            return False
    return True


def _forward_backward(entry: _Entry, node_args: list[Any], arrays: list[Any]) -> Tensor:
    """Compiled.forward_backward once the entry is found: generated forward, then
    generated backward, gradients into ``.grad``."""
    for k in entry.grad_index:
        if node_args[k]._op is not None:
            # an argument computed by recorded ops: its graph needs the engine's backward
            out = _run(entry, node_args[: len(node_args) - len(entry.captured)])
            out.backward()
            return out.detach()
    outs, res = entry.forward(*arrays)
    loss = _own(outs[0], arrays)
    grads = entry.backward(entry.seed, res, *arrays)
    accumulate_grads([(node_args[k], grads[k]) for k in entry.grad_index], arrays)
    return Tensor._wrap(loss)


def _grad_mode() -> bool:
    st = _get(None)
    return st.grad_enabled if st is not None else is_grad_enabled()


def _run(entry: _Entry, node_args: list[Any]) -> Any:
    st = _get(None) or state()
    node_args += entry.captured
    if st.extras or st.raw or not entry.diff:
        if st.extras or st.raw:
            # forward mode, tracing, anomaly checks, source lines: the eager graph
            env = entry.replay_forward(tuple(node_args))
            outs = tuple(_read(r, env) for r in entry.outputs)
        else:
            arrays = [a.data if isinstance(a, Tensor) else a for a in node_args]
            outs = tuple(Tensor._wrap(_own(o, arrays)) for o in entry.forward_only(*arrays))
        return outs[0] if entry.single else outs
    call = _Call(entry)
    node = apply(CompiledCall, *node_args, call=call)
    if len(entry.diff) == 1 and entry.single:
        return node
    # several outputs: the differentiable ones are pieces of the node's packed output
    outs = list(entry.constant_outputs(node_args, call.res))
    if len(entry.diff) == 1:
        outs[entry.diff[0]] = node
    else:
        for (a, b, shape), j in zip(entry.pack_layout, entry.diff, strict=True):
            piece = node[a:b].reshape(shape)
            dtype = entry.out_dtypes[j]
            outs[j] = piece if piece.dtype == dtype else piece.astype(dtype)
    return outs[0] if entry.single else tuple(outs)


# ---------------------------------------------------------------------- building an entry
def _trace_call(
    fn: Callable[..., Any],
    fn_name: str,
    bound: list[tuple[str, Any]],
    args: tuple,
    kwargs: dict,
    perturbed: bool = False,
) -> tuple[Tracer, list[Var], tuple, bool]:
    """Run ``fn`` once under a tracer: (tracer, argument variables, outputs, single)."""
    tracer = Tracer()
    tracer.locate = not perturbed  # the source lines name the culprit in errors
    arg_vars: list[Var] = []
    leaf_of: dict[int, Tensor] = {}
    for name, a in bound:
        if isinstance(a, Tensor | np.ndarray):
            arr = a.data if isinstance(a, Tensor) else a
            if perturbed:
                arr = _perturb(arr)
            leaf = tracer.input(name, arr, isinstance(a, Tensor) and a.requires_grad)
            leaf_of.setdefault(id(a), leaf)
            arg_vars.append(tracer.inputs[-1])

    def swap(a: Any) -> Any:  # the call as made, with each tensor/array argument traced
        return leaf_of.get(id(a), a) if isinstance(a, Tensor | np.ndarray) else a

    call_args = [swap(a) for a in args]
    call_kwargs = {k: swap(v) for k, v in kwargs.items()}

    def refuse(t: Any, what: str) -> None:
        if t is None or tracer.var_of(t) is not None:
            frame = user_frame()
            detail = (
                f"uses {what}, drawing random numbers in Python (they would be "
                f"frozen into the compiled code)"
                if t is None
                else f"calls {what} on a traced value (its value differs from call to call)"
            )
            raise TraceError(
                f"compile: {fn_name} {detail}, at {format_frame(frame)}. A static graph "
                f"cannot follow Python control flow or Python values computed from its "
                f"inputs: pass such a value as a static (non-Tensor) argument, compute it "
                f"outside the function, or use compile(fn, fallback='eager') to run it "
                f"eagerly."
            )

    with concretizing(refuse), observing(tracer.observe):
        result = fn(*call_args, **call_kwargs)
    single = isinstance(result, Tensor)
    outs = (result,) if single else result
    if not isinstance(outs, tuple) or not outs or not all(isinstance(o, Tensor) for o in outs):
        raise TraceError(
            f"compile: {fn_name} returned {type(result).__name__}; a compiled function must "
            f"return a Tensor or a non-empty tuple of Tensors"
        )
    return tracer, arg_vars, tuple(tracer.ref(o) for o in outs), single


def _perturb(arr: np.ndarray) -> np.ndarray:
    """Other values of the same kind: reversed (a permutation, so valid indices stay valid
    and a symmetric matrix stays symmetric), floats also scaled slightly."""
    if arr.ndim == 0:
        return arr * 1.01 if arr.dtype.kind == "f" else arr.copy()
    out = np.flip(arr).copy()
    if out.dtype.kind == "f":
        out *= out.dtype.type(1.01)
    return out


def _verify(
    fn: Callable[..., Any],
    fn_name: str,
    bound: list[tuple[str, Any]],
    args: tuple,
    kwargs: dict,
    tracer: Tracer,
    outputs: tuple,
) -> None:
    """Trace again on other input values and compare: a program that changes with the
    values (a Python branch on them, NumPy applied to ``.data``) cannot be compiled."""
    try:
        other, _, outputs2, _ = _trace_call(fn, fn_name, bound, args, kwargs, perturbed=True)
    except TraceError:
        raise
    except Exception:  # noqa: BLE001 - these values may be invalid for fn: cannot compare
        return
    eqs, eqs2 = tracer.equations, other.equations
    for k in range(max(len(eqs), len(eqs2))):
        a = eqs[k] if k < len(eqs) else None
        b = eqs2[k] if k < len(eqs2) else None
        if a is None or b is None or a.op is not b.op or a.grad != b.grad:
            culprit = a or eqs[-1] if eqs else None
            raise TraceError(
                f"compile: {fn_name} applies different ops for different input values (at "
                f"{_where(culprit)}): its Python code decides something from the values of "
                f"its inputs, which a static graph would freeze. Decide it with chainrule "
                f"ops (cr.where, comparisons), pass it as a static argument, or use "
                f"compile(fn, fallback='eager')."
            )
        same = (
            len(a.inputs) == len(b.inputs)
            and all(_same(x, y) for x, y in zip(a.inputs, b.inputs, strict=True))
            and a.params.keys() == b.params.keys()
            and all(_same(a.params[n], b.params[n]) for n in a.params)
        )
        if not same:
            raise TraceError(
                f"compile: {fn_name} gives {a.op.name!r} (at {_where(a)}) an argument computed "
                f"from the values of its inputs outside chainrule ops (NumPy on `.data`, a "
                f"mask or index built in Python): the compiled code would keep the first "
                f"call's value. Compute it with chainrule ops (e.g. `x > 0`, cr.where, "
                f"indexing with a traced integer tensor), pass it as an argument, or use "
                f"compile(fn, fallback='eager')."
            )
    if len(outputs) != len(outputs2) or not all(
        _same(x, y) for x, y in zip(outputs, outputs2, strict=True)
    ):
        raise TraceError(
            f"compile: {fn_name} returns different values for different inputs "
            f"through Python code outside chainrule ops; it cannot be compiled"
        )


def _where(eq: Equation | None) -> str:
    return format_frame(eq.where) if eq is not None and eq.where else "an unknown line"


def _same(a: Any, b: Any) -> bool:
    """Whether two references of the two traces stand for the same thing."""
    if isinstance(a, Var) or isinstance(b, Var):
        return isinstance(a, Var) and isinstance(b, Var) and a.name == b.name
    if isinstance(a, DataOf) or isinstance(b, DataOf):
        return (
            isinstance(a, DataOf)
            and isinstance(b, DataOf)
            and a.var.name == b.var.name
            and a.in_param == b.in_param
        )
    if isinstance(a, Const) and isinstance(b, Const):
        return a.value is b.value or _same(a.array, b.array)
    if isinstance(a, Const) or isinstance(b, Const):
        return False
    if isinstance(a, Tensor | np.ndarray) or isinstance(b, Tensor | np.ndarray):
        a, b = np.asarray(getattr(a, "data", a)), np.asarray(getattr(b, "data", b))
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, slice) and isinstance(b, slice):
        return all(_same(x, y) for x, y in ((a.start, b.start), (a.stop, b.stop), (a.step, b.step)))
    try:
        return bool(a == b) or (a != a and b != b)  # NaN literals
    except Exception:  # noqa: BLE001 - incomparable values are not the same
        return False


def _compile_entry(
    fn: Callable[..., Any], fn_name: str, bound: list[tuple[str, Any]], args: tuple, kwargs: dict
) -> _Entry:
    tracer, arg_vars, outputs, single = _trace_call(fn, fn_name, bound, args, kwargs)
    _verify(fn, fn_name, bound, args, kwargs, tracer, outputs)
    forward_eqs = list(tracer.equations)

    entry = _Entry(fn_name)
    entry.single = single
    consts = tracer.constants
    entry.captured = [c.value for c in consts if isinstance(c.value, Tensor)]
    entry.captured_sig = [
        (t, t.data.shape, t.data.dtype, bool(t.requires_grad)) for t in entry.captured
    ]
    captured_refs = [c for c in consts if isinstance(c.value, Tensor)]
    node_refs: list[Var | Const] = list(arg_vars) + captured_refs
    entry.node_inputs = [r.name for r in node_refs]

    # ---- passes on the forward program
    forward_eqs, s1 = passes.fold_constants(forward_eqs)
    outputs = tuple(passes.substitute(r, s1) for r in outputs)
    forward_eqs, s2 = passes.simplify(forward_eqs)
    outputs = tuple(passes.substitute(r, s2) for r in outputs)
    forward_eqs, s3 = passes.common_subexpressions(forward_eqs)
    outputs = tuple(passes.substitute(r, s3) for r in outputs)

    # ---- which outputs carry gradients, and with respect to what
    wrt: list[Var | Const] = [r for r in node_refs if _requires_grad(r, tracer)]
    live = {r.name for r in wrt}
    for eq in forward_eqs:
        if (
            eq.op.differentiable
            and eq.grad
            and any(isinstance(r, Var | Const) and r.name in live for r in eq.inputs)
        ):
            live.add(eq.out.name)
    entry.out_dtypes = [_dtype_of(r) for r in outputs]
    if is_grad_enabled():
        entry.diff = [
            j
            for j, r in enumerate(outputs)
            if isinstance(r, Var | Const) and r.name in live and entry.out_dtypes[j].kind == "f"
        ]
    grad_outputs = [outputs[j] for j in entry.diff]

    backward_eqs: list[Equation] = []
    grads: dict[str, Any] = {}
    gp = None
    if entry.diff:
        gp = gradient_program(tracer, forward_eqs, tuple(grad_outputs), wrt)
        backward_eqs = gp.equations
        grads = gp.grads
        entry.cotangents = gp.cotangents
        grad_roots = [g for g in grads.values() if g is not None]
        backward_eqs, b1 = passes.fold_constants(backward_eqs, prefix="kb")
        backward_eqs, b2 = passes.simplify(backward_eqs)
        backward_eqs, b3 = passes.common_subexpressions(backward_eqs)
        for s in (b1, b2, b3):
            grads = {k: passes.substitute(v, s) for k, v in grads.items()}
        grad_roots = [g for g in grads.values() if g is not None]
        backward_eqs = passes.eliminate_dead(backward_eqs, grad_roots)
    entry.grad_refs = [grads.get(r.name) for r in node_refs]
    entry.grad_index = [k for k, g in enumerate(entry.grad_refs) if g is not None]
    if single and entry.diff == [0] and shape_of(outputs[0]) == ():
        entry.seed = np.ones((), dtype=entry.out_dtypes[0])
        entry.seed.flags.writeable = False

    # the generated code may let a gradient op reuse what its forward op computed; the
    # replays (create_graph, forward mode) run the programs as traced
    gen_forward, gen_backward = passes.pair_kept(forward_eqs, backward_eqs)
    entry.residuals = _residuals(gen_forward, gen_backward, entry.grad_refs)
    roots = list(outputs)
    entry.gen_forward = passes.eliminate_dead(
        gen_forward, roots + [Var(n, (), np.dtype(float)) for n in entry.residuals]
    )
    entry.gen_backward = gen_backward
    replay_needs = _residuals(forward_eqs, backward_eqs, entry.grad_refs)
    entry.forward_eqs = passes.eliminate_dead(
        forward_eqs, roots + [Var(n, (), np.dtype(float)) for n in replay_needs]
    )
    entry.backward_eqs = backward_eqs
    entry.outputs = outputs
    _layout(entry)
    _generate(entry, tracer, node_refs, gp)
    return entry


def _residuals(forward: list[Equation], backward: list[Equation], grad_refs: list) -> list[str]:
    """The forward values the backward reads (in first-read order): what is saved."""
    produced = {eq.out.name for eq in forward}
    produced.update(eq.also.name for eq in forward if eq.also is not None)
    needed: list[str] = []
    for eq in backward:
        for n in passes.eq_reads(eq):
            if n in produced and n not in needed:
                needed.append(n)
    for g in grad_refs:  # a gradient may be a forward value itself
        for n in passes.reads(g):
            if n in produced and n not in needed:
                needed.append(n)
    return needed


def _requires_grad(r: Var | Const, tracer: Tracer) -> bool:
    if isinstance(r, Const):
        return bool(r.value.requires_grad)
    return bool(tracer.values[r.name].requires_grad)


def _dtype_of(r: Any) -> np.dtype:
    if isinstance(r, Var):
        return r.dtype
    if isinstance(r, Const):
        return np.asarray(r.array).dtype
    return np.asarray(r).dtype


def _layout(entry: _Entry) -> None:
    if len(entry.diff) <= 1:
        return
    dtypes = [entry.out_dtypes[j] for j in entry.diff]
    entry.pack_dtype = np.result_type(*dtypes)
    start = 0
    for j in entry.diff:
        shape = shape_of(entry.outputs[j])
        n = int(np.prod(shape, dtype=np.int64))
        entry.pack_layout.append((start, start + n, shape))
        start += n


def _sizes(eqs: list[Equation], refs: list[Any]) -> dict[str, int]:
    sizes = {}
    for eq in eqs:
        sizes[eq.out.name] = int(np.prod(eq.out.shape, dtype=np.int64)) * eq.out.dtype.itemsize
        if eq.also is not None and isinstance(eq.inputs[0], Var):  # e.g. a kept softmax
            x = eq.inputs[0]
            sizes[eq.also.name] = int(np.prod(x.shape, dtype=np.int64)) * x.dtype.itemsize
    for r in refs:
        if isinstance(r, Var):
            sizes[r.name] = int(np.prod(r.shape, dtype=np.int64)) * r.dtype.itemsize
    return sizes


def _generate(entry: _Entry, tracer: Tracer, node_refs: list[Var | Const], gp: Any) -> None:
    """Name the values, write the forward and backward functions, exec them."""
    namespace: dict[str, Any] = {"np": np, "RowSparse": RowSparse}
    const_names: dict[int, str] = {}
    keep_alive: list[Any] = []

    def consts(value: Any) -> str:
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "op":
            op = value[1]
            key = id(op)
            if key not in const_names:
                name = namer.give(f"op:{op.name}:{key}", f"_f_{op.name}")
                const_names[key] = name
                namespace[name] = op.forward
                keep_alive.append(op)
            return const_names[key]
        key = id(value)
        if key not in const_names:
            name = namer.give(f"const:{key}", f"_k{len(const_names) + 1}")
            const_names[key] = name
            namespace[name] = value
            keep_alive.append(value)
        return const_names[key]

    namer = Namer({"np", "RowSparse", "forward", "backward", "res", "R"})
    for r in node_refs:
        wish = r.name
        if isinstance(r, Const):
            tname = r.value.name
            wish = tname if isinstance(tname, str) and tname.isidentifier() else r.name
        namer.give(r.name, wish)
    for eq in entry.gen_forward:
        namer.give(eq.out.name, eq.out.name)
        if eq.also is not None:
            namer.give(eq.also.name, f"{namer[eq.out.name]}_kept")
    if gp is not None:
        for j, var in enumerate(entry.cotangents):
            out = entry.outputs[entry.diff[j]]
            base = (
                namer.names.get(out.name, f"out{j}") if isinstance(out, Var | Const) else f"out{j}"
            )
            namer.give(var.name, f"d{base}")
        for eq in entry.gen_backward:
            target = gp.names.get(eq.out.name)
            if target is not None and target in namer.names:
                namer.give(eq.out.name, "d" + namer.names[target])
            else:
                namer.give(eq.out.name, eq.out.name)

    node_names = [r.name for r in node_refs]
    sizes = _sizes(
        entry.gen_forward + entry.gen_backward, [r for r in node_refs if isinstance(r, Var)]
    )
    for r in node_refs:
        if isinstance(r, Const):
            sizes[r.name] = 0  # a captured parameter's array belongs to the parameter

    # the forward: outputs, then the values backward reads
    fwd = Block(
        "forward",
        node_names,
        entry.gen_forward,
        [tuple(entry.outputs), [_var(n, entry) for n in entry.residuals]],
    )
    fwd_only = Block(
        "forward",
        node_names,
        passes.eliminate_dead(entry.forward_eqs, list(entry.outputs)),
        list(entry.outputs),
    )
    # the backward: cotangents, the saved list R, then the node's inputs
    notes = {}
    sparse: dict[str, tuple[Any, Any, tuple]] = {}
    if gp is not None:
        # one comment per chain-rule step, on the line that finishes it
        last_of: dict[tuple[int, int], str] = {}
        for eq in entry.gen_backward:
            step = gp.notes.get(eq.out.name)
            if step is not None:
                last_of[(id(step[0]), step[1])] = eq.out.name
        for name in last_of.values():
            feq, i, gname = gp.notes[name]
            notes[name] = chain_note(feq, i, namer, gname)
        finals = {g.name for g in entry.grad_refs if isinstance(g, Var)}
        readers: dict[str, int] = {}
        for eq in entry.gen_backward:
            for n in passes.eq_reads(eq):
                readers[n] = readers.get(n, 0) + 1
        for eq in entry.gen_backward:
            index = eq.params.get("index")
            if (
                eq.op.name == "scatter_add"
                and eq.out.name in finals
                and not readers.get(eq.out.name)
                and isinstance(index, tuple)
                and len(index) == 1
                and isinstance(index[0], Const | DataOf)
                and _int_array(index[0])
            ):
                sparse[eq.out.name] = (index[0], eq.inputs[0], eq.params["shape"])
    bwd = Block(
        "backward",
        [c.name for c in entry.cotangents] + ["R"] + node_names,
        entry.gen_backward,
        list(entry.grad_refs) or [None],
        notes=notes,
        sparse=sparse,
    )
    namer.names["R"] = "R"
    residual_unpack = ""
    if entry.residuals:
        targets = ", ".join(namer[n] for n in entry.residuals)
        residual_unpack = (
            f"    {targets}{',' if len(entry.residuals) == 1 else ''} = R\n"
            f"    R.clear()  # the saved values now live only here: "
            f"each is freed after its last use\n"
        )
    fsrc = fwd.source(namer, consts, sizes=sizes, owned=set(), comments=False)
    bsrc = bwd.source(namer, consts, sizes=sizes, owned=set(entry.residuals))
    head, _, body = bsrc.partition("\n")
    bsrc = head + "\n" + residual_unpack + body
    osrc = fwd_only.source(namer, consts, sizes=sizes, owned=set(), comments=False)
    ns_fwd = dict(namespace)
    exec(_code(fsrc, entry.fn_name, "forward"), ns_fwd)
    exec(_code(bsrc, entry.fn_name, "backward"), namespace)
    ns_only = dict(namespace)
    exec(_code(osrc, entry.fn_name, "forward"), ns_only)
    # constants named while generating the backward must be visible to the forward too
    for k, v in namespace.items():
        ns_fwd.setdefault(k, v)
        ns_only.setdefault(k, v)
    entry.forward = ns_fwd["forward"]
    entry.backward = namespace["backward"]
    entry.forward_only = ns_only["forward"]
    entry.keep_alive = keep_alive
    entry.namespace = namespace
    entry.source_text = _describe(entry, namer, fsrc, bsrc if gp is not None else "")
    entry.fwd_src, entry.bwd_src, entry.only_src = fsrc, bsrc, osrc
    entry.namer = namer
    entry.constant_outputs = _constant_outputs(entry)


def _constant_outputs(entry: _Entry) -> Callable[..., list[Any]]:
    """Outputs that carry no gradient, for a call with several outputs."""

    def outs(node_args: list[Any], res: Any) -> list[Any]:
        result: list[Any] = [None] * len(entry.outputs)
        if len(entry.diff) == len(entry.outputs):
            return result
        arrays = [a.data if isinstance(a, Tensor) else a for a in node_args]
        values = entry.forward_only(*arrays)
        for j in range(len(entry.outputs)):
            if j not in entry.diff:
                result[j] = Tensor._wrap(_own(values[j], arrays))
        return result

    return outs


def _int_array(r: Any) -> bool:
    if isinstance(r, DataOf):
        return r.var.dtype.kind in "iu"
    arr = r.array
    return isinstance(arr, np.ndarray) and arr.dtype.kind in "iu"


def _var(name: str, entry: _Entry) -> Var:
    for eq in entry.gen_forward:
        if eq.out.name == name:
            return eq.out
        if eq.also is not None and eq.also.name == name:
            return eq.also
    raise ChainruleError(f"internal: residual {name} is not a forward value")


def _code(src: str, fn_name: str, which: str) -> Any:
    return builtins.compile(src, f"<chainrule.compile {fn_name}.{which}>", "exec")


def _describe(entry: _Entry, namer: Namer, fsrc: str, bsrc: str) -> str:
    lines = [f"# chainrule.compile: {entry.fn_name}"]
    n_args = len(entry.node_inputs) - len(entry.captured)
    for k, name in enumerate(entry.node_inputs):
        what = "argument" if k < n_args else "captured Tensor"
        lines.append(f"#   {namer[name]}: {what}")
    text = "\n".join(lines) + "\n" + fsrc
    if bsrc:
        text += "\n" + bsrc
    return text
