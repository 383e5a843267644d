"""Indexing: getitem (basic slicing and integer-array indexing) and its adjoint scatter_add.

``x[idx]`` copies some elements out; its VJP puts the gradient back where they came from,
**adding** where an index repeats (``np.add.at``). That is exactly the embedding lookup:
a word used twice in a batch receives the sum of both gradients. ``scatter_add``'s own VJP
is getitem again, so the pair is closed under differentiation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, Tensor, apply
from ..core.errors import OpError
from ..core.lecture import Lecture
from ..core.sparse import RowSparse
from .shape import check_axis

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..core.typing import TensorLike


def normalize_index(index: Any) -> tuple:
    """A canonical index tuple: Tensors and lists become arrays, bool masks become integers."""
    if not isinstance(index, tuple):
        index = (index,)
    out: list[Any] = []
    for i in index:
        if isinstance(i, Tensor):
            i = i.data
        elif isinstance(i, list):
            try:
                i = np.asarray(i)
            except ValueError as exc:  # ragged nesting
                raise OpError(
                    f"getitem: the index list {i!r} does not form an array (its "
                    f"rows differ in length); index with an integer array of one "
                    f"shape, or with a tuple (one index per axis)"
                ) from exc
        if isinstance(i, np.ndarray):
            if i.dtype == np.bool_:
                out.extend(np.nonzero(i))  # a mask is shorthand for the indices it selects
                continue
            if i.dtype.kind not in "iu":
                raise OpError(
                    f"getitem: index arrays must hold integers or bools, got dtype "
                    f"{i.dtype}; convert them first (e.g. idx.astype(int))"
                )
        out.append(i)
    return tuple(out)


def _is_advanced(index: tuple) -> bool:
    return any(isinstance(i, np.ndarray) for i in index)


def _batch_index(index: tuple) -> tuple:
    """``index`` behind a full slice for the batch axis of a batched tangent/gradient."""
    # with an index array present, integers count as advanced indices too
    adv = [k for k, i in enumerate(index) if isinstance(i, np.ndarray | int | np.integer)]
    if _is_advanced(index) and adv != list(range(adv[0], adv[-1] + 1)):
        # separated advanced indices move their axes to the front, before the batch axis:
        # no batched rule for that (ValueError tells the transform to fall back)
        raise ValueError("getitem with advanced indices separated by slices")
    return (slice(None),) + tuple(index)


def _batch_scatter(src: np.ndarray, index: tuple, shape: tuple[int, ...]) -> np.ndarray:
    """Batched scatter_add: ``src`` of shape (B,)+out -> (B,)+shape."""
    bidx = _batch_index(index)
    z = np.zeros((src.shape[0],) + tuple(shape), dtype=src.dtype)
    if _is_advanced(index):
        np.add.at(z, bidx, src)
    else:
        z[bidx] = src
    return z


class GetItem(Primitive):
    """z = x[index]: the gradient is scattered (summed) back into x's shape."""

    name = "getitem"
    lecture = Lecture(
        "{0}[{index}]",
        ("{dz} scatter-added into zeros shaped like {0}",),
        symbol="[ ]",
        gate="getitem scatter-adds: the gradient goes back to the positions that "
        "were read (an index read twice receives the sum)",
    )
    views = True  # the output may share the input's memory (one version counter)

    def forward(x: Any, *, index: Any) -> Any:
        return x[index]

    vjp = (lambda g, out, x, *, index: scatter_add(g, index, x.shape),)
    jvp = (lambda t, out, x, *, index: getitem(t, index),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return tans[0][_batch_index(params["index"])]

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return _batch_scatter(g, params["index"], np.shape(args[0]))

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        yield (rng.normal(size=(5,)),), {"index": (slice(1, 4),)}
        yield (rng.normal(size=(4, 3)),), {"index": (1,)}
        yield (rng.normal(size=(4, 3)),), {"index": (slice(None), slice(0, 3, 2))}
        yield (rng.normal(size=(4, 3)),), {"index": (np.array([0, 2, 2, 3]),)}
        yield (rng.normal(size=(4, 3)),), {"index": (np.array([1, 1]), np.array([0, 2]))}
        yield (rng.normal(size=(2, 4, 3)),), {"index": (Ellipsis, np.array([[0, 1], [2, 2]]))}
        yield (rng.normal(size=(4, 3)),), {"index": (None, slice(None), 2)}
        yield (rng.normal(size=(6, 2)),), {"index": (np.array([[5, 0], [0, 5]]),)}


def getitem(x: TensorLike, index: Any) -> Tensor:
    """``x[index]``: slices, integers, None, Ellipsis, integer arrays and bool masks.

    Examples
    --------
    >>> import chainrule as cr
    >>> table = cr.Tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    >>> rows = table[[0, 2, 0]]        # an embedding lookup
    >>> rows.sum().backward()
    >>> table.grad                     # row 0 was used twice
    Tensor([[2., 2.],
            [0., 0.],
            [1., 1.]])
    """
    return apply(GetItem, x, index=normalize_index(index))


class ScatterAdd(Primitive):
    """z = zeros(shape); z[index] += g (repeated indices add up). Adjoint of getitem."""

    name = "scatter_add"
    lecture = Lecture("scatter_add({0}, [{index}], {shape})", ("{dz}[{index}]",), symbol="scatter+")

    def forward(g: Any, *, index: Any, shape: tuple[int, ...]) -> Any:
        z = np.zeros(shape, dtype=np.result_type(g))
        if _is_advanced(index):
            np.add.at(z, index, g)
        else:
            z[index] = g  # basic slicing never repeats an element: plain assignment
        return z

    vjp = (lambda g, out, src, *, index, shape: getitem(g, index),)
    jvp = (lambda t, out, src, *, index, shape: scatter_add(t, index, shape),)

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return _batch_scatter(tans[0], params["index"], params["shape"])

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        return g[_batch_index(params["index"])]

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        yield (rng.normal(size=(4, 3)),), {"index": (np.array([0, 2, 2, 4]),), "shape": (5, 3)}
        yield (rng.normal(size=(2,)),), {"index": (slice(1, 3),), "shape": (4,)}
        yield (
            (rng.normal(size=(2, 2)),),
            {"index": (np.array([1, 1]), slice(0, 2)), "shape": (3, 2)},
        )


def scatter_add(src: TensorLike, index: Any, shape: Sequence[int]) -> Tensor:
    """A zero tensor of ``shape`` with ``src`` added at ``index`` (repeats accumulate).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.scatter_add(cr.Tensor([1.0, 2.0, 3.0]), [0, 2, 0], (3,))
    Tensor([4., 0., 2.])
    """
    return apply(ScatterAdd, src, index=normalize_index(index), shape=tuple(shape))


def take(x: TensorLike, indices: TensorLike, axis: int = 0) -> Tensor:
    """Pick entries along ``axis`` by integer ``indices`` (``np.take``; index_select).

    Composed from getitem, so its gradient is a scatter-add.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.take(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), [1, 1], axis=1)
    Tensor([[2., 2.],
            [4., 4.]])
    """
    axis = check_axis(axis, np.ndim(x), "take")
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    return getitem(x, (slice(None),) * axis + (idx,))


def gather(x: TensorLike, indices: TensorLike, axis: int) -> Tensor:
    """``np.take_along_axis`` / ``torch.gather``: ``out[i][j] = x[i][indices[i][j]]`` on axis 1.

    ``indices`` has the same number of dimensions as ``x``; other axes broadcast.

    Examples
    --------
    >>> import chainrule as cr
    >>> scores = cr.Tensor([[0.1, 0.9], [0.8, 0.2]])
    >>> cr.gather(scores, [[1], [0]], axis=1)     # pick each row's target score
    Tensor([[0.9],
            [0.8]])
    """
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    nd = np.ndim(x)
    if idx.ndim != nd:
        raise OpError(
            f"gather: indices must have as many dimensions as x ({nd}), got shape {idx.shape}"
        )
    axis = check_axis(axis, nd, "gather")
    shape = np.shape(x)
    grids = []
    for d in range(nd):
        if d == axis:
            grids.append(idx)
        else:
            view = [1] * nd
            view[d] = idx.shape[d] if idx.shape[d] != 1 else shape[d]
            grids.append(np.arange(view[d]).reshape(view))
    return getitem(x, tuple(grids))


def all_classes(t: np.ndarray, n_classes: int) -> bool:
    """Whether every integer in ``t`` is a class index in [0, n_classes): one reduction,
    because a negative integer read as unsigned is larger than any class count."""
    if not t.size:
        return True
    u = t if t.dtype.kind == "u" else t.view(f"u{t.dtype.itemsize}")
    return bool(np.maximum.reduce(u, axis=None) < n_classes)


def check_indices(
    t: Any, n: int, who: str, what: str = "targets", ignore_index: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(t with ignored entries read as 0, the mask of the entries kept)``, the mask None
    when nothing is ignored; :class:`OpError` naming ``who`` for non-integers or for an
    index outside [0, n) other than ``ignore_index``. The one check of class labels and
    row ids, for the ops that read them (inside the op: compiled calls check too)."""
    t = np.asarray(t)
    if t.dtype.kind not in "iu":
        raise OpError(f"{who}: {what} must be integers, got dtype {t.dtype}")
    ok = all_classes(t, n)
    # an ignore_index outside [0, n) can only be met when some index is out of range: the
    # common case (every index valid) costs the one reduction above
    keep = None
    if ignore_index is not None and (not ok or 0 <= ignore_index < n):
        keep = t != ignore_index
        if keep.all():
            keep = None
        else:
            t = np.where(keep, t, 0)
            ok = ok or all_classes(t, n)
    if not ok:
        bad = t if keep is None else t[keep]
        raise OpError(
            f"{who}: {what} must lie in [0, {n}); got values from {bad.min()} to {bad.max()}"
        )
    return t, keep


class CheckedIndex(Primitive):
    """Integer indices, each checked to lie in [0, n): the labels a loss picks its target
    scores with, the ids of a table's rows.

    NumPy's indexing would read -1 as the last class or row. The check is an op, so it runs
    on every call of compiled code too, not only while the function is traced.
    """

    name = "checked_index"
    differentiable = False
    lecture = Lecture(
        "{0}, each checked to lie in [0, {n})",
        (None,),
        symbol="i",
        gate="an index check: every label or row id must name one of the n classes or rows",
    )

    def forward(
        t: Any,
        *,
        n: int,
        who: str,
        what: str = "targets",
        ignore_index: int | None = None,
        column: bool = False,
    ) -> Any:
        safe, _ = check_indices(t, n, who, what, ignore_index)  # ignored labels read 0
        return safe.reshape(-1, 1) if column else safe

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        yield (rng.integers(0, 4, 5),), {"n": 4, "who": "loss", "column": True}
        yield (rng.integers(0, 3, (2, 3)).astype(np.uint8),), {"n": 3, "who": "f", "what": "ids"}
        yield (np.array([2, -100, 0, 1]),), {"n": 3, "who": "loss", "ignore_index": -100}
        yield (np.array([2, 1, 0, 1]),), {"n": 3, "who": "loss", "ignore_index": 1, "column": True}


def class_targets(
    t: TensorLike, n_classes: int, who: str = "class_targets", ignore_index: int | None = None
) -> Tensor:
    """Integer labels ``t`` (N,) as an (N, 1) column, checked to lie in [0, n_classes).

    Labels equal to ``ignore_index`` become 0 (their rows must be weighted 0 by the
    caller). Raises :class:`~chainrule.OpError` naming ``who`` (the loss) for any other
    label outside the classes, on every call, compiled calls included.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ops.index.class_targets([2, 0], n_classes=3)
    Tensor([[2],
            [0]])
    """
    return apply(CheckedIndex, t, n=int(n_classes), who=who, ignore_index=ignore_index, column=True)


def checked_ids(ids: TensorLike, n: int, who: str = "checked_ids", what: str = "ids") -> Tensor:
    """Integer row ids (any shape), checked to lie in [0, n) on every call (compiled calls
    included): :class:`~chainrule.OpError` naming ``who`` otherwise, never NumPy's reading
    of -1 as the last row.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ops.index.checked_ids([[1, 0]], 2)
    Tensor([[1, 0]])
    """
    return apply(CheckedIndex, ids, n=int(n), who=who, what=what)


def _embedding_vjp(g: Any, out: Any, table: Any, *, ids: Any) -> Any:
    if isinstance(g, np.ndarray):
        # First-order pass: a row-sparse gradient, proportional to the batch, not the table.
        return RowSparse(ids, g, table.shape)
    return scatter_add(g, (ids,), table.shape)  # recorded pass: dense and differentiable


class Embedding(Primitive):
    """z = table[ids]: look up rows. The gradient is row-sparse (only rows in ``ids``)."""

    name = "embedding"
    lecture = Lecture(
        "{0}[{ids}]",
        ("{dz} added into the rows {ids} of {0} (row-sparse)",),
        symbol="lookup",
        gate="embedding lookup scatter-adds: each looked-up row receives the "
        "gradients of the positions that read it; other rows get nothing "
        "(a row-sparse gradient)",
    )

    def forward(table: Any, *, ids: Any) -> Any:
        check_indices(ids, table.shape[0], "embedding", "ids")  # (compiled calls check too)
        return table[ids]

    vjp = (_embedding_vjp,)
    jvp = (lambda t, out, table, *, ids: getitem(t, ids),)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        yield (rng.normal(size=(5, 3)),), {"ids": np.array([0, 4, 4, 1])}
        yield (rng.normal(size=(4, 2)),), {"ids": np.array([[1, 3], [1, 1]])}


def embedding(table: TensorLike, ids: TensorLike) -> Tensor:
    """Rows of ``table`` for integer ``ids`` (any shape): ``table[ids]``.

    Unlike ``table[ids]`` (getitem), the gradient that reaches a leaf ``table`` is a
    :class:`~chainrule.core.sparse.RowSparse` holding only the rows used, so that training
    cost does not grow with the vocabulary.

    Examples
    --------
    >>> import chainrule as cr
    >>> table = cr.Tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    >>> cr.embedding(table, [2, 2]).sum().backward()
    >>> table.grad
    RowSparse(shape=(3, 2), rows=2, dtype=float64)
    >>> table.grad.to_dense()[2]
    array([2., 2.])
    """
    ids = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
    return apply(Embedding, table, ids=ids)  # (the op checks them)
