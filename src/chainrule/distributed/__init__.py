"""Data-parallel training on many processes, over MPI (mpi4py), the route of Horovod.

Every rank holds the whole model, computes gradients on its shard of the batch; the
gradients are averaged across ranks and every rank takes the same step. Launch any script
(or ``chainrule train digits`` / ``chainrule ner train``) with ``mpiexec -n N``; without
``mpiexec`` everything here works in one process (rank 0 of 1, every collective a no-op)
and mpi4py is never imported, so chainrule's core keeps needing NumPy only.

>>> from chainrule import distributed as dist
>>> dist.init(), dist.rank(), dist.world_size(), dist.is_main()
(1, 0, 1, True)

The training loop::

    dist.init()
    model = build_model(...)                         # same seed on every rank
    dist.broadcast_parameters(model)                 # identical start (shapes checked)
    opt = dist.DistributedOptimizer(optim.Adam(model.parameters(), lr=1e-3))
    sampler = dist.DistributedSampler(dataset, seed=0)
    loader = DataLoader(dataset, batch_size=64, sampler=sampler)   # per-rank batch
    for epoch in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()                               # allreduce, then the same step

See ``docs/distributed.md`` for installation, launching, failure behaviour and the
performance model.
"""

from chainrule.data.sampler import DistributedSampler

from ._backend import (
    DistributedError,
    abort,
    comm,
    init,
    is_initialized,
    is_main,
    launched_size,
    local_size,
    rank,
    world_size,
)
from .collectives import (
    ParameterMismatchError,
    allgather_object,
    allreduce,
    barrier,
    broadcast_object,
    broadcast_parameters,
    check_parameters,
    fail_fast,
    shard_range,
)
from .optimizer import DistributedOptimizer

__all__ = [
    "DistributedError",
    "DistributedOptimizer",
    "DistributedSampler",
    "ParameterMismatchError",
    "abort",
    "allgather_object",
    "allreduce",
    "barrier",
    "broadcast_object",
    "broadcast_parameters",
    "check_parameters",
    "comm",
    "fail_fast",
    "init",
    "is_initialized",
    "is_main",
    "launched_size",
    "local_size",
    "rank",
    "shard_range",
    "world_size",
]
