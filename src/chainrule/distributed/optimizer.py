"""DistributedOptimizer: average every gradient across ranks, then step the wrapped optimiser.

Per :meth:`DistributedOptimizer.synchronize` (run by ``step()`` unless called first):

1. One small ``Allgather`` of a descriptor per rank: its weight (see below) and, per
   parameter, whether its gradient is missing, dense, or row-sparse with ``n`` rows.
2. Dense gradients are copied, each scaled by ``weight / total_weight``, into a few flat
   buckets (one dtype each, at most ``bucket_mb``) that are summed in place with
   ``Allreduce(IN_PLACE, SUM)``; every gradient becomes a view of its bucket. The
   buckets are kept and reused from step to step (a fresh 8 MB buffer costs page faults
   on every step: the 2-rank MLP step went from 37 to 28 ms), so a ``.grad`` kept from an
   earlier step is overwritten by the next synchronisation, as with PyTorch DDP's
   ``gradient_as_bucket_view``; copy it if you keep it.
3. Row-sparse gradients (``nn.Embedding(sparse=True)``) are exchanged as (rows, values)
   with two ``Allgatherv`` and concatenated in rank order: never densified, so the traffic
   is proportional to the rows the batch used, not to the vocabulary.

The weight makes the average exact when ranks see different numbers of examples: if each
rank's loss is the mean over its ``b_r`` examples, the mean over the global batch is
``Σ_r (b_r / B) · loss_r``, so its gradient is ``Σ_r (b_r / B) · g_r``. By default every
rank weighs 1 (the plain average, exact when all shards have the same size).

A parameter with a gradient on some ranks and none on others (an unused embedding on one
shard) gets zeros from the others; if any rank has a dense gradient for it, the row-sparse
ones are made dense for it.

With ``overlap=True``, step 2 starts during ``backward()``: a post-accumulate-grad hook per
parameter packs its gradient as soon as it is final and each full bucket starts an
``Iallreduce`` (see :class:`_Overlap`); ``synchronize`` then starts the rest, checks with
the descriptor that the step qualified (same weight everywhere, same dense parameters, one
backward pass) and waits, or discards the sums and takes the blocking path.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.core import ChainruleError, RowSparse, Tensor
from chainrule.optim import Optimizer

from ._backend import comm, world_size
from .collectives import check_parameters

__all__ = ["DistributedOptimizer"]

_NONE, _DENSE = -1.0, -2.0


def _check_every_default() -> int:
    value = os.environ.get("CHAINRULE_DIST_CHECK", "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise ChainruleError(f"CHAINRULE_DIST_CHECK must be a number of steps, got {value!r}")
    return int(value)


class DistributedOptimizer(Optimizer):
    """Wrap any chainrule optimiser for data-parallel training.

    It *is* an :class:`~chainrule.optim.Optimizer` (schedulers, ``state_dict``,
    ``zero_grad`` work on it) sharing the wrapped one's ``param_groups`` and ``state``;
    ``step()`` first averages the gradients over all ranks (:meth:`synchronize`), then runs
    the wrapped optimiser's step, so every rank takes the same step. In one process it is
    the wrapped optimiser.

    Parameters
    ----------
    optimizer : Optimizer
        Any chainrule optimiser (SGD, Adam, ... or your own subclass).
    bucket_mb : float
        Size limit of one dense bucket (one ``Allreduce`` each), in MiB.
    check_every : int, optional
        Debug mode: every this many steps, :func:`check_parameters` verifies that all ranks
        still hold bit-identical parameters. Default: ``$CHAINRULE_DIST_CHECK``, else 0 (off).
    overlap : bool
        Start reducing each bucket during ``backward()``, as soon as the gradients in it are
        final (a post-accumulate-grad hook per parameter packs it; ``Iallreduce``), instead
        of after it. Armed from the second step on, while every rank passes the same weight
        and the same parameters get dense gradients; any other step falls back to the
        blocking path, with the same result. With it, every backward pass must be followed
        by :meth:`synchronize` (or ``step()``) on every rank, and gradients are taken as
        ``backward()`` leaves them (modify them after :meth:`synchronize`). Default False:
        on a machine where the ranks share the cores and the memory (shared-memory MPI),
        the reduction is CPU work either way and overlap does not pay (see
        ``docs/distributed.md``); across machines the network does the work meanwhile.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> from chainrule.distributed import DistributedOptimizer
    >>> w = cr.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = DistributedOptimizer(optim.SGD([w], lr=0.1))
    >>> (w * w).sum().backward()
    >>> opt.step()                     # in one process: exactly SGD's step
    >>> w
    Tensor([ 0.8, -1.6], requires_grad=True)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        bucket_mb: float = 25.0,
        check_every: int | None = None,
        overlap: bool = False,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ChainruleError(
                f"DistributedOptimizer wraps a chainrule Optimizer, got {type(optimizer).__name__}"
            )
        if isinstance(optimizer, DistributedOptimizer):
            raise ChainruleError("DistributedOptimizer: this optimizer is already wrapped")
        if not (isinstance(bucket_mb, int | float) and bucket_mb > 0):
            raise ChainruleError(f"DistributedOptimizer: bucket_mb must be > 0, got {bucket_mb!r}")
        if check_every is None:
            check_every = _check_every_default()
        if not isinstance(check_every, int) or isinstance(check_every, bool) or check_every < 0:
            raise ChainruleError(
                f"DistributedOptimizer: check_every must be an integer >= 0, got {check_every!r}"
            )
        # Not Optimizer.__init__: the groups and state are the wrapped optimiser's own.
        self.optimizer = optimizer
        self.bucket_bytes = int(bucket_mb * 2**20)
        self._buffers: dict[int, np.ndarray] = {}  # reused: fresh 8 MB buffers page-fault
        self.check_every = check_every
        self.steps = 0
        self._synced = False
        self.overlap = bool(overlap)
        self._ov: _Overlap | None = None  # the overlapped buckets, once planned

    # The wrapped optimiser's groups, state and defaults, shared (not copied).
    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.optimizer.param_groups

    @property
    def state(self) -> dict[Tensor, dict[str, Any]]:  # type: ignore[override]
        return self.optimizer.state

    @property
    def defaults(self) -> dict[str, Any]:  # type: ignore[override]
        return self.optimizer.defaults

    def add_param_group(self, group: Any) -> None:
        self.optimizer.add_param_group(group)

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: Any) -> None:
        self.optimizer.load_state_dict(state_dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)
        self._synced = False

    def __repr__(self) -> str:
        return f"DistributedOptimizer({self.optimizer!r}, world_size={world_size()})"

    # ------------------------------------------------------------------ averaging
    def _params(self) -> list[Tensor]:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def synchronize(self, weight: float = 1.0) -> None:
        """Replace every parameter's gradient by its (weighted) average over all ranks.

        Call it before anything that must see the averaged gradient (gradient clipping);
        ``step()`` then does not average again. ``weight``: this rank's share of the
        global batch (its number of examples, or tokens), when shards differ in size; a
        rank with an empty shard passes 0 and no gradients.
        """
        if not (
            isinstance(weight, int | float | np.integer | np.floating)
            and np.isfinite(weight)
            and weight >= 0
        ):
            raise ChainruleError(
                f"DistributedOptimizer: weight must be a finite number >= 0, got {weight!r}"
            )
        self._synced = True
        c = comm()
        if c is None or world_size() == 1:
            return
        params = self._params()
        ov = self._ov if self._ov is not None and self._ov.armed else None
        if ov is not None:  # every bucket the backward pass did not start, in order
            ov.launch_rest(c)
        grads = [p.grad for p in params]
        # [weight, overlap ok, one code per parameter]
        desc = np.empty(len(params) + 2, dtype=np.float64)
        desc[0] = weight
        desc[1] = 0.0 if ov is not None and ov.dirty else 1.0
        for j, g in enumerate(grads):
            if g is None:
                desc[j + 2] = _NONE
            elif isinstance(g, RowSparse):
                desc[j + 2] = g.indices.size
            else:
                desc[j + 2] = _DENSE
        table = np.empty((world_size(), desc.size), dtype=np.float64)
        c.Allgather(desc, table)
        total = table[:, 0].sum()
        if total <= 0:
            if ov is not None:
                ov.finish(use=False)
            raise ChainruleError(
                "DistributedOptimizer: every rank passed weight 0 (no "
                "examples anywhere in this step)"
            )
        scale = float(weight) / float(total)
        uniform = bool((table[:, 0] == table[0, 0]).all())
        all_dense = (table[:, 2:] == _DENSE).all(axis=0)
        done: set[int] = set()
        if ov is not None:
            # The overlapped sums are the answer when every rank packed every bucket
            # parameter from a dense gradient with the same weight; otherwise they are
            # discarded and this step takes the blocking path below (same result).
            index = {id(p): j for j, p in enumerate(params)}
            ok = bool(
                uniform and table[:, 1].all() and all(all_dense[index[id(q)]] for q in ov.params)
            )
            ov.finish(use=ok)
            if ok:
                done = {id(q) for q in ov.params}
        dense: list[tuple[Tensor, Any]] = []
        for j, (p, g) in enumerate(zip(params, grads, strict=True)):
            if id(p) in done:
                continue
            col = table[:, j + 2]
            if (col == _NONE).all():
                continue
            if (col == _DENSE).any():
                dense.append((p, g))
            else:
                counts = np.where(col == _NONE, 0, col).astype(np.int64)
                self._gather_sparse(c, p, g, counts, scale)
        self._reduce_dense(c, dense, scale)
        if self.overlap:
            self._plan_overlap(params, all_dense, uniform)

    def _plan_overlap(self, params: list[Tensor], all_dense: np.ndarray, uniform: bool) -> None:
        # Arm the overlap for the next step when this one had the same weight on every
        # rank; its buckets hold the parameters dense on every rank, last one first (the
        # backward pass finishes the last layer's gradients first).
        if not uniform:
            if self._ov is not None:
                self._ov.armed = False
            return
        chosen = [p for j, p in enumerate(params) if all_dense[j]][::-1]
        if self._ov is None or [id(p) for p in self._ov.params] != [id(p) for p in chosen]:
            if self._ov is not None:
                self._ov.remove()
            self._ov = _Overlap(chosen, self.bucket_bytes, world_size()) if chosen else None
        if self._ov is not None:
            self._ov.armed = True

    def _reduce_dense(self, c: Any, dense: list[tuple[Tensor, Any]], scale: float) -> None:
        from mpi4py import MPI

        buckets: list[list[tuple[Tensor, Any]]] = []
        sizes: dict[int, int] = {}
        open_for: dict[np.dtype, int] = {}
        for p, g in dense:
            dt = p.dtype
            b = open_for.get(dt)
            nbytes = p.size * dt.itemsize
            if b is None or (sizes[b] and sizes[b] + nbytes > self.bucket_bytes):
                b = open_for[dt] = len(buckets)
                buckets.append([])
                sizes[b] = 0
            buckets[b].append((p, g))
            sizes[b] += nbytes
        for k, bucket in enumerate(buckets):
            dt = bucket[0][0].dtype
            n = sum(p.size for p, _ in bucket)
            buf = self._buffers.get(k)
            if buf is None or buf.size != n or buf.dtype != dt:
                buf = self._buffers[k] = np.empty(n, dtype=dt)
            o = 0
            for p, g in bucket:
                view = buf[o : o + p.size]
                if g is None:
                    view[...] = 0
                else:
                    gd = (
                        g.to_dense()
                        if isinstance(g, RowSparse)
                        else (g.data if isinstance(g, Tensor) else np.asarray(g))
                    )
                    if gd.shape != p.shape:
                        raise ChainruleError(
                            f"DistributedOptimizer: gradient of shape "
                            f"{gd.shape} for a parameter of shape {p.shape}"
                        )
                    np.multiply(gd.reshape(-1), scale, out=view, casting="unsafe")
                o += p.size
            c.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            o = 0
            for p, _ in bucket:
                p.grad = Tensor(buf[o : o + p.size].reshape(p.shape))
                o += p.size

    @staticmethod
    def _gather_sparse(c: Any, p: Tensor, g: Any, counts: np.ndarray, scale: float) -> None:
        row_shape = tuple(p.shape[1:])
        width = int(np.prod(row_shape, dtype=np.int64))
        if g is None:
            idx = np.empty(0, dtype=np.int64)
            vals = np.empty(0, dtype=p.dtype)
        else:
            idx = np.ascontiguousarray(g.indices, dtype=np.int64)
            vals = np.ascontiguousarray(g.values.reshape(-1) * g.values.dtype.type(scale))
        dtype = vals.dtype if g is not None else p.dtype
        n = int(counts.sum())
        all_idx = np.empty(n, dtype=np.int64)
        all_vals = np.empty(n * width, dtype=dtype)
        c.Allgatherv(idx, (all_idx, counts))
        c.Allgatherv(vals.astype(dtype, copy=False), (all_vals, counts * width))
        p.grad = RowSparse(all_idx, all_vals.reshape((n,) + row_shape), tuple(p.shape))

    # ------------------------------------------------------------------ stepping
    def step(self, closure: Callable[[], Any] | None = None, *, weight: float = 1.0) -> Any:
        """Average the gradients (unless :meth:`synchronize` already did), then step.

        ``closure`` re-evaluates the loss before the averaging, as in
        :meth:`Optimizer.step`. With ``check_every`` set, every that many steps the ranks'
        parameters are compared afterwards (:func:`check_parameters`).
        """
        loss = None
        if closure is not None:
            with cr.enable_grad():
                loss = closure()
            self._synced = False
        if not self._synced:
            self.synchronize(weight)
        self._synced = False
        self.optimizer.step()
        self.steps += 1
        if self.check_every and self.steps % self.check_every == 0:
            check_parameters(self._params())
        return loss


