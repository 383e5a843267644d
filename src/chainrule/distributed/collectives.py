"""Collectives on NumPy arrays and parameters; every one is a no-op in one process."""

from __future__ import annotations

import contextlib
import sys
import traceback
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.core import ChainruleError, Tensor

from ._backend import DistributedError, abort, comm, init, rank, world_size

__all__ = [
    "ParameterMismatchError",
    "allgather_object",
    "allreduce",
    "barrier",
    "broadcast_object",
    "broadcast_parameters",
    "check_parameters",
    "fail_fast",
    "shard_range",
]


class ParameterMismatchError(DistributedError):
    """Ranks hold parameters of different shapes, or values that have drifted apart."""


def barrier() -> None:
    """Wait until every rank reaches this point."""
    c = comm()
    if c is not None and world_size() > 1:
        c.Barrier()


def allreduce(array: Any, op: str = "sum") -> np.ndarray:
    """The element-wise ``sum``, ``max`` or ``min`` of ``array`` over all ranks (a new array).

    Examples
    --------
    >>> allreduce(np.array([3.0, 1.0]))          # one process: the array itself
    array([3., 1.])
    """
    arr = np.array(array, copy=True)
    c = comm()
    if c is None or world_size() == 1:
        return arr
    from mpi4py import MPI

    ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
    if op not in ops:
        raise ChainruleError(f"allreduce: op must be one of {sorted(ops)}, got {op!r}")
    arr = np.ascontiguousarray(arr)
    c.Allreduce(MPI.IN_PLACE, arr, op=ops[op])
    return arr


def allgather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable, small), in rank order, on every rank."""
    c = comm()
    if c is None or world_size() == 1:
        return [obj]
    return c.allgather(obj)


def broadcast_object(obj: Any, root: int = 0) -> Any:
    """``root``'s ``obj`` on every rank (so all ranks take the same decision)."""
    c = comm()
    if c is None or world_size() == 1:
        return obj
    return c.bcast(obj, root=root)


def shard_range(n: int) -> tuple[int, int]:
    """This rank's contiguous share ``[start, stop)`` of ``n`` items (sizes differ by <= 1).

    Examples
    --------
    >>> shard_range(10)                           # one process: everything
    (0, 10)
    """
    size, r = world_size(), rank()
    base, extra = divmod(int(n), size)
    start = r * base + min(r, extra)
    return start, start + base + (1 if r < extra else 0)


def _named(module_or_params: Any) -> list[tuple[str, Tensor]]:
    if hasattr(module_or_params, "named_parameters"):
        return list(module_or_params.named_parameters())
    if isinstance(module_or_params, Tensor):
        module_or_params = [module_or_params]
    out = []
    for i, p in enumerate(module_or_params):
        if not isinstance(p, Tensor):
            raise ChainruleError(f"expected a Module or Tensors; item {i} is a {type(p).__name__}")
        out.append((p.name or f"parameter {i}", p))
    return out


