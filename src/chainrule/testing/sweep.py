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

from ..core import REGISTRY, Primitive, Tensor, apply
from ..core.engine import backward as _backward
from ..core.forward import forward_level
from .gradcheck import central_difference, numeric_jvp, numeric_vjp

__all__ = ["CHECKS", "SweepFailure", "applicable_checks", "sample_inputs", "sweep",
           "sweep_cases"]

CHECKS = ("samples", "vjp", "jvp", "adjoint", "second", "nondiff")

UNARY_SHAPES = ((), (4,), (2, 3))
BINARY_SHAPES = (((), ()), ((3,), (3,)), ((), (3,)), ((3,), ()), ((2, 3), (3,)),
                 ((3,), (2, 3)), ((2, 1), (1, 3)), ((1, 3), (2, 1)), ((2, 3), (2, 3)),
                 ((2, 3), ()), ((2, 3), (2, 1)))
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
            raise KeyError(f"no primitive named {op!r} in the registry; known: "
                           f"{', '.join(sorted(REGISTRY))}")
        return REGISTRY[op]
    return op


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], lo: float, hi: float,
             away_from_zero: bool) -> np.ndarray:
    x = rng.uniform(lo, hi, shape)
    if away_from_zero:
        for _ in range(1000):
            bad = np.abs(x) <= KINK
            if not bad.any():
                break
            x = np.where(bad, rng.uniform(lo, hi, shape), x)
        else:
            raise ValueError(f"cannot sample |x| > {KINK} from the domain ({lo}, {hi})")
    return np.asarray(x, dtype=np.float64)


def _spaced(rng: np.random.Generator, shape: tuple[int, ...], lo: float,
            hi: float) -> np.ndarray:
    """Distinct values at least (hi - lo) / (2n) apart, in random order (no ties)."""
    n = int(np.prod(shape)) if shape else 1
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


def sample_inputs(op: str | type[Primitive],
                  rng: np.random.Generator) -> Iterator[tuple[tuple, dict]]:
    """The ``(args, params)`` samples the sweep uses for ``op`` (float64 arrays).

    Raises ``LookupError`` for a primitive with neither ``kind`` nor ``samples``.
    """
    prim = _resolve(op)
    lo, hi = prim.domain
    smooth = prim.smooth
    if prim.samples is not None:
        yield from prim.samples(rng)
        return
    if prim.kind == "unary":
        for shape in UNARY_SHAPES:
            yield (_uniform(rng, shape, lo, hi, not smooth),), {}
    elif prim.kind == "binary":
        for sa, sb in BINARY_SHAPES:
            a = _uniform(rng, sa, lo, hi, not smooth)
            b = _uniform(rng, sb, lo, hi, not smooth)
            if not smooth:
                for _ in range(1000):
                    bad = np.abs(a - b) <= KINK  # the kink of max/min is a == b
                    if not bad.any():
                        break
                    b = _uniform(rng, sb, lo, hi, True)
                else:
                    raise ValueError(f"{prim.name}: cannot sample |a - b| > {KINK}")
            yield (a, b), {}
    elif prim.kind == "reduction":
        for shape in REDUCTION_SHAPES:
            for axis in _axis_choices(len(shape)):
                for keepdims in (False, True):
                    x = (_uniform(rng, shape, lo, hi, False) if smooth
                         else _spaced(rng, shape, lo, hi))
                    yield (x,), {"axis": _canonical_axis(axis, len(shape)),
                                 "keepdims": keepdims}
    elif prim.kind is None:
        raise LookupError(
            f"primitive {prim.name!r} ({prim.__module__}.{prim.__qualname__}) has neither "
            f"`kind` nor `samples`, so the registry sweep cannot check its gradients. Set "
            f"kind = 'unary' | 'binary' | 'reduction', or add a `samples(rng)` staticmethod "
            f"yielding (args, params) pairs.")
    else:
        raise LookupError(f"primitive {prim.name!r} has unknown kind {prim.kind!r} "
                          f"(expected 'unary', 'binary' or 'reduction')")


def _nondiff_inputs(prim: type[Primitive], rng: np.random.Generator) -> list[tuple]:
    try:
        return [args for args, _ in itertools.islice(sample_inputs(prim, rng), 3)]
    except LookupError:
        pass
    nin = getattr(prim.forward, "nin", None)  # a NumPy ufunc
    if nin is None:
        sig = inspect.signature(prim.forward)
        nin = sum(1 for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.default is p.empty)
    return [tuple(rng.uniform(-2, 2, shape) for _ in range(nin)) for shape in UNARY_SHAPES]


