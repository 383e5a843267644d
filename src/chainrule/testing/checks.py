"""Check derivative rules: of one operation (:func:`check_operation`), or of every node of
a recorded graph (:func:`check_graph`), against finite differences.

Finite differences are always taken in float64 on copies of the values. Analytic rules
run in the dtype the program used, so a float32 node is compared with looser tolerances
(float32 rounding, not the rule, limits the agreement there). Errors are measured per
argument as ``max |analytic - numeric|`` and relative to ``max |numeric|``; an argument
fails when ``max abs error > atol + rtol * max |numeric|``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import Primitive, Tensor, apply, no_grad, raw_mode
from ..core.dispatch import format_frame
from ..core.engine import backward as _backward
from ..core.engine import sum_to_shape
from ..core.errors import ChainruleError
from ..core.forward import forward_level
from ..core.graph import Node, walk
from .gradcheck import GradcheckError

__all__ = [
    "ArgCheck",
    "GraphCheckResult",
    "NodeCheck",
    "OperationCheckResult",
    "check_graph",
    "check_operation",
    "default_tolerances",
]

# (eps, atol, rtol) by the lowest floating precision involved
_TOLERANCES = {
    np.dtype(np.float64): (1e-6, 1e-6, 1e-5),
    np.dtype(np.float32): (1e-6, 1e-4, 1e-3),
    np.dtype(np.float16): (1e-6, 1e-2, 5e-2),
}


def default_tolerances(dtype: Any) -> tuple[float, float, float]:
    """``(eps, atol, rtol)`` used for values of ``dtype`` (float64, float32, float16).

    Examples
    --------
    >>> from chainrule.testing import default_tolerances
    >>> default_tolerances("float32")
    (1e-06, 0.0001, 0.001)
    """
    dt = np.dtype(dtype)
    if dt in _TOLERANCES:
        return _TOLERANCES[dt]
    return (
        _TOLERANCES[np.dtype(np.float64)] if dt.itemsize >= 8 else _TOLERANCES[np.dtype(np.float16)]
    )


def _measure(analytic: np.ndarray, numeric: np.ndarray) -> tuple[float, float]:
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        return float("inf"), float("inf")
    err = float(np.max(np.abs(a - n))) if a.size else 0.0
    scale = float(np.max(np.abs(n))) if n.size else 0.0
    return err, err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))


# ====================================================================== check_operation
@dataclass
class ArgCheck:
    """One comparison for one argument."""

    check: str  # "vjp", "jvp" or "adjoint"
    arg: int
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""

    def __str__(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        what = {
            "vjp": "backward vs finite differences",
            "jvp": "jvp vs finite differences",
            "adjoint": "<u, J v> vs <J^T u, v>",
        }[self.check]
        return (
            f"  {status} argument {self.arg}: {what}: max abs error {self.max_abs:.3g}, "
            f"max rel error {self.max_rel:.3g}{self.note}"
        )


@dataclass
class OperationCheckResult:
    """The outcome of :func:`check_operation`; ``str()`` gives a readable report."""

    name: str
    checks: list[ArgCheck]
    atol: float
    rtol: float
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[ArgCheck]:
        return [c for c in self.checks if not c.ok]

    def raise_if_failed(self) -> None:
        """Raise :class:`~chainrule.testing.GradcheckError` with this report if any failed."""
        if not self.ok:
            raise GradcheckError(str(self))

    def __str__(self) -> str:
        head = (
            f"check_operation({self.name!r}): "
            f"{'all checks pass' if self.ok else f'{len(self.failures)} check(s) FAIL'} "
            f"(atol={self.atol:g}, rtol={self.rtol:g})"
        )
        return "\n".join(
            [head, *(str(c) for c in self.checks), *(f"  skipped: {s}" for s in self.skipped)]
        )


def _callable_for(op: Any, params: dict) -> tuple[Callable[..., Any], str]:
    if isinstance(op, type) and issubclass(op, Primitive):
        return (lambda *ts: apply(op, *ts, **params)), op.name
    if callable(op):
        name = getattr(op, "op_name", None)
        name = name() if callable(name) else getattr(op, "__name__", type(op).__name__)
        return op, name
    raise ChainruleError(
        f"check_operation: expected an Operation, a Primitive subclass or a "
        f"function of Tensors, got {type(op).__name__}"
    )


def check_operation(
    op: Any,
    *example_inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
    params: dict | None = None,
) -> OperationCheckResult:
    """Check an operation's backward and jvp against finite differences and each other.

    Parameters
    ----------
    op : Operation, Primitive subclass, or callable
        What to check: a :class:`chainrule.Operation` instance, a primitive class (called
        with ``params``), or any function of Tensors returning a Tensor.
    *example_inputs : array_like
        Where to check. Floating inputs are converted to float64 copies; others (indices)
        are passed unchanged.
    eps, atol, rtol : float
        Difference step and tolerances (float64; see the module docstring).
    seed : int
        Seed of the random cotangent ``u`` and directions ``v``.
    params : dict, optional
        Keyword parameters for a primitive class.

    Returns
    -------
    OperationCheckResult
        Per argument: backward vs differences, jvp vs differences and the adjoint identity
        ⟨u, J v⟩ = ⟨Jᵀu, v⟩. ``.ok`` says whether all passed; ``str()`` says which argument
        disagrees and by how much. An operation without ``jvp`` has those checks skipped.

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.testing import check_operation
    >>> class Square(cr.Operation):
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x * x
    ...     def backward(self, g):
    ...         return (2 * self.x * g,)
    ...     def jvp(self, t):
    ...         return 2 * self.x * t
    >>> check_operation(Square(), np.array([1.0, -2.0])).ok
    True
    """
    from .gradcheck import numeric_jvp, numeric_vjp

    fn, name = _callable_for(op, params or {})
    rng = np.random.default_rng(seed)
    args = [np.array(a.data if isinstance(a, Tensor) else a) for a in example_inputs]
    fl = [i for i, a in enumerate(args) if a.dtype.kind == "f"]
    args = [a.astype(np.float64) if i in fl else a for i, a in enumerate(args)]
    ts = [
        Tensor(a.copy(), requires_grad=True) if i in fl else Tensor(a) for i, a in enumerate(args)
    ]
    out = fn(*ts)
    if not isinstance(out, Tensor):
        raise ChainruleError(f"check_operation: {name} must return a Tensor")
    u = rng.normal(size=out.shape)
    checks: list[ArgCheck] = []
    skipped: list[str] = []
    grads: list[Any] = [None] * len(fl)
    if out.requires_grad:
        grads = _backward([out], [u], inputs=[ts[i] for i in fl])
    numeric = numeric_vjp(fn, args, u, eps=eps)
    vjps = {}
    for k, i in enumerate(fl):
        g = np.zeros(args[i].shape) if grads[k] is None else grads[k].data
        vjps[i] = g
        err, rel = _measure(g, numeric[i])
        checks.append(ArgCheck("vjp", i, err, rel, err <= atol + rtol * _scale(numeric[i])))
    for i in fl:
        v = rng.normal(size=args[i].shape)
        xs = [Tensor(a.copy()) for a in args]
        try:
            with forward_level() as level:
                level.seed(xs[i], v)
                o = fn(*xs)
                tan = level.tangent(o)
        except ChainruleError as exc:
            skipped.append(f"jvp for argument {i} ({exc})")
            continue
        jv = np.zeros(o.shape) if tan is None else tan.data
        tangents = [v if j == i else None for j in range(len(args))]
        num = numeric_jvp(fn, args, tangents, eps=eps)
        err, rel = _measure(jv, num)
        checks.append(ArgCheck("jvp", i, err, rel, err <= atol + rtol * _scale(num)))
        lhs = float(np.sum(u * jv))
        rhs = float(np.sum(vjps[i] * v))
        scale = float(np.sum(np.abs(u * jv))) + float(np.sum(np.abs(vjps[i] * v)))
        diff = abs(lhs - rhs)
        checks.append(
            ArgCheck(
                "adjoint",
                i,
                diff,
                diff / scale if scale else 0.0,
                diff <= 1e-8 * scale + 1e-12,
                note=f" (<u, J v> = {lhs:.10g}, <J^T u, v> = {rhs:.10g})",
            )
        )
    return OperationCheckResult(name, checks, atol, rtol, skipped)


def _scale(n: np.ndarray) -> float:
    return float(np.max(np.abs(n))) if np.size(n) else 0.0


# ====================================================================== check_graph
@dataclass
class NodeCheck:
    """The check of one node's VJP rule, for one argument."""

    index: int  # position of the node in creation order (0 = first)
    op: str
    arg: int
    shape: tuple[int, ...]
    dtype: str
    max_abs: float
    max_rel: float
    tol: float
    ok: bool
    source: tuple[str, int, str] | None = None
    custom: bool = False
    error: str | None = None  # the rule raised instead of returning

    @property
    def where(self) -> str:
        if self.source is None:
            return "an unrecorded line (build the graph under chainrule.record_source())"
        return format_frame(self.source)

    def __str__(self) -> str:
        kind = "custom operation" if self.custom else "op"
        head = f"node {self.index}, {kind} {self.op!r} created at {self.where}"
        if self.error:
            return f"{head}: its VJP rule for argument {self.arg} raised {self.error}"
        return (
            f"{head}: VJP for argument {self.arg} (shape {self.shape}, {self.dtype}) "
            f"disagrees with finite differences: max abs error {self.max_abs:.3g}, "
            f"max rel error {self.max_rel:.3g} (allowed {self.tol:.3g})"
        )