def broadcast_parameters(module_or_params: Any, root: int = 0) -> None:
    """Copy ``root``'s parameter values to every rank, so all ranks start identical.

    First every rank's list of (name, shape, dtype) is compared with root's: a model built
    differently on some rank (another vocabulary, another ``--hidden``) is reported on every
    rank, naming the first parameter that differs, instead of corrupting memory or hanging.

    Raises
    ------
    ParameterMismatchError
        The ranks' parameter lists differ (on every rank, so none is left waiting).
    """
    named = _named(module_or_params)
    size = world_size()
    if not 0 <= root < size:
        raise ChainruleError(
            f"broadcast_parameters: root {root} is not a rank of the {size} running"
        )
    if size == 1:
        return
    sig = [(n, tuple(p.shape), p.dtype.str) for n, p in named]
    sigs = allgather_object(sig)
    ref = sigs[root]
    for r, s in enumerate(sigs):
        if s == ref:
            continue
        if len(s) != len(ref):
            detail = f"{len(s)} parameters on rank {r}, {len(ref)} on rank {root}"
        else:
            i = next(i for i, (a, b) in enumerate(zip(s, ref, strict=True)) if a != b)
            detail = (
                f"parameter {i} is {s[i][0]!r} {s[i][1]} {np.dtype(s[i][2]).name} on "
                f"rank {r} but {ref[i][0]!r} {ref[i][1]} {np.dtype(ref[i][2]).name} on "
                f"rank {root}"
            )
        raise ParameterMismatchError(
            f"broadcast_parameters: the ranks built different models ({detail}); every rank "
            f"must build the same architecture from the same settings and data"
        )
    c = comm()
    by_dtype: dict[str, list[Tensor]] = {}
    for _, p in named:
        by_dtype.setdefault(p.dtype.str, []).append(p)
    with cr.no_grad():
        for dt, ps in by_dtype.items():
            total = sum(p.size for p in ps)
            buf = np.empty(total, dtype=np.dtype(dt))
            if rank() == root:
                o = 0
                for p in ps:
                    buf[o : o + p.size] = p.data.reshape(-1)
                    o += p.size
            c.Bcast(buf, root=root)
            o = 0
            for p in ps:
                p.copy_(buf[o : o + p.size].reshape(p.shape))
                o += p.size


def _checksums(named: list[tuple[str, Tensor]]) -> np.ndarray:
    return np.array(
        [zlib.crc32(np.ascontiguousarray(p.data).view(np.uint8)) for _, p in named], dtype=np.int64
    )


def check_parameters(module_or_params: Any) -> None:
    """Check that every rank holds bit-identical parameters (one small allreduce).

    Each rank takes a CRC-32 of every parameter's bytes; an allreduce of ``max`` over
    ``(crc, -crc)`` gives each one's largest and smallest value across ranks, equal only if
    all ranks agree. All ranks reach the same verdict, so all raise together.

    Raises
    ------
    ParameterMismatchError
        Naming the parameters that differ between ranks.
    """
    named = _named(module_or_params)
    if world_size() == 1:
        return
    crc = _checksums(named)
    both = allreduce(np.concatenate([crc, -crc]), op="max")
    lo, hi = -both[len(crc) :], both[: len(crc)]
    bad = [named[i][0] for i in np.flatnonzero(lo != hi)]
    if bad:
        shown = ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ParameterMismatchError(
            f"check_parameters: the ranks' parameters have drifted apart ({len(bad)} of "
            f"{len(named)} differ: {shown}); something updated them outside "
            f"DistributedOptimizer.step(), or the ranks took different steps"
        )


@contextlib.contextmanager
def fail_fast(prog: str = "chainrule") -> Iterator[None]:
    """Run a block whose failure on any rank must end every rank (``MPI_Abort``).

    In a distributed run an exception escaping the block prints ``prog: error (rank r of
    N): message`` on stderr (with the traceback for errors that are not chainrule's own
    ``ChainruleError`` or an ``OSError``) and aborts the whole job with status 1; the other
    ranks would otherwise wait forever in their next collective. In one process the
    exception propagates unchanged.
    """
    init()
    if world_size() == 1:
        yield
        return
    try:
        yield
    except SystemExit as exc:
        if exc.code in (0, None):
            raise
        abort(
            exc.code if isinstance(exc.code, int) else 1,
            f"{prog}: error (rank {rank()} of {world_size()}): exit status {exc.code}",
        )
    except KeyboardInterrupt:
        abort(130, f"{prog}: interrupted (rank {rank()} of {world_size()})")
    except BaseException as exc:  # noqa: BLE001 - every failure must end the job
        msg = str(exc) or type(exc).__name__
        if not isinstance(exc, ChainruleError | OSError):
            msg = f"{type(exc).__name__}: {msg}\n" + "".join(traceback.format_exc()).rstrip()
        print(f"{prog}: error (rank {rank()} of {world_size()}): {msg}", file=sys.stderr)
        abort(1)