# ---------------------------------------------------------------------- the checks
def applicable_checks(op: str | type[Primitive]) -> tuple[str, ...]:
    """The checks the sweep runs for ``op``."""
    prim = _resolve(op)
    if not prim.differentiable:
        return ("nondiff",)
    checks = ("samples", "vjp", "jvp", "adjoint")
    return checks + ("second",) if prim.twice_differentiable else checks


def sweep_cases(ops: Iterable[str | type[Primitive]] | None = None) -> list[tuple[str, str]]:
    """``(op name, check)`` pairs for pytest parametrization (one test id per pair)."""
    prims = [_resolve(o) for o in (sorted(REGISTRY) if ops is None else ops)]
    return [(p.name, c) for p in prims for c in applicable_checks(p)]


def _float_args(args: tuple) -> list[int]:
    return [i for i, a in enumerate(args)
            if isinstance(a, np.ndarray | float | np.floating) and np.asarray(a).dtype.kind == "f"]


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
        return (f"max abs error {err.max():.3g} at element {tuple(int(j) for j in k)} "
                f"(analytic {a[k]:.8g}, numeric {n[k]:.8g}; atol={atol}, rtol={rtol})")
    return None


def _describe(args: tuple, params: dict) -> str:
    shapes = ", ".join(str(np.shape(a)) for a in args)
    extra = f" {params}" if params else ""
    return f"inputs of shapes [{shapes}]{extra}"


def _vjp(prim: type[Primitive], args: tuple, params: dict, fl: list[int], u: np.ndarray,
         create_graph: bool = False) -> tuple[list[Any], list[Tensor]]:
    ts = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) if i in fl else a
          for i, a in enumerate(args)]
    out = apply(prim, *ts, **params)
    xs = [ts[i] for i in fl]
    if not out.requires_grad:
        return [None] * len(fl), xs
    return _backward([out], [u], create_graph=create_graph, inputs=xs), xs


def _check_sample(prim: type[Primitive], check: str, args: tuple, params: dict,
                  rng: np.random.Generator) -> str | None:
    fl = _float_args(args)
    if not fl:
        return None

    def f(*ts: Any) -> Any:
        return apply(prim, *ts, **params)

    out = apply(prim, *[np.asarray(a, dtype=np.float64) if i in fl else a
                        for i, a in enumerate(args)], **params)
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
        ts = [Tensor(np.array(a, dtype=np.float64)) if i in fl else a
              for i, a in enumerate(args)]
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
        rhs = sum(float(np.sum(g.data * vs[i])) for g, i in zip(grads, fl, strict=True)
                  if g is not None)
        scale = float(np.sum(np.abs(u * jv))) + sum(
            float(np.sum(np.abs(g.data * vs[i]))) for g, i in zip(grads, fl, strict=True)
            if g is not None) + 1e-300
        if abs(lhs - rhs) > ADJOINT_RTOL * scale:
            return (f"JVP and VJP are not adjoint: <u, J v> = {lhs:.12g} but "
                    f"<J^T u, v> = {rhs:.12g}")
        return None
    if check == "second":
        ws = {i: rng.normal(size=np.shape(args[i])) for i in fl}

        def s_value(*xs: np.ndarray) -> float:
            full = list(args)
            for i, x in zip(fl, xs, strict=True):
                full[i] = x
            grads, _ = _vjp(prim, tuple(full), params, fl, u)
            return sum(float(np.sum(g.data * ws[i])) for g, i in zip(grads, fl, strict=True)
                       if g is not None)

        grads, xs = _vjp(prim, args, params, fl, u, create_graph=True)
        terms = [(g * ws[i]).sum() for g, i in zip(grads, fl, strict=True)
                 if g is not None and g.requires_grad]
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
                return (f"second derivative (gradient of <w, VJP> for argument {i}) "
                        f"disagrees with finite differences: {msg}")
        return None
    raise ValueError(f"unknown check {check!r}; known: {CHECKS}")


def _run(prim: type[Primitive], check: str, seed: int) -> list[SweepFailure]:
    rng = np.random.default_rng(seed)
    name = prim.name
    if check == "nondiff":
        fails = []
        for k, args in enumerate(_nondiff_inputs(prim, rng)):
            ts = [Tensor(a, requires_grad=True) if np.asarray(a).dtype.kind == "f" else a
                  for a in args]
            out = apply(prim, *ts)
            if out.requires_grad:
                fails.append(SweepFailure(name, check, "a non-differentiable primitive "
                                          "returned an output that requires grad", k))
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


def sweep(ops: Iterable[str | type[Primitive]] | None = None,
          checks: Sequence[str] = CHECKS, seed: int = 0,
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
        raise ValueError(f"unknown check(s) {sorted(unknown)}; known: {CHECKS}")
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
