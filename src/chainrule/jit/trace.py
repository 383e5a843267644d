"""Trace a function once into a flat program, then replay it (and read it).

:func:`trace` runs a function one time on example inputs and records every primitive it
applies, through the dispatch observer hook (:func:`chainrule.core.observing`): no op and no
core code knows about tracing. The record is a flat list of :class:`Equation` objects, in the
style of a JAX jaxpr: ``out = op(inputs..., **params)``, where each input is a :class:`Var` (an
argument or an earlier result), a :class:`Const` (a tensor or array the function captured
from outside) or a plain literal (a Python number).

A :class:`Program` replays the equations through :func:`chainrule.core.apply`, so a replay
is an ordinary recorded computation: ``backward()`` works on its result, and it composes
with the transforms (``grad(program)``). ``str(program)`` prints it as readable Python.

Limitation: the trace is a recording, not a compilation of the source. Python control flow
(``if``, ``for``, ``while``) is frozen at trace time: a branch that depends on the *values*
of the inputs is taken once and never re-evaluated, exactly like ``torch.jit.trace`` and
``jax.make_jaxpr``. Shapes and dtypes are fixed too (a replay checks them).
"""

from __future__ import annotations

import inspect
import keyword
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import ChainruleError, ShapeError, Tensor, apply, observing
from ..core.dispatch import user_frame
from ..core.state import state

__all__ = ["Const", "DataOf", "Equation", "Program", "TraceError", "Var", "trace"]


class TraceError(ChainruleError):
    """A function cannot be traced (e.g. it returns something that is not a Tensor)."""


@dataclass(frozen=True)
class Var:
    """A variable of a program: an argument or the result of one equation."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=False)
class Const:
    """A value the traced function captured from outside (a Tensor or an array).

    A captured Tensor is kept as the Tensor itself (not a copy of its data), so a replay
    sees later updates to it and gradients still flow to it when it requires grad.
    """

    name: str
    value: Any  # Tensor or np.ndarray

    @property
    def array(self) -> np.ndarray:
        return self.value.data if isinstance(self.value, Tensor) else self.value

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DataOf:
    """The raw data of a traced variable, used where the function read ``t.data``.

    As an op argument it stands for ``var.detach()`` (a Tensor sharing the data, cut off
    from the graph); inside a param (e.g. integer indices handed to ``getitem``) it stands
    for the array itself. Either way the replay re-reads it from the new values instead of
    freezing the traced ones.
    """

    var: Var
    in_param: bool = False

    def __str__(self) -> str:
        return f"{self.var.name}.data" if self.in_param else f"{self.var.name}.detach()"


def shape_of(r: Any) -> tuple[int, ...]:
    """The shape of a program value: a variable, a captured constant, a literal."""
    if isinstance(r, Var):
        return r.shape
    if isinstance(r, DataOf):
        return r.var.shape
    if isinstance(r, Const):
        return tuple(np.shape(r.array))
    return tuple(np.shape(r))


@dataclass
class Equation:
    """One recorded op: ``out = op(*inputs, **params)``.

    Attributes
    ----------
    op : type
        The primitive class (a subclass of :class:`chainrule.core.Primitive`).
    inputs : tuple
        One entry per positional argument: a :class:`Var`, a :class:`Const` or a literal.
    params : dict
        The op's keyword parameters, as the op received them.
    out : Var
    grad : bool
        Whether grad mode was on when the op ran (False inside ``no_grad()``: the op
        passes no gradient back).
    where : tuple or None
        (file, line, function) of the user's code that applied the op.
    also : Var or None
        A second output, in generated code only: what an op's ``keeps`` forward returns
        beside ``out`` for its gradient op to reuse (:func:`chainrule.jit.passes.pair_kept`).
    """

    op: type
    inputs: tuple
    params: dict = field(default_factory=dict)
    out: Var | None = None
    grad: bool = True
    where: tuple | None = field(default=None, compare=False)
    also: Var | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.op.name


def _type_str(shape: tuple, dtype: np.dtype) -> str:
    return f"{dtype}[{', '.join(str(s) for s in shape)}]"


def _show(v: Any) -> str:
    """A short, readable rendering of a literal or a param value (for people)."""
    if isinstance(v, Var | Const | DataOf):
        return str(v)
    if isinstance(v, Tensor | np.ndarray):
        return f"<{_type_str(v.shape, v.dtype)} array>"
    if isinstance(v, np.generic):
        return repr(v.item())
    if isinstance(v, np.dtype):
        return str(v)
    if isinstance(v, tuple):
        inner = ", ".join(_show(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, slice):
        parts = ["" if p is None else _show(p) for p in (v.start, v.stop, v.step)]
        return "slice(" + ", ".join(p or "None" for p in parts) + ")"
    return repr(v)


def _show_param(key: str, v: Any) -> str:
    """Like :func:`_show`, with an index tuple in NumPy's bracket notation: ``[:, 1:]``."""
    if key != "index" or not isinstance(v, tuple):
        return _show(v)
    parts = []
    for i in v:
        if isinstance(i, slice):
            lo, hi, st = ("" if p is None else _show(p) for p in (i.start, i.stop, i.step))
            parts.append(f"{lo}:{hi}" + (f":{st}" if st else ""))
        elif i is None:
            parts.append("None")
        elif i is Ellipsis:
            parts.append("...")
        else:
            parts.append(_show(i))
    return "[" + ", ".join(parts) + "]"


