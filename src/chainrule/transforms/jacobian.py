"""Full Jacobians and Hessians, with an automatic choice between forward and reverse mode.

Shape convention
----------------
For ``y = f(x)`` the Jacobian has shape ``y.shape + x.shape``: ``J[i..., j...] =
∂y[i...]/∂x[j...]``. Reshaped to a matrix, ``J.reshape(y.size, x.size)`` is ``∂vec(y)/
∂vec(x)`` where ``vec`` flattens in **row-major** (C) order, NumPy's ``.reshape(-1)``: for a
weight matrix ``W`` of shape ``(m, n)``, ``vec(W)[i*n + j] = W[i, j]``. (Textbooks often use
the column-major ``vec``; their Kronecker-product formulas then change order, e.g.
``∂vec(Wx)/∂vec(W) = xᵀ ⊗ I`` column-major becomes ``I ⊗ xᵀ`` row-major.) For a scalar
output the Jacobian has shape ``x.shape``: it is exactly the gradient, shaped like the input
as everywhere in chainrule. Row ``i`` of the matrix is the gradient of ``vec(y)[i]``.

Cost and mode choice
--------------------
Reverse mode builds the Jacobian row by row (one vector-Jacobian product per output
element), forward mode column by column (one Jacobian-vector product per input element).
``mode="auto"`` picks the mode needing fewer products: forward when the inputs have fewer
elements than the outputs, reverse otherwise, and reports what it did (a
:class:`JacobianInfo`, also logged on the ``chainrule.transforms`` logger at INFO level).

Batching
--------
When every operation on the way has a *batched rule* (all built-in primitives do: the
``jvp_batched``/``vjp_batched`` attributes described in :mod:`chainrule.core.primitive`),
the products are not run one by one: an identity matrix is pushed through the recorded
graph as one batch of tangents (forward) or cotangents (reverse), so the whole Jacobian
costs a single pass of matrix-sized operations (``vectorize=False`` turns this off). A
graph with an operation that has no batched rule (a user :class:`~chainrule.Operation`, a
primitive defined outside chainrule) falls back to separate passes, still correct. Very large
Jacobians are computed in chunks of rows or columns so that memory stays bounded.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Tensor, active_levels, enable_grad, is_grad_enabled
from ..core.engine import backward as _engine_backward
from ..core.errors import ChainruleError
from .batching import Unbatchable, batched_jvp, batched_vjp, dependent_nodes, has_external
from .forward import jvp as _jvp
from .reverse import alias, as_outputs, grad, is_live, normalize_argnums

if TYPE_CHECKING:
    from ..core.graph import Node

__all__ = ["JacobianInfo", "hessian", "jacobian"]

logger = logging.getLogger("chainrule.transforms")

_MODES = ("auto", "fwd", "rev")
# Elements of batched tangents alive at once, over all nodes (2**24 float64 = 128 MiB).
_BUDGET = 1 << 24


@dataclass
class JacobianInfo:
    """What a :func:`jacobian` call did.

    Attributes
    ----------
    requested : str
        The ``mode`` argument ("auto", "fwd" or "rev").
    mode : str
        The mode used: "fwd" (columns by Jacobian-vector products) or "rev" (rows by
        vector-Jacobian products).
    n_in, n_out : int
        Total number of input and output elements.
    passes : int
        Passes over the graph: 1 per batch when batched, 1 per row/column otherwise.
    batched : bool
        Whether identity batches were pushed through (see the module docstring).
    reason : str
        Why this mode and this way, in words.
    """

    requested: str
    mode: str
    n_in: int
    n_out: int
    passes: int
    batched: bool
    reason: str

    def __str__(self) -> str:
        how = ("batched pass" if self.batched else "pass") + ("es" if self.passes != 1 else "")
        kind = "JVPs (columns)" if self.mode == "fwd" else "VJPs (rows)"
        return (
            f"jacobian: mode={self.requested!r} used {self.mode!r} ({kind}) for "
            f"{self.n_in} input -> {self.n_out} output elements: {self.passes} {how}; "
            f"{self.reason}"
        )


# ---------------------------------------------------------------------- jacobian
def _identity_rows(start: int, stop: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    n = math.prod(shape)
    e = np.zeros((stop - start, n), dtype=dtype)
    e[np.arange(stop - start), np.arange(start, stop)] = 1
    return e.reshape((stop - start,) + shape)


def _choose(requested: str, n_in: int, n_out: int) -> tuple[str, str]:
    if requested == "fwd":
        return "fwd", "mode='fwd' requested"
    if requested == "rev":
        return "rev", "mode='rev' requested"
    if n_in < n_out:
        return "fwd", (
            f"auto chose 'fwd' because {n_in} input elements < {n_out} output "
            f"elements (one JVP per input element)"
        )
    return "rev", (
        f"auto chose 'rev' because {n_out} output elements <= {n_in} input "
        f"elements (one VJP per output element)"
    )


def _chunk(
    chunk_size: int | None, nodes: Sequence[Node], xs: Sequence[Tensor], outs: Sequence[Tensor]
) -> int:
    if chunk_size is not None:
        return max(1, int(chunk_size))
    per_item = (
        sum(n.value.size for n in nodes)
        + sum(x.data.size for x in xs)
        + sum(o.data.size for o in outs)
    )
    return max(1, _BUDGET // max(per_item, 1))


def _fast_rev(
    nodes: Sequence[Node], outs: Sequence[Tensor], xs: Sequence[Tensor], chunk: int
) -> tuple[list[list[np.ndarray]], int]:
    blocks = []
    passes = 0
    for o in outs:
        row: list[list[np.ndarray]] = [[] for _ in xs]
        if o.requires_grad:
            for start in range(0, o.data.size, chunk):
                stop = min(start + chunk, o.data.size)
                seed = _identity_rows(start, stop, o.shape, o.data.dtype)
                gs = batched_vjp(nodes, o, xs, seed)
                passes += 1
                for k, (x, g) in enumerate(zip(xs, gs, strict=True)):
                    row[k].append(
                        g
                        if g is not None
                        else np.zeros((stop - start,) + x.shape, dtype=x.data.dtype)
                    )
        blocks.append([_assemble_rows(parts, o, x) for parts, x in zip(row, xs, strict=True)])
    return blocks, passes


def _assemble_rows(parts: list[np.ndarray], o: Tensor, x: Tensor) -> np.ndarray:
    if not parts:
        return np.zeros(o.shape + x.shape, dtype=np.result_type(o.data, x.data))
    rows = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    return np.ascontiguousarray(rows).reshape(o.shape + x.shape)


def _fast_fwd(
    nodes: Sequence[Node], outs: Sequence[Tensor], xs: Sequence[Tensor], chunk: int
) -> tuple[list[list[np.ndarray]], int]:
    cols: list[list[list[np.ndarray]]] = [[[] for _ in xs] for _ in outs]
    passes = 0
    for k, x in enumerate(xs):
        for start in range(0, x.data.size, chunk):
            stop = min(start + chunk, x.data.size)
            seeds: list[Any] = [None] * len(xs)
            seeds[k] = _identity_rows(start, stop, x.shape, x.data.dtype)
            ts = batched_jvp(nodes, outs, xs, seeds)
            passes += 1
            for j, (o, t) in enumerate(zip(outs, ts, strict=True)):
                cols[j][k].append(
                    t if t is not None else np.zeros((stop - start,) + o.shape, dtype=o.data.dtype)
                )
    blocks = []
    for j, o in enumerate(outs):
        row = []
        for k, x in enumerate(xs):
            parts = cols[j][k]
            if not parts:  # an empty input
                row.append(np.zeros(o.shape + x.shape, dtype=o.data.dtype))
                continue
            t = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
            # t[c, i...] = ∂o[i...]/∂x_flat[c]: move the column axis last
            row.append(
                np.ascontiguousarray(t.reshape(x.data.size, o.data.size).T).reshape(
                    o.shape + x.shape
                )
            )
        blocks.append(row)
    return blocks, passes


def _loop_rev(
    outs: Sequence[Tensor], xs: Sequence[Tensor], create_graph: bool
) -> tuple[list[list[Any]], int]:
    from ..ops.shape import reshape, stack

    blocks = []
    passes = 0
    for o in outs:
        rows: list[list[Any]] = [[] for _ in xs]
        if o.requires_grad:
            for i in range(o.data.size):
                e = np.zeros(o.data.size, dtype=o.data.dtype)
                e[i] = 1
                gs = _engine_backward(
                    [o],
                    [e.reshape(o.shape)],
                    retain_graph=True,
                    create_graph=create_graph,
                    inputs=xs,
                )
                passes += 1
                # gs is a list: backward returns one when `inputs` is given
                for k, (x, g) in enumerate(zip(xs, gs, strict=True)):  # type: ignore[arg-type]
                    if g is None:
                        g = Tensor._wrap(np.zeros(x.shape, dtype=x.data.dtype))
                    rows[k].append(g)
        row = []
        for k, x in enumerate(xs):
            if not rows[k]:
                row.append(Tensor._wrap(np.zeros(o.shape + x.shape, dtype=x.data.dtype)))
            elif create_graph:
                row.append(reshape(stack(rows[k]), o.shape + x.shape))
            else:
                row.append(
                    Tensor._wrap(np.stack([g.data for g in rows[k]]).reshape(o.shape + x.shape))
                )
        blocks.append(row)
    return blocks, passes


def _loop_fwd(
    f: Callable[..., Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    nums: Sequence[int],
    outs: Sequence[Tensor],
    composable: bool,
) -> tuple[list[list[Any]], int]:
    from ..ops.shape import reshape, stack

    primals = [args[i] for i in nums]
    shapes = [np.shape(p.data if isinstance(p, Tensor) else p) for p in primals]

    def g(*ps: Any) -> Any:
        full = list(args)
        for i, p in zip(nums, ps, strict=True):
            full[i] = p
        return f(*full, **kwargs)

    cols: list[list[list[Any]]] = [[[] for _ in nums] for _ in outs]
    passes = 0
    for k, shape in enumerate(shapes):
        dtype = np.asarray(primals[k].data if isinstance(primals[k], Tensor) else primals[k]).dtype
        for c in range(math.prod(shape)):
            e = np.zeros(math.prod(shape), dtype=dtype)
            e[c] = 1
            tangents: list[Any] = [None] * len(nums)
            tangents[k] = e.reshape(shape)
            _, tans = _jvp(g, primals, tangents)
            passes += 1
            tans = tans if isinstance(tans, tuple) else (tans,)
            for j, t in enumerate(tans):
                cols[j][k].append(t)
    blocks = []
    m: Any  # a Tensor (composable) or an array
    for j, o in enumerate(outs):
        row = []
        for k, shape in enumerate(shapes):
            n = math.prod(shape)
            if composable:
                m = stack(cols[j][k]) if n else None
                if m is None:
                    row.append(Tensor._wrap(np.zeros(o.shape + shape, dtype=o.data.dtype)))
                    continue
                row.append(reshape(reshape(m, (n, o.data.size)).T, o.shape + shape))
            else:
                m = (
                    np.stack([t.data for t in cols[j][k]])
                    if n
                    else np.zeros((0,) + o.shape, dtype=o.data.dtype)
                )
                row.append(
                    Tensor._wrap(
                        np.ascontiguousarray(m.reshape(n, o.data.size).T).reshape(o.shape + shape)
                    )
                )
        blocks.append(row)
    return blocks, passes


def jacobian(
    f: Callable[..., Any],
    argnums: int | Sequence[int] = 0,
    *,
    mode: str = "auto",
    vectorize: bool = True,
    chunk_size: int | None = None,
    return_info: bool = False,
    report: bool | Callable[[JacobianInfo], Any] = False,
) -> Callable[..., Any]:
    """The Jacobian of ``f`` with respect to the arguments in ``argnums``, as a function.

    Parameters
    ----------
    f : callable
        Takes Tensors, returns a Tensor (or a tuple of Tensors).
    argnums : int or tuple of int
        Which positional arguments to differentiate with respect to.
    mode : {"auto", "fwd", "rev"}
        "rev" builds rows with vector-Jacobian products, "fwd" columns with Jacobian-vector
        products, "auto" whichever needs fewer (see the module docstring).
    vectorize : bool
        Push identity batches through the graph in one pass where every op allows it.
    chunk_size : int, optional
        Rows/columns per batched pass (default: as many as fit a fixed memory budget).
    return_info : bool
        Return ``(J, info)`` with a :class:`JacobianInfo` instead of ``J``.
    report : bool or callable
        ``True`` prints the :class:`JacobianInfo` of each call; a callable receives it.
        (Each call's info is also logged at INFO level on the ``chainrule.transforms``
        logger, and kept as the attribute ``last_info`` of the returned function.)

    Returns
    -------
    callable
        Same arguments as ``f``. Returns ``J`` of shape ``out.shape + x.shape`` (a Tensor);
        a tuple over arguments when ``argnums`` is a tuple, over outputs when ``f`` returns
        a tuple (outputs outer, arguments inner).

    Notes
    -----
    The result is differentiable (recorded) when an argument is being differentiated from
    outside, a forward-mode level is active, or the function uses other tensors that
    require grad (e.g. model parameters) while grad mode is on: then the rows/columns are
    computed one by one with recorded passes. Otherwise (and always under ``no_grad()``)
    it is a constant Tensor, computed in batched passes.

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.transforms import jacobian
    >>> W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> jac = jacobian(lambda x: cr.matmul(W, x), return_info=True)
    >>> J, info = jac(cr.Tensor([1.0, 1.0]))
    >>> np.array_equal(J.data, W), info.mode, info.passes
    (True, 'fwd', 1)
    """
    if mode not in _MODES:
        raise ChainruleError(f"jacobian: mode must be one of {_MODES}, got {mode!r}")

    @functools.wraps(f)
    def jac_fn(*args: Any, **kwargs: Any) -> Any:
        nums = normalize_argnums(argnums, len(args), "jacobian")
        recording = is_grad_enabled()
        nested = any(is_live(a) for a in args) or bool(active_levels())
        xs = [alias(args[i], "jacobian", requires_grad=True) for i in nums]
        full = list(args)
        for i, x in zip(nums, xs, strict=True):
            full[i] = x
        with enable_grad():
            res = f(*full, **kwargs)
            outs, single_out = as_outputs(res, "jacobian")
            n_in = sum(x.data.size for x in xs)
            n_out = sum(o.data.size for o in outs)
            chosen, reason = _choose(mode, n_in, n_out)
            live = [o for o in outs if o.requires_grad]
            nodes = dependent_nodes(live, xs) if live else []
            composable = nested or (recording and has_external(nodes, xs))
            batched = False
            if composable:
                reason += (
                    "; computed one by one with recorded passes so the result stays differentiable"
                )
                if chosen == "rev":
                    blocks, passes = _loop_rev(outs, xs, create_graph=True)
                else:
                    blocks, passes = _loop_fwd(f, args, kwargs, nums, outs, composable=True)
            else:
                blocks = None
                if vectorize:
                    chunk = _chunk(chunk_size, nodes, xs, outs)
                    try:
                        if chosen == "rev":
                            arrays, passes = _fast_rev(nodes, outs, xs, chunk)
                        else:
                            arrays, passes = _fast_fwd(nodes, outs, xs, chunk)
                        blocks = [[Tensor._wrap(a) for a in row] for row in arrays]
                        batched = True
                        reason += "; identity batches pushed through the graph"
                    except Unbatchable as exc:
                        reason += f"; not batched ({exc}), so one pass per " + (
                            "row" if chosen == "rev" else "column"
                        )
                else:
                    reason += "; vectorize=False, so one pass per " + (
                        "row" if chosen == "rev" else "column"
                    )
                if blocks is None:
                    if chosen == "rev":
                        blocks, passes = _loop_rev(outs, xs, create_graph=False)
                    else:
                        blocks, passes = _loop_fwd(f, args, kwargs, nums, outs, composable=False)
        info = JacobianInfo(mode, chosen, n_in, n_out, passes, batched, reason)
        jac_fn.last_info = info  # type: ignore[attr-defined]  # a function attribute
        logger.info("%s", info)
        if report is True:
            print(info)
        elif callable(report):
            report(info)
        single_arg = isinstance(argnums, int | np.integer)
        # every branch above has filled blocks
        per_out = [row[0] if single_arg else tuple(row) for row in blocks]  # type: ignore[union-attr]
        result = per_out[0] if single_out else tuple(per_out)
        return (result, info) if return_info else result

    jac_fn.last_info = None  # type: ignore[attr-defined]
    return jac_fn


def hessian(
    f: Callable[..., Any],
    argnums: int | Sequence[int] = 0,
    *,
    mode: str = "fwd",
    **jacobian_options: Any,
) -> Callable[..., Any]:
    """The Hessian of a scalar function: the Jacobian of its gradient.

    Parameters
    ----------
    f : callable
        Returns a one-element Tensor.
    argnums : int or tuple of int
        With a tuple, the result is a nested tuple of blocks ``H[i][j] = ∂²f/∂xi∂xj``.
    mode : {"fwd", "rev", "auto"}
        How the Jacobian of the gradient is built: "fwd" is forward-over-reverse (the usual
        choice; JVPs pushed through the recorded backward pass), "rev" reverse-over-reverse.
    **jacobian_options
        Passed to :func:`jacobian` (``vectorize``, ``chunk_size``, ``return_info``, ...).

    Returns
    -------
    callable
        Returns ``H`` of shape ``x.shape + x.shape``.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.transforms import hessian
    >>> f = lambda x: (x[0] ** 2) * x[1]
    >>> hessian(f)(cr.Tensor([1.0, 3.0]))
    Tensor([[6., 2.],
            [2., 0.]])
    """
    return jacobian(grad(f, argnums), argnums, mode=mode, **jacobian_options)