@dataclass
class GraphCheckResult:
    """The outcome of :func:`check_graph`: the first failing node, or that all passed."""

    n_nodes: int
    n_checked: int
    mode: str
    failure: NodeCheck | None
    checks: list[NodeCheck]

    @property
    def ok(self) -> bool:
        return self.failure is None

    def raise_if_failed(self) -> None:
        """Raise :class:`~chainrule.testing.GradcheckError` with this report if a node failed."""
        if not self.ok:
            raise GradcheckError(str(self))

    def __str__(self) -> str:
        if self.ok:
            return (
                f"check_graph: all {self.n_checked} checked node(s) pass "
                f"({self.n_nodes} in the graph, mode={self.mode!r})"
            )
        return (
            f"check_graph: FIRST FAILING NODE (mode={self.mode!r}, "
            f"{self.n_checked} of {self.n_nodes} nodes checked):\n  {self.failure}"
        )


def _node_vjp(n: Node, vals: list, i: int, u: np.ndarray) -> Any:
    """The node's own rule for argument i, as the engine would run it (first order)."""
    gi = n.vjp(i, u)
    if gi is None:
        return None
    gi = np.asarray(gi)
    shape = np.shape(vals[i])
    if gi.shape != shape and n.op.broadcasts:
        gi = sum_to_shape(gi, shape)
    return gi


