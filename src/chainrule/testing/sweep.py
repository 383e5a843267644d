"""The registry sweep: every registered primitive, checked against finite differences.

For every primitive in :data:`chainrule.core.REGISTRY` the sweep builds sample inputs,
from the primitive's ``kind`` ("unary", "binary", "reduction") and ``domain``, or from its
own ``samples(rng)`` generator, and checks in float64:

``vjp``
    the reverse-mode rule against centered differences of ⟨u, f(x)⟩ (random ``u``);
``jvp``
    the forward-mode rule against centered differences along a random direction;
``adjoint``
    the two rules against each other: ⟨u, J v⟩ = ⟨Jᵀ u, v⟩ (tight tolerance);
``second``
    second order, for ``twice_differentiable`` primitives: the gradient of
    s(x) = ⟨w, Jᵀu⟩ through the recorded backward pass (``create_graph=True``) against
    centered differences of s, itself evaluated with first-order backward passes;
``integer``
    forward on integer and bool versions of the samples (int64, int32, int8, bool) against
    NumPy's result: the same computation in float64 on the same values. A result NumPy
    keeps integral (add, max, matmul, relu of ints, ...) must be integral and equal to it;
    any other result must be floating (at least as wide as NumPy's float ufuncs give:
    int64 -> float64, int8/bool -> float16) and equal to it within that dtype's rounding.
    A primitive that refuses bools as NumPy does (``-`` on bools) declares
    ``rejects_bool = True`` and must then raise a ChainruleError for them;
``nondiff``
    a ``differentiable = False`` primitive returns outputs that do not require grad.

A differentiable primitive with neither ``kind`` nor ``samples`` cannot be checked: the
sweep reports it as a failure of the ``samples`` check, so adding an op without test
inputs makes the test suite fail.

Non-smooth primitives (``smooth = False``) get samples away from their kinks: |x| > 0.1,
|a - b| > 0.1 for binary ops, and distinct values (gaps > 0.05) for reductions.
Reduction ``axis`` values (None, each axis, negative axes, tuples) are passed in the
canonical form the public functions use (a sorted tuple of non-negative axes, or None).

Examples
--------
>>> from chainrule.testing.sweep import sweep
>>> sweep(ops=["tanh", "matmul"])
[]
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import REGISTRY, ChainruleError, NotFoundError, Primitive, Tensor, apply
from ..core.engine import backward as _backward
from ..core.forward import forward_level
from .gradcheck import central_difference, numeric_jvp, numeric_vjp

__all__ = [
    "CHECKS",
    "INTEGER_DTYPES",
    "MissingSamplesError",
    "SweepError",
    "SweepFailure",
    "applicable_checks",
    "binary_sample",
    "check_sample",
    "integer_mismatch",
    "integer_version",
    "reduction_sample",
    "sample_inputs",
    "sweep",
    "sweep_cases",
    "unary_sample",
]

CHECKS = ("samples", "vjp", "jvp", "adjoint", "second", "integer", "nondiff")
INTEGER_DTYPES = (np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.int8), np.dtype(np.bool_))

UNARY_SHAPES = ((), (4,), (2, 3))
BINARY_SHAPES = (
    ((), ()),
    ((3,), (3,)),
    ((), (3,)),
    ((3,), ()),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((2, 1), (1, 3)),
    ((1, 3), (2, 1)),
    ((2, 3), (2, 3)),
    ((2, 3), ()),
    ((2, 3), (2, 1)),
)
REDUCTION_SHAPES = ((), (4,), (2, 3), (2, 3, 4))

# float64 tolerances: centered differences with eps=1e-6 are good to ~1e-9 here
EPS = 1e-6
ATOL = 1e-6
RTOL = 1e-5
ADJOINT_RTOL = 1e-9
SECOND_EPS = 1e-5
SECOND_ATOL = 1e-5
SECOND_RTOL = 1e-4
KINK = 0.1


class SweepError(ChainruleError, ValueError):
    """The sweep was asked something it cannot do (an unknown check, an impossible domain)."""


class MissingSamplesError(SweepError, LookupError):
    """A primitive has neither ``kind`` nor ``samples``: the sweep cannot build inputs."""


@dataclass
class SweepFailure:
    """One failed check: which op, which check, which sample, and what went wrong."""

    op: str
    check: str
    message: str
    sample: int | None = None

    def __str__(self) -> str:
        where = f" (sample {self.sample})" if self.sample is not None else ""
        return f"[{self.op}/{self.check}]{where} {self.message}"


# ---------------------------------------------------------------------- sample building
def _resolve(op: str | type[Primitive]) -> type[Primitive]:
    if isinstance(op, str):
        if op not in REGISTRY:
            raise NotFoundError(
                f"no primitive named {op!r} in the registry; known: {', '.join(sorted(REGISTRY))}"
            )
        return REGISTRY[op]
    return op


def _uniform(
    rng: np.random.Generator, shape: tuple[int, ...], lo: float, hi: float, away_from_zero: bool
) -> np.ndarray:
    x = rng.uniform(lo, hi, shape)
    if away_from_zero:
        for _ in range(1000):
            bad = np.abs(x) <= KINK
            if not bad.any():
                break
            x = np.where(bad, rng.uniform(lo, hi, shape), x)
        else:
            raise SweepError(f"cannot sample |x| > {KINK} from the domain ({lo}, {hi})")
    return np.asarray(x, dtype=np.float64)


def _spaced(rng: np.random.Generator, shape: tuple[int, ...], lo: float, hi: float) -> np.ndarray:
    """Distinct values at least (hi - lo) / (2n) apart, in random order (no ties)."""
    n = int(np.prod(shape)) if shape else 1
    if n == 0:
        return np.zeros(shape)
    step = (hi - lo) / n
    vals = lo + (rng.permutation(n) + 0.5 + rng.uniform(-0.25, 0.25, n)) * step
    return vals.reshape(shape).astype(np.float64)


def _axis_choices(ndim: int) -> list[Any]:
    if ndim == 0:
        return [None]
    choices: list[Any] = [None]
    choices += list(range(ndim))
    choices += [-1] if ndim == 1 else [-1, -ndim]
    for r in range(1, ndim + 1):
        choices += list(itertools.combinations(range(ndim), r))
    if ndim >= 2:
        choices.append((-1, 0))
    return choices


def _canonical_axis(axis: Any, ndim: int) -> Any:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted({a % ndim for a in axes}))


def unary_sample(
    op: str | type[Primitive], rng: np.random.Generator, shape: tuple[int, ...]
) -> np.ndarray:
    """One float64 input of ``shape`` from ``op``'s domain (off the kink at 0 if not smooth)."""
    prim = _resolve(op)
    lo, hi = prim.domain
    return _uniform(rng, shape, lo, hi, not prim.smooth)


