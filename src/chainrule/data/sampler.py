"""DistributedSampler: each rank's share of a dataset's indices, for data-parallel training.

Every rank draws the same permutation (from one seed and the epoch number), pads it by
repeating its first indices until its length divides by the number of ranks, and keeps
every ``num_replicas``-th index starting at its rank. So each epoch the ranks together
cover every example exactly once (plus the few repeated for padding), no example is on
two ranks (apart from the padding), every rank takes the same number of steps, and the
split changes from epoch to epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.core import ChainruleError

__all__ = ["DistributedSampler"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


class DistributedSampler:
    """The indices of ``dataset`` that this rank trains on, reshuffled every epoch.

    Parameters
    ----------
    dataset : sized object, or int
        The dataset (anything with ``len``), or its length.
    num_replicas, rank : int, optional
        The number of ranks and this one; default :func:`chainrule.distributed.world_size`
        and :func:`~chainrule.distributed.rank` (1 and 0 without ``mpiexec``).
    shuffle : bool
        A new permutation every epoch (else the natural order).
    seed : int
        Seeds the permutations; it must be the same on every rank.
    drop_last : bool
        Drop the tail that does not divide evenly instead of padding it.

    Notes
    -----
    ``set_epoch(e)`` chooses the epoch of the next iteration; without it, every iteration
    moves to the next epoch by itself (0, 1, 2, ...). Pass it to a
    :class:`~chainrule.data.DataLoader` as ``sampler=``.

    Examples
    --------
    >>> parts = [DistributedSampler(10, num_replicas=3, rank=r, seed=1) for r in range(3)]
    >>> [len(p) for p in parts]
    [4, 4, 4]
    >>> seen = sorted(i for p in parts for i in p)   # epoch 0: 10 examples + 2 padding
    >>> len(seen), sorted(set(seen)) == list(range(10))
    (12, True)
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        n = dataset if _is_int(dataset) else (len(dataset) if hasattr(dataset, "__len__") else None)
        if n is None or n < 1:
            raise ChainruleError(
                f"DistributedSampler: needs a non-empty dataset or a length >= 1, got {dataset!r}"
            )
        if num_replicas is None or rank is None:
            from chainrule import distributed

            num_replicas = distributed.world_size() if num_replicas is None else num_replicas
            rank = distributed.rank() if rank is None else rank
        if not _is_int(num_replicas) or num_replicas < 1:
            raise ChainruleError(
                f"DistributedSampler: num_replicas must be an integer >= 1, got {num_replicas!r}"
            )
        if not _is_int(rank) or not 0 <= rank < num_replicas:
            raise ChainruleError(
                f"DistributedSampler: rank must be an integer in [0, {num_replicas}), got {rank!r}"
            )
        if not _is_int(seed) or seed < 0:
            raise ChainruleError(f"DistributedSampler: seed must be an integer >= 0, got {seed!r}")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, bool | np.bool_):
                raise ChainruleError(
                    f"DistributedSampler: {name} must be True or False, got {flag!r}"
                )
        if drop_last and n < num_replicas:
            raise ChainruleError(
                f"DistributedSampler: drop_last with {n} examples and "
                f"{num_replicas} ranks leaves no example to train on"
            )
        self.n = int(n)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last:
            self.total_size = self.n - self.n % self.num_replicas
        else:
            self.total_size = -(-self.n // self.num_replicas) * self.num_replicas
        self.num_samples = self.total_size // self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s permutation for the next iteration."""
        if not _is_int(epoch) or epoch < 0:
            raise ChainruleError(
                f"DistributedSampler: epoch must be an integer >= 0, got {epoch!r}"
            )
        self.epoch = int(epoch)

    def global_order(self, epoch: int) -> np.ndarray:
        """All ranks' indices of ``epoch``, padded (rank ``r`` takes ``[r::num_replicas]``)."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, int(epoch)]).permutation(self.n)
        else:
            order = np.arange(self.n)
        if self.total_size <= self.n:
            return order[: self.total_size]
        # np.resize repeats the order cyclically: right even when padding exceeds n
        return np.concatenate([order, np.resize(order, self.total_size - self.n)])

    def indices(self, epoch: int) -> np.ndarray:
        """This rank's indices for ``epoch``."""
        return self.global_order(epoch)[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        idx = self.indices(self.epoch)
        self.epoch += 1
        return iter(idx.tolist())

    def __repr__(self) -> str:
        return (
            f"DistributedSampler(n={self.n}, rank={self.rank} of {self.num_replicas}, "
            f"shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch})"
        )