def _remove_all(handles: list[Any]) -> None:
    for h in handles:
        h.remove()


class _Overlap:
    """Buckets reduced during the backward pass: hooks pack, ``Iallreduce`` in bucket order.

    Every rank starts every bucket exactly once per armed step and in the same order (a
    bucket starts when it and all buckets before it are packed; :meth:`launch_rest` starts
    the others at synchronisation), as MPI requires of collectives.
    """

    def __init__(self, params: list[Tensor], bucket_bytes: int, n_ranks: int) -> None:
        self.params = params
        self.armed = False
        self.scale = 1.0 / n_ranks  # armed only when every rank has the same weight
        self.buckets: list[tuple[np.ndarray, list[tuple[Tensor, int]]]] = []
        self.where: dict[int, tuple[int, int]] = {}  # id(param) -> (bucket, offset)
        groups: list[list[Tensor]] = []
        for dt in dict.fromkeys(p.dtype for p in params):  # one dtype per bucket
            size = 0
            for p in (q for q in params if q.dtype == dt):
                nbytes = p.size * dt.itemsize
                if (
                    not groups
                    or groups[-1][0].dtype != dt
                    or (size and size + nbytes > bucket_bytes)
                ):
                    groups.append([])
                    size = 0
                groups[-1].append(p)
                size += nbytes
        for k, group in enumerate(groups):
            buf = np.empty(sum(p.size for p in group), dtype=group[0].dtype)
            entries, o = [], 0
            for p in group:
                entries.append((p, o))
                self.where[id(p)] = (k, o)
                o += p.size
            self.buckets.append((buf, entries))
        # The hooks hold the buckets weakly and go with them: a discarded optimiser's
        # buckets never start a collective.
        me = weakref.ref(self)

        def hook(p: Tensor) -> None:
            ov = me()
            if ov is not None:
                ov._on_grad(p)

        self.handles = [p.register_post_accumulate_grad_hook(hook) for p in params]
        weakref.finalize(self, _remove_all, list(self.handles))
        self._reset()

    def _reset(self) -> None:
        self.left = [len(entries) for _, entries in self.buckets]
        self.packed: set[int] = set()
        self.next = 0  # the first bucket not started yet
        self.requests: list[Any] = []
        self.dirty = False  # a parameter's gradient changed after it was packed

    def remove(self) -> None:
        _remove_all(self.handles)
        self.handles = []

    def _pack(self, p: Tensor, g: Any) -> None:
        buf, _ = self.buckets[self.where[id(p)][0]]
        o = self.where[id(p)][1]
        view = buf[o : o + p.size]
        if g is None:
            view[...] = 0
            return
        if isinstance(g, RowSparse):
            g = g.to_dense()
        gd = g.data if isinstance(g, Tensor) else np.asarray(g)
        if gd.shape != p.shape:
            raise ChainruleError(
                f"DistributedOptimizer: gradient of shape {gd.shape} for a "
                f"parameter of shape {p.shape}"
            )
        np.multiply(gd.reshape(-1), self.scale, out=view, casting="unsafe")

    def _start_ready(self, c: Any) -> None:
        from mpi4py import MPI

        while self.next < len(self.buckets) and self.left[self.next] == 0:
            buf = self.buckets[self.next][0]
            self.requests.append(c.Iallreduce(MPI.IN_PLACE, buf, op=MPI.SUM))
            self.next += 1

    def _on_grad(self, p: Tensor) -> None:
        # Runs inside backward(), right after p.grad got its final value.
        if not self.armed:
            return
        if id(p) in self.packed:  # a second backward before synchronising
            self.dirty = True
            return
        g = p.grad
        if not isinstance(g, Tensor):  # row-sparse: packed (densified) at synchronize
            return
        self._pack(p, g)
        self.packed.add(id(p))
        k = self.where[id(p)][0]
        self.left[k] -= 1
        if self.left[k] == 0 and k == self.next:
            from mpi4py import MPI

            c = comm()
            self._start_ready(c)
            MPI.Request.Testall(self.requests)  # let MPI move what it can already

    def launch_rest(self, c: Any) -> None:
        """Pack what the hooks did not (missing: zeros) and start the remaining buckets."""
        for k in range(self.next, len(self.buckets)):
            for p, _ in self.buckets[k][1]:
                if id(p) not in self.packed:
                    self._pack(p, p.grad)
                    self.packed.add(id(p))
            self.left[k] = 0
        self._start_ready(c)

    def finish(self, use: bool) -> None:
        """Wait for every bucket; with ``use``, every parameter's gradient becomes its view."""
        from mpi4py import MPI

        MPI.Request.Waitall(self.requests)
        if use:
            for buf, entries in self.buckets:
                for p, o in entries:
                    p.grad = Tensor(buf[o : o + p.size].reshape(p.shape))
        self._reset()