def check_graph(
    output: Tensor,
    *,
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    mode: str = "full",
    seed: int = 0,
    stop_at_first: bool = True,
) -> GraphCheckResult:
    """Check the VJP rule of every node of a recorded graph at its recorded inputs.

    Walks the graph that produced ``output`` in creation order and, for each node and each
    of its inputs that requires grad, compares the node's VJP rule (run exactly as
    ``backward`` would, in the node's dtype) with centered differences of the node's
    forward function (float64, on copies). Reports the first node that fails, with the
    line of your code that created it when the graph was built under
    :func:`chainrule.record_source` (or ``detect_anomaly``).

    The graph must still hold its saved values: call ``check_graph`` *before*
    ``backward()``, or after ``backward(retain_graph=True)``.

    Parameters
    ----------
    output : Tensor
        A tensor produced by recorded operations.
    eps, atol, rtol : float, optional
        Difference step and tolerances; by default chosen per node from its dtype (see
        :func:`default_tolerances`): float32 nodes are compared more loosely.
    mode : {"full", "directional"}
        "full" differentiates every input element (two forward evaluations of the node per
        element); "directional" projects both sides on one random direction per argument
        (⟨Jᵀu, v⟩ vs ⟨u, (f(x+εv) - f(x-εv))/2ε⟩), two evaluations per argument, for large
        nodes.
    seed : int
        Seed of the random cotangents and directions.
    stop_at_first : bool
        Stop at the first failing node (default); otherwise check all and report the first.

    Returns
    -------
    GraphCheckResult
        ``.ok``, ``.failure`` (a :class:`NodeCheck`) and a readable ``str()``.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.testing import check_graph
    >>> x = cr.Tensor([0.5, -1.0], requires_grad=True)
    >>> y = (cr.tanh(x) * x).sum()
    >>> print(check_graph(y))
    check_graph: all 3 checked node(s) pass (3 in the graph, mode='full')
    """
    if mode not in ("full", "directional"):
        raise ChainruleError(f"check_graph: mode must be 'full' or 'directional', got {mode!r}")
    if not isinstance(output, Tensor) or output._op is None:
        raise ChainruleError(
            "check_graph: output must be a Tensor produced by recorded "
            "operations (inputs that require grad, grad mode on)"
        )
    nodes = walk([output], who="check_graph")
    rng = np.random.default_rng(seed)
    checks: list[NodeCheck] = []
    first: NodeCheck | None = None
    n_checked = 0
    for index, t in enumerate(nodes):
        ins = t.inputs
        targets = [
            i
            for i, a in enumerate(ins)
            if isinstance(a, Tensor) and a.requires_grad and a.data.dtype.kind == "f"
        ]
        if not targets:
            continue
        n_checked += 1
        for nc in _check_node(t, index, targets, eps, atol, rtol, mode, rng):
            checks.append(nc)
            if not nc.ok and first is None:
                first = nc
        if first is not None and stop_at_first:
            break
    return GraphCheckResult(len(nodes), n_checked, mode, first, checks)