_PLAIN = (int, float, bool, str, type(None), type(Ellipsis))


def _is_plain(v: Any) -> bool:
    """Whether ``repr(v)`` evaluates back to ``v`` with no imports needed."""
    if isinstance(v, tuple | list):
        return all(_is_plain(x) for x in v)
    if isinstance(v, slice):
        return all(_is_plain(x) for x in (v.start, v.stop, v.step))
    return type(v) in _PLAIN


class Program:
    """A traced function: flat equations that can be replayed, counted and printed.

    Made by :func:`trace`; see there for an example.

    Attributes
    ----------
    name : str
        The traced function's name (used in the printed code).
    inputs : list of Var
        One per positional argument, with the shape and dtype the replay expects.
    constants : list of Const
        Captured tensors/arrays, named ``c1``, ``c2``, ... in order of first use.
    equations : list of Equation
        The ops, in the order they ran.
    outputs : tuple
        What the function returned (Vars, or Consts when it returned a captured value).
    """

    def __init__(
        self,
        name: str,
        inputs: list[Var],
        constants: list[Const],
        equations: list[Equation],
        outputs: tuple,
        single: bool,
    ) -> None:
        self.name = name
        self.inputs = inputs
        self.constants = constants
        self.equations = equations
        self.outputs = outputs
        self._single = single  # f returned one Tensor (not a tuple)

    # ------------------------------------------------------------------ replay
    def __call__(self, *args: Any) -> Tensor | tuple[Tensor, ...]:
        """Run the recorded ops on new inputs of the traced shapes and dtypes.

        Raises
        ------
        ShapeError
            When the number, shape or dtype of the arguments differs from the trace.
        """
        if len(args) != len(self.inputs):
            raise ShapeError(
                f"program {self.name!r} was traced with {len(self.inputs)} argument(s) "
                f"({', '.join(v.name for v in self.inputs)}) but was called with {len(args)}"
            )
        env: dict[str, Any] = {}
        for var, a in zip(self.inputs, args, strict=True):
            arr = a.data if isinstance(a, Tensor) else np.asarray(a)
            if arr.shape != var.shape or arr.dtype != var.dtype:
                raise ShapeError(
                    f"program {self.name!r}: argument {var.name!r} was traced as "
                    f"{_type_str(var.shape, var.dtype)} but got "
                    f"{_type_str(arr.shape, arr.dtype)}; a traced program replays fixed "
                    f"shapes and dtypes, so trace again for this signature"
                )
            env[var.name] = a if isinstance(a, Tensor) else Tensor(arr)

        def read(r: Any) -> Any:
            if isinstance(r, Var):
                return env[r.name]
            if isinstance(r, Const):
                return r.value
            if isinstance(r, DataOf):
                v = env[r.var.name]
                data = v.data if isinstance(v, Tensor) else v
                return data if r.in_param else Tensor(data)
            if isinstance(r, tuple | list) and any(isinstance(x, DataOf) for x in r):
                return type(r)(read(x) for x in r)
            return r

        for eq in self.equations:
            params = {k: read(v) for k, v in eq.params.items()}
            env[eq.out.name] = apply(eq.op, *[read(r) for r in eq.inputs], **params)
        outs = tuple(read(r) for r in self.outputs)
        return outs[0] if self._single else outs

    # ------------------------------------------------------------------ summaries
    @property
    def n_ops(self) -> int:
        """Number of recorded ops."""
        return len(self.equations)

    def op_counts(self) -> Counter:
        """How many times each op (by name) appears."""
        return Counter(eq.name for eq in self.equations)

    # ------------------------------------------------------------------ printing
    def to_source(self, shapes: bool = False) -> str:
        """The program as readable Python-like code.

        Parameters
        ----------
        shapes : bool
            Add the shape and dtype of each result as a trailing comment.
        """
        lines = []
        if shapes:
            for v in self.inputs:
                lines.append(f"# {v.name}: {_type_str(v.shape, v.dtype)}")
        for c in self.constants:
            a = c.array
            what = "captured Tensor" if isinstance(c.value, Tensor) else "captured array"
            if isinstance(c.value, Tensor) and c.value.requires_grad:
                what += ", requires grad"
            lines.append(f"# {c.name}: {_type_str(a.shape, a.dtype)} ({what})")
        lines.append(f"def {self.name}({', '.join(v.name for v in self.inputs)}):")
        for eq in self.equations:
            args = [_show(r) for r in eq.inputs]
            args += [f"{k}={_show_param(k, v)}" for k, v in eq.params.items()]
            line = f"    {eq.out.name} = {eq.name}({', '.join(args)})"
            if shapes:
                line += f"  # {_type_str(eq.out.shape, eq.out.dtype)}"
            lines.append(line)
        lines.append(
            f"    return {', '.join(_show(r) for r in self.outputs)}"
            + ("," if not self._single and len(self.outputs) == 1 else "")
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_source()

    def __repr__(self) -> str:
        sig = ", ".join(f"{v.name}: {_type_str(v.shape, v.dtype)}" for v in self.inputs)
        return f"<Program {self.name}({sig}): {self.n_ops} ops>"

    # ------------------------------------------------------------------ executable Python
    def to_python(self) -> tuple[str, dict[str, Any]]:
        """Executable Python source for the program, and the namespace it needs.

        Returns
        -------
        source : str
            A ``def`` that calls ``cr.core.apply(OPS[name], ...)`` for each equation.
            Captured constants and any param value that is not a plain Python literal
            (arrays, dtypes, ...) are read from the dict ``K``.
        namespace : dict
            ``{"cr": chainrule, "OPS": {...}, "K": {...}, ...}``; ``exec(source, namespace)``
            defines the function in it (see :meth:`compile_python`).
        """
        import chainrule

        ops: dict[str, type] = {}
        consts: dict[str, Any] = {c.name: c.value for c in self.constants}

        def lit(v: Any) -> str:
            if isinstance(v, Var):
                return v.name
            if isinstance(v, Const):
                return f"K[{v.name!r}]"
            if isinstance(v, DataOf):
                return f"{'_data' if v.in_param else '_detach'}({v.var.name})"
            if isinstance(v, tuple | list) and any(isinstance(x, DataOf) for x in v):
                inner = ", ".join(lit(x) for x in v) + ("," if len(v) == 1 else "")
                return f"({inner})" if isinstance(v, tuple) else f"[{inner}]"
            if _is_plain(v):
                return repr(v)
            key = f"k{len(consts) - len(self.constants) + 1}"
            consts[key] = v
            return f"K[{key!r}]"

        lines = [f"def {self.name}({', '.join(v.name for v in self.inputs)}):"]
        for eq in self.equations:
            key = eq.name
            if ops.get(key, eq.op) is not eq.op:  # two different primitives share a name
                key = f"{eq.name}#{len(ops)}"
            ops[key] = eq.op
            args = [f"OPS[{key!r}]"] + [lit(r) for r in eq.inputs]
            args += [f"{k}={lit(v)}" for k, v in eq.params.items()]
            lines.append(f"    {eq.out.name} = cr.core.apply({', '.join(args)})")
        outs = ", ".join(lit(r) for r in self.outputs)
        if not self._single:
            outs = f"({outs},)"
        lines.append(f"    return {outs}")
        namespace = {"cr": chainrule, "OPS": ops, "K": consts, "_data": _data, "_detach": _detach}
        return "\n".join(lines) + "\n", namespace

    def compile_python(self) -> Callable[..., Any]:
        """Exec :meth:`to_python`'s source and return the function it defines."""
        source, namespace = self.to_python()
        exec(compile(source, f"<chainrule program {self.name}>", "exec"), namespace)
        return namespace[self.name]


def _data(v: Any) -> Any:
    return v.data if isinstance(v, Tensor) else v


def _detach(v: Any) -> Tensor:
    return Tensor(_data(v))


# ---------------------------------------------------------------------- tracing
_GENERATED = re.compile(r"^[tck]\d+$")


def _input_names(f: Callable, n: int) -> list[str]:
    """The positional parameter names of ``f``, falling back to x0, x1, ..."""
    names: list[str] = []
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    names = names[:n]
    out = []
    for i in range(n):
        name = names[i] if i < len(names) else f"x{i}"
        if (
            _GENERATED.match(name)
            or keyword.iskeyword(name)
            or name in ("cr", "OPS", "K")
            or name in out
        ):
            name = f"arg{i}"
        out.append(name)
    return out


def _func_name(f: Callable) -> str:
    name = getattr(f, "__name__", "f")
    return name if name.isidentifier() and not keyword.iskeyword(name) else "f"


def trace(f: Callable[..., Any], *example_args: Any) -> Program:
    """Run ``f`` once on ``example_args`` and record every op it applies.

    Each example argument becomes a fresh leaf Tensor with the same data; floating-point
    ones require grad, so the trace runs exactly as a differentiated call would. Tensors
    (and arrays) that ``f`` uses but neither received as arguments nor computed become
    captured constants.

    Parameters
    ----------
    f : callable
        Takes the arguments positionally and returns a Tensor or a tuple of Tensors.
    *example_args : Tensor or array_like
        Fix the shapes and dtypes of the program's inputs.

    Returns
    -------
    Program
        Call it to replay on new inputs (differentiable); print it to read the code.

    Raises
    ------
    TraceError
        When ``f`` returns something other than a Tensor or a tuple of Tensors.

    Notes
    -----
    Python control flow is frozen at trace time: data-dependent branches are not
    re-evaluated on replay (as with ``torch.jit.trace`` and ``jax.make_jaxpr``), and so is
    anything computed from values in Python (``float(x.sum())``, a bool mask turned into
    indices). Integer index tensors passed to ops and ``detach()``/``.data`` of traced
    values are re-read on replay. In-place updates (``add_``, ``t[i] = v``) are not ops
    and are not recorded.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.jit import trace
    >>> def layer(x, w, b):
    ...     return cr.tanh(x @ w + b)
    >>> prog = trace(layer, cr.Tensor([[1.0, 2.0]]), cr.Tensor([[0.5], [0.25]]),
    ...              cr.Tensor([0.0]))
    >>> print(prog)
    def layer(x, w, b):
        t1 = matmul(x, w)
        t2 = add(t1, b)
        t3 = tanh(t2)
        return t3
    >>> y = prog(cr.Tensor([[0.0, 0.0]]), cr.Tensor([[1.0], [1.0]]), cr.Tensor([0.5]))
    >>> round(float(y.data[0, 0]), 4)
    0.4621
    """
    names = _input_names(f, len(example_args))
    tracer = Tracer()
    leaves = []
    for name, a in zip(names, example_args, strict=True):
        arr = np.asarray(a.data if isinstance(a, Tensor) else a)
        leaves.append(tracer.input(name, arr, arr.dtype.kind == "f"))
    with observing(tracer.observe):
        result = f(*leaves)
    single = isinstance(result, Tensor)
    outs = (result,) if single else result
    if not isinstance(outs, tuple) or not all(isinstance(o, Tensor) for o in outs):
        raise TraceError(
            f"trace: {_func_name(f)} returned {type(result).__name__}; a traced function "
            f"must return a Tensor or a tuple of Tensors"
        )
    outputs = tuple(tracer.ref(o) for o in outs)
    return Program(
        _func_name(f), tracer.inputs, tracer.constants, tracer.equations, outputs, single
    )


class Tracer:
    """The recorder behind :func:`trace`: maps the Tensors it sees to program variables.

    ``observe`` is a dispatch observer (:func:`chainrule.core.observing`): each op applied
    while it is installed becomes an :class:`Equation` appended to :attr:`equations`. The
    tracer keeps every Tensor it has seen (so no ``id`` is reused while it lives) and the
    value of every variable (:attr:`values`), which :mod:`chainrule.jit.grad` reads to run
    the VJP rules on the traced values. Switching :attr:`equations` to another list records
    the next ops there (the gradient program) while names and references stay shared.
    """

    def __init__(self, prefix: str = "t") -> None:
        self.inputs: list[Var] = []
        self.equations: list[Equation] = []
        self.values: dict[str, Any] = {}  # variable name -> traced Tensor
        self.prefix = prefix
        self.locate = False  # record each op's user source line
        self._env: dict[int, Var] = {}  # id(tensor) -> variable
        self._data_of: dict[int, Var] = {}  # id(tensor.data) -> variable: t.data, detach()
        self._consts: dict[int, Const] = {}  # id(tensor or array) -> captured constant
        self._keep: list[Any] = []  # every seen object, so no id() is reused
        self._count = 0

    @property
    def constants(self) -> list[Const]:
        return list(self._consts.values())

    def input(self, name: str, arr: np.ndarray, requires_grad: bool) -> Tensor:
        """A fresh leaf Tensor holding ``arr``, recorded as the program input ``name``."""
        leaf = Tensor(arr, requires_grad=requires_grad, name=name)
        self.bind(leaf, Var(name, tuple(arr.shape), arr.dtype))
        self.inputs.append(self._env[id(leaf)])
        return leaf

    def bind(self, t: Tensor, var: Var) -> None:
        """Record that Tensor ``t`` is the variable ``var``."""
        self._env[id(t)] = var
        self._data_of[id(t.data)] = var
        self._keep.append(t)
        self.values[var.name] = t

    def var_of(self, t: Any) -> Var | None:
        """The variable a traced Tensor stands for (None for anything else)."""
        return self._env.get(id(t))

    def ref(self, a: Any, in_param: bool = False) -> Any:
        """What an op argument stands for: a Var, a DataOf, a Const or the literal itself."""
        if isinstance(a, Tensor | np.ndarray):
            known = self._env.get(id(a))
            if known is not None:
                return known
            data = a.data if isinstance(a, Tensor) else a
            if id(data) in self._data_of:  # the data of a traced value, read outside any op
                return DataOf(self._data_of[id(data)], in_param)
            c = self._consts.get(id(a))
            if c is None:
                c = Const(f"c{len(self._consts) + 1}", a)
                self._consts[id(a)] = c
                self._keep.append(a)
            return c
        return a

    def param(self, v: Any) -> Any:
        # arrays inside params (e.g. indices) that are the data of a traced value are
        # re-read on replay; other arrays stay as they were traced
        if isinstance(v, np.ndarray) and id(v) in self._data_of:
            return DataOf(self._data_of[id(v)], True)
        if isinstance(v, tuple | list):
            return type(v)(self.param(x) for x in v)
        return v

    def observe(self, op: Any, args: tuple, params: dict, out: Tensor) -> None:
        eq_inputs = tuple(self.ref(a) for a in args)
        self._count += 1
        var = Var(f"{self.prefix}{self._count}", tuple(out.shape), out.data.dtype)
        self.bind(out, var)
        self.equations.append(
            Equation(
                op,
                eq_inputs,
                {k: self.param(v) for k, v in params.items()},
                var,
                grad=state().grad_enabled,
                where=user_frame() if self.locate else None,
            )
        )