def binary_sample(
    op: str | type[Primitive], rng: np.random.Generator, sa: tuple[int, ...], sb: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Two float64 inputs of shapes ``sa``, ``sb`` (|a - b| > KINK if not smooth)."""
    prim = _resolve(op)
    lo, hi = prim.domain
    a = _uniform(rng, sa, lo, hi, not prim.smooth)
    b = _uniform(rng, sb, lo, hi, not prim.smooth)
    if not prim.smooth:
        for _ in range(1000):
            bad = np.abs(a - b) <= KINK  # the kink of max/min is a == b
            if not bad.any():
                break
            b = _uniform(rng, sb, lo, hi, True)
        else:
            raise SweepError(f"{prim.name}: cannot sample |a - b| > {KINK}")
    return a, b


def reduction_sample(
    op: str | type[Primitive],
    rng: np.random.Generator,
    shape: tuple[int, ...],
    axis: Any,
    keepdims: bool,
) -> tuple[tuple, dict]:
    """``(args, params)`` for a reduction over ``axis`` (any NumPy form; passed canonical).

    Non-smooth reductions (max, min) get distinct values, so no element ties.
    """
    prim = _resolve(op)
    lo, hi = prim.domain
    x = _uniform(rng, shape, lo, hi, False) if prim.smooth else _spaced(rng, shape, lo, hi)
    return (x,), {"axis": _canonical_axis(axis, len(shape)), "keepdims": keepdims}


def sample_inputs(
    op: str | type[Primitive], rng: np.random.Generator
) -> Iterator[tuple[tuple, dict]]:
    """The ``(args, params)`` samples the sweep uses for ``op`` (float64 arrays).

    Raises :class:`MissingSamplesError` (a ``LookupError``) for a primitive with neither
    ``kind`` nor ``samples``.
    """
    prim = _resolve(op)
    if prim.samples is not None:
        yield from prim.samples(rng)
        return
    if prim.kind == "unary":
        for shape in UNARY_SHAPES:
            yield (unary_sample(prim, rng, shape),), {}
    elif prim.kind == "binary":
        for sa, sb in BINARY_SHAPES:
            yield binary_sample(prim, rng, sa, sb), {}
    elif prim.kind == "reduction":
        for shape in REDUCTION_SHAPES:
            for axis in _axis_choices(len(shape)):
                for keepdims in (False, True):
                    yield reduction_sample(prim, rng, shape, axis, keepdims)
    elif prim.kind is None:
        raise MissingSamplesError(
            f"primitive {prim.name!r} ({prim.__module__}.{prim.__qualname__}) has neither "
            f"`kind` nor `samples`, so the registry sweep cannot check its gradients. Set "
            f"kind = 'unary' | 'binary' | 'reduction', or add a `samples(rng)` staticmethod "
            f"yielding (args, params) pairs."
        )
    else:
        raise MissingSamplesError(
            f"primitive {prim.name!r} has unknown kind {prim.kind!r} "
            f"(expected 'unary', 'binary' or 'reduction')"
        )


def _nondiff_inputs(prim: type[Primitive], rng: np.random.Generator) -> list[tuple]:
    """``(args, params)`` pairs: the op's own samples (first three), else random arrays."""
    try:
        return [(args, params) for args, params in itertools.islice(sample_inputs(prim, rng), 3)]
    except LookupError:
        pass
    nin = getattr(prim.forward, "nin", None)  # a NumPy ufunc
    if nin is None:
        sig = inspect.signature(prim.forward)
        nin = sum(
            1
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        )
    return [(tuple(rng.uniform(-2, 2, shape) for _ in range(nin)), {}) for shape in UNARY_SHAPES]


# ---------------------------------------------------------------------- the checks
def applicable_checks(op: str | type[Primitive]) -> tuple[str, ...]:
    """The checks the sweep runs for ``op``."""
    prim = _resolve(op)
    if not prim.differentiable:
        return ("nondiff", "integer")
    checks = ("samples", "vjp", "jvp", "adjoint")
    checks += ("second",) if prim.twice_differentiable else ()
    return checks + ("integer",)


def sweep_cases(ops: Iterable[str | type[Primitive]] | None = None) -> list[tuple[str, str]]:
    """``(op name, check)`` pairs for pytest parametrization (one test id per pair)."""
    prims = [_resolve(o) for o in (sorted(REGISTRY) if ops is None else ops)]
    return [(p.name, c) for p in prims for c in applicable_checks(p)]


def _float_args(args: tuple) -> list[int]:
    return [
        i
        for i, a in enumerate(args)
        if isinstance(a, np.ndarray | float | np.floating) and np.asarray(a).dtype.kind == "f"
    ]


def _err(a: np.ndarray, n: np.ndarray, atol: float, rtol: float) -> str | None:
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if a.shape != n.shape:
        return f"shape {a.shape} vs expected {n.shape}"
    if not np.all(np.isfinite(a)):
        return f"non-finite analytic values: {a}"
    err = np.abs(a - n)
    bad = err > atol + rtol * np.abs(n)
    if bad.any():
        k = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
        return (
            f"max abs error {err.max():.3g} at element {tuple(int(j) for j in k)} "
            f"(analytic {a[k]:.8g}, numeric {n[k]:.8g}; atol={atol}, rtol={rtol})"
        )
    return None


def _describe(args: tuple, params: dict) -> str:
    shapes = ", ".join(str(np.shape(a)) for a in args)
    extra = f" {params}" if params else ""
    return f"inputs of shapes [{shapes}]{extra}"


def _vjp(
    prim: type[Primitive],
    args: tuple,
    params: dict,
    fl: list[int],
    u: np.ndarray,
    create_graph: bool = False,
) -> tuple[list[Any], list[Tensor]]:
    ts = [
        Tensor(np.array(a, dtype=np.float64), requires_grad=True) if i in fl else a
        for i, a in enumerate(args)
    ]
    out = apply(prim, *ts, **params)
    xs = [ts[i] for i in fl]
    if not out.requires_grad:
        return [None] * len(fl), xs
    return _backward([out], [u], create_graph=create_graph, inputs=xs), xs


def integer_version(a: Any, dtype: Any) -> np.ndarray:
    """Integer (rounded) or bool (alternating by half-units) values near the float ``a``."""
    dtype = np.dtype(dtype)
    a = np.asarray(a, dtype=np.float64)
    if dtype.kind == "b":
        return np.asarray(np.floor(a * 2) % 2 == 1)  # a mix of True and False, any domain
    return np.asarray(np.rint(a).astype(dtype))


def integer_mismatch(out: Any, ref: Any, in_dtypes: Sequence[Any]) -> str | None:
    """Why ``out``, computed from inputs of integer/bool ``in_dtypes``, is not NumPy's
    answer; None when it is. ``ref`` is the same computation on the values in float64.

    Examples
    --------
    >>> import numpy as np
    >>> integer_mismatch(np.array([3]), np.array([3.0]), [np.int64]) is None
    True
    >>> integer_mismatch(np.array([0]), np.array([0.73]), [np.int64])[:30]
    'an integral result of dtype in'
    """
    ref = np.asarray(ref, dtype=np.float64)
    out = np.asarray(out)
    if out.shape != ref.shape:
        return f"shape {out.shape}, but {ref.shape} from float inputs"
    if out.dtype.kind in "biu":
        exact = np.isfinite(ref).all() and np.array_equal(ref, np.round(ref))
        if not exact:
            return (
                f"an integral result of dtype {out.dtype} ({_show(out)}) where the "
                f"computation is not integral ({_show(ref)}): compute in floating point "
                f"(see chainrule.ops._dtypes.as_floating)"
            )
        if not np.array_equal(out, ref.astype(out.dtype)):  # NumPy's wrap-around/bool rules
            return f"integral result {_show(out)} differs from {_show(ref)}"
        return None
    if out.dtype.kind != "f":
        return f"unexpected result dtype {out.dtype}"
    want = np.result_type(*[np.promote_types(d, np.float16) for d in in_dtypes])
    if not np.can_cast(want, out.dtype):
        return (
            f"result dtype {out.dtype} is narrower than NumPy's float ufuncs give these "
            f"inputs ({want})"
        )
    tol = 16 * float(np.finfo(out.dtype).eps)  # a few roundings in the result's precision
    with np.errstate(all="ignore"):
        ok = np.isclose(out.astype(np.float64), ref, rtol=tol, atol=tol, equal_nan=True)
    if not ok.all():
        return f"{_show(out)} but the float computation gives {_show(ref)} (rtol={tol:.2g})"
    return None


def _show(a: Any) -> str:
    return np.array2string(np.asarray(a).reshape(-1)[:6], precision=4, separator=", ")


def _check_integer(prim: type[Primitive], args: tuple, params: dict, fl: list[int]) -> str | None:
    rejects_bool = prim.rejects_bool
    for dtype in INTEGER_DTYPES:
        iargs = [integer_version(a, dtype) if i in fl else a for i, a in enumerate(args)]
        fargs = [a.astype(np.float64) if i in fl else a for i, a in enumerate(iargs)]
        with np.errstate(all="ignore"):  # log(0), 1/0, ...: both sides must agree on them
            try:
                ref = np.asarray(apply(prim, *fargs, **params).data, dtype=np.float64)
            except ChainruleError:  # refused for these values (max of nothing): so are ints
                try:
                    apply(prim, *iargs, **params)
                except ChainruleError:
                    continue
                return f"{dtype} inputs: accepted values that float inputs are refused for"
            try:
                out = apply(prim, *iargs, **params).data
            except ChainruleError as exc:
                if dtype.kind == "b" and rejects_bool:
                    continue
                return f"{dtype} inputs: raised {type(exc).__name__}: {exc}"
        if dtype.kind == "b" and rejects_bool:
            return "declares rejects_bool = True but accepted bool inputs"
        msg = integer_mismatch(out, ref, [iargs[i].dtype for i in fl])
        if msg:
            return f"{dtype} inputs: {msg}"
    return None


def _check_sample(
    prim: type[Primitive], check: str, args: tuple, params: dict, rng: np.random.Generator
) -> str | None:
    fl = _float_args(args)
    if not fl:
        return None
    if check == "integer":
        return _check_integer(prim, args, params, fl)

    def f(*ts: Any) -> Any:
        return apply(prim, *ts, **params)

    out = apply(
        prim,
        *[np.asarray(a, dtype=np.float64) if i in fl else a for i, a in enumerate(args)],
        **params,
    )
    u = rng.normal(size=out.shape)
    vs = {i: rng.normal(size=np.shape(args[i])) for i in fl}
    if check == "vjp":
        grads, _ = _vjp(prim, args, params, fl, u)
        numeric = numeric_vjp(f, args, u, eps=EPS)
        for k, i in enumerate(fl):
            g = grads[k]
            a = np.zeros(np.shape(args[i])) if g is None else g.data
            msg = _err(a, numeric[i], ATOL, RTOL)
            if msg:
                return f"VJP of argument {i} disagrees with finite differences: {msg}"
        return None
    if check in ("jvp", "adjoint"):
        ts = [Tensor(np.array(a, dtype=np.float64)) if i in fl else a for i, a in enumerate(args)]
        with forward_level() as level:
            for i in fl:
                level.seed(ts[i], vs[i])
            o = apply(prim, *ts, **params)
            tan = level.tangent(o)
        jv = np.zeros(o.shape) if tan is None else tan.data
        if check == "jvp":
            numeric = numeric_jvp(f, args, [vs.get(i) for i in range(len(args))], eps=EPS)
            msg = _err(jv, numeric, ATOL, RTOL)
            return f"JVP disagrees with finite differences: {msg}" if msg else None
        grads, _ = _vjp(prim, args, params, fl, u)
        lhs = float(np.sum(u * jv))
        rhs = sum(
            float(np.sum(g.data * vs[i])) for g, i in zip(grads, fl, strict=True) if g is not None
        )
        scale = (
            float(np.sum(np.abs(u * jv)))
            + sum(
                float(np.sum(np.abs(g.data * vs[i])))
                for g, i in zip(grads, fl, strict=True)
                if g is not None
            )
            + 1e-300
        )
        if abs(lhs - rhs) > ADJOINT_RTOL * scale:
            return f"JVP and VJP are not adjoint: <u, J v> = {lhs:.12g} but <J^T u, v> = {rhs:.12g}"
        return None
    if check == "second":
        ws = {i: rng.normal(size=np.shape(args[i])) for i in fl}

        def s_value(*xs: np.ndarray) -> float:
            full = list(args)
            for i, x in zip(fl, xs, strict=True):
                full[i] = x
            grads, _ = _vjp(prim, tuple(full), params, fl, u)
            return sum(
                float(np.sum(g.data * ws[i]))
                for g, i in zip(grads, fl, strict=True)
                if g is not None
            )

        grads, xs = _vjp(prim, args, params, fl, u, create_graph=True)
        terms = [
            (g * ws[i]).sum()
            for g, i in zip(grads, fl, strict=True)
            if g is not None and g.requires_grad
        ]
        if terms:
            total = terms[0]
            for t in terms[1:]:
                total = total + t
            second = _backward([total], inputs=xs)
        else:
            second = [None] * len(fl)
        base = [np.array(args[i], dtype=np.float64) for i in fl]
        for k, i in enumerate(fl):
            numeric = central_difference(s_value, base, k, SECOND_EPS)
            a = np.zeros(base[k].shape) if second[k] is None else second[k].data
            msg = _err(a, numeric, SECOND_ATOL, SECOND_RTOL)
            if msg:
                return (
                    f"second derivative (gradient of <w, VJP> for argument {i}) "
                    f"disagrees with finite differences: {msg}"
                )
        return None
    raise SweepError(f"unknown check {check!r}; known: {CHECKS}")


def check_sample(
    op: str | type[Primitive],
    check: str,
    args: Sequence[Any],
    params: dict | None = None,
    seed: int = 0,
) -> str | None:
    """Run one sweep check on one ``(args, params)`` sample: None if it passes, else why.

    ``check`` is one of "vjp", "jvp", "adjoint", "second", "integer". For building your
    own samples (property-based tests): float arguments must be float64 arrays.

    Examples
    --------
    >>> import numpy as np
    >>> check_sample("tanh", "vjp", (np.array([0.5, -1.0]),)) is None
    True
    """
    prim = _resolve(op)
    if check not in ("vjp", "jvp", "adjoint", "second", "integer"):
        raise SweepError(f"check_sample: unknown check {check!r}")
    if check != "integer" and not prim.differentiable:
        return None
    return _check_sample(prim, check, tuple(args), dict(params or {}), np.random.default_rng(seed))


def _run(prim: type[Primitive], check: str, seed: int) -> list[SweepFailure]:
    rng = np.random.default_rng(seed)
    name = prim.name
    if check == "integer" and not prim.differentiable:
        fails = []
        for k, (args, params) in enumerate(_nondiff_inputs(prim, rng)):
            try:
                msg = _check_sample(prim, check, tuple(args), dict(params), rng)
            except Exception as exc:
                msg = f"raised {type(exc).__name__}: {exc}"
            if msg:
                fails.append(SweepFailure(name, check, f"{msg} [{_describe(args, {})}]", k))
        return fails
    if check == "nondiff":
        fails = []
        for k, (args, params) in enumerate(_nondiff_inputs(prim, rng)):
            ts = [
                Tensor(a, requires_grad=True) if np.asarray(a).dtype.kind == "f" else a
                for a in args
            ]
            out = apply(prim, *ts, **params)
            if out.requires_grad:
                fails.append(
                    SweepFailure(
                        name,
                        check,
                        "a non-differentiable primitive returned an output that requires grad",
                        k,
                    )
                )
        return fails
    try:
        samples = list(sample_inputs(prim, rng))
    except LookupError as exc:
        return [SweepFailure(name, "samples", str(exc))]
    if not samples:
        return [SweepFailure(name, "samples", "samples(rng) yielded no sample")]
    if check == "samples":
        return []
    fails = []
    for k, (args, params) in enumerate(samples):
        try:
            msg = _check_sample(prim, check, tuple(args), dict(params), rng)
        except Exception as exc:  # a crashing rule is a failure, reported like the others
            msg = f"raised {type(exc).__name__}: {exc}"
        if msg:
            fails.append(SweepFailure(name, check, f"{msg} [{_describe(args, params)}]", k))
    return fails


def sweep(
    ops: Iterable[str | type[Primitive]] | None = None,
    checks: Sequence[str] = CHECKS,
    seed: int = 0,
    on_result: Callable[[str, str, list[SweepFailure]], Any] | None = None,
) -> list[SweepFailure]:
    """Check registered primitives; returns the list of failures (empty: all good).

    Parameters
    ----------
    ops : iterable of str or Primitive subclass, optional
        Which primitives (default: every one in the registry).
    checks : sequence of str
        Any of ``CHECKS``; a check that does not apply to an op is skipped for it.
    seed : int
        Seed of the sample and direction generator.
    on_result : callable, optional
        Called as ``on_result(op_name, check, failures)`` after each (op, check).

    Examples
    --------
    >>> from chainrule.testing.sweep import sweep
    >>> sweep(ops=["exp"], checks=("vjp", "jvp"))
    []
    """
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise SweepError(f"unknown check(s) {sorted(unknown)}; known: {CHECKS}")
    prims = [_resolve(o) for o in (sorted(REGISTRY) if ops is None else ops)]
    failures: list[SweepFailure] = []
    for prim in prims:
        todo = [c for c in applicable_checks(prim) if c in checks]
        if prim.differentiable and "samples" not in todo and todo:
            todo.insert(0, "samples")  # a missing sampler must never pass silently
        for check in todo:
            fails = _run(prim, check, seed)
            if check != "samples" and any(f.check == "samples" for f in fails):
                break  # already reported by the samples check
            failures.extend(fails)
            if on_result is not None:
                on_result(prim.name, check, fails)
    return failures