def _check_node(
    t: Node,
    index: int,
    targets: list[int],
    eps: float | None,
    atol: float | None,
    rtol: float | None,
    mode: str,
    rng: np.random.Generator,
) -> list[NodeCheck]:
    op = t.op
    params = t.params
    vals = t.input_values()
    out_dtype = t.value.dtype
    float_dtypes = [np.asarray(v).dtype for v in vals if np.asarray(v).dtype.kind == "f"]
    lowest = min(
        [*float_dtypes, out_dtype] if out_dtype.kind == "f" else float_dtypes,
        key=lambda d: d.itemsize,
    )
    d_eps, d_atol, d_rtol = default_tolerances(lowest)
    eps = d_eps if eps is None else eps
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol

    hi_vals = [
        np.array(v, dtype=np.float64) if np.asarray(v).dtype.kind == "f" else v for v in vals
    ]

    def f64(*xs: Any) -> np.ndarray:
        with no_grad(), raw_mode():  # the bare forward: no recording, observers, tangents
            return np.asarray(op.forward(*xs, **params), dtype=np.float64)

    u = rng.normal(size=t.value.shape)
    u_node = u.astype(out_dtype) if out_dtype.kind == "f" else u
    results = []
    custom = bool(getattr(op, "is_custom", False))
    for i in targets:
        common = dict(
            index=index,
            op=op.name,
            arg=i,
            shape=tuple(np.shape(vals[i])),
            dtype=str(np.asarray(vals[i]).dtype),
            source=t.source,
            custom=custom,
        )
        try:
            gi = _node_vjp(t, vals, i, u_node)
        except Exception as exc:  # a crashing rule is the failing node
            results.append(
                NodeCheck(
                    max_abs=float("inf"),
                    max_rel=float("inf"),
                    tol=0.0,
                    ok=False,
                    error=f"{type(exc).__name__}: {exc}",
                    **common,
                )
            )
            continue
        analytic = np.zeros(np.shape(vals[i])) if gi is None else gi.astype(np.float64)
        if analytic.shape != np.shape(vals[i]):
            results.append(
                NodeCheck(
                    max_abs=float("inf"),
                    max_rel=float("inf"),
                    tol=0.0,
                    ok=False,
                    error=f"a gradient of shape {analytic.shape} "
                    f"for an input of shape {np.shape(vals[i])}",
                    **common,
                )
            )
            continue
        base = hi_vals[i]
        if mode == "full":
            numeric = np.zeros(base.shape)
            flat_num = numeric.reshape(-1)
            xs = list(hi_vals)
            work = base.copy()
            xs[i] = work
            flat = work.reshape(-1)
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + eps
                hi = float(np.sum(f64(*xs) * u))
                flat[j] = orig - eps
                lo = float(np.sum(f64(*xs) * u))
                flat[j] = orig
                flat_num[j] = (hi - lo) / (2 * eps)
            err, rel = _measure(analytic, numeric)
            tol = atol + rtol * _scale(numeric)
        else:
            v = rng.normal(size=base.shape)
            xs = list(hi_vals)
            xs[i] = base + eps * v
            hi = f64(*xs)
            xs[i] = base - eps * v
            lo = f64(*xs)
            numeric_s = float(np.sum(u * (hi - lo))) / (2 * eps)
            analytic_s = float(np.sum(analytic * v))
            err = abs(analytic_s - numeric_s)
            rel = err / abs(numeric_s) if numeric_s else (0.0 if err == 0 else float("inf"))
            # the projection sums many terms: scale the tolerance by their magnitude
            tol = atol * np.sqrt(base.size) + rtol * max(
                abs(numeric_s), float(np.sum(np.abs(analytic * v)))
            )
        results.append(NodeCheck(max_abs=err, max_rel=rel, tol=float(tol), ok=err <= tol, **common))
    return results
