"""Datasets and the DataLoader that batches them.

A :class:`Dataset` is anything with ``__len__`` and ``__getitem__(i)``. The
:class:`DataLoader` draws index batches (shuffled with an explicit
:class:`numpy.random.Generator`, so a seed fixes the order of every epoch) and collates
the items into Tensors. :class:`TensorDataset` hands whole batches over with one fancy-index
per array instead of collating item by item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.core import ChainruleError, ShapeError, Tensor

__all__ = ["DataLoader", "Dataset", "TensorDataset", "default_collate"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


class Dataset:
    """Base class: override ``__len__`` and ``__getitem__``."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are rows: item ``i`` is ``tuple(a[i] for a in arrays)``.

    Parameters
    ----------
    *arrays : array_like or Tensor
        All with the same first dimension.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.data import TensorDataset
    >>> ds = TensorDataset(np.arange(6).reshape(3, 2), np.array([0, 1, 0]))
    >>> x1, y1 = ds[1]
    >>> len(ds), x1, int(y1)
    (3, array([2, 3]), 1)
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ChainruleError("TensorDataset needs at least one array")
        try:
            self.arrays = tuple(a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays)
        except ValueError as exc:  # ragged nested lists
            raise ShapeError(
                f"TensorDataset: an argument is not a rectangular array ({exc})"
            ) from None
        n = len(self.arrays[0])
        for i, a in enumerate(self.arrays):
            if a.ndim == 0 or len(a) != n:
                raise ShapeError(
                    f"TensorDataset: array {i} has shape {a.shape}; every array "
                    f"needs the same first dimension ({n})"
                )

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[Tensor, ...]:
        """The batch for ``indices`` as Tensors (one fancy-index per array)."""
        return tuple(Tensor._wrap(a[indices]) for a in self.arrays)


def default_collate(items: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch, keeping the samples' structure.

    Arrays, Tensors and numbers become one Tensor with a new leading batch axis; tuples
    and lists are collated field by field (a tuple of Tensors), dicts key by key; strings
    stay a list.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.data import default_collate
    >>> x, y = default_collate([(np.zeros(2), 1), (np.ones(2), 0)])
    >>> x.shape, y.data.tolist()
    ((2, 2), [1, 0])
    """
    first = items[0]
    if isinstance(first, tuple | list):
        if any(len(it) != len(first) for it in items):
            raise ShapeError("default_collate: samples have different numbers of fields")
        return tuple(default_collate([it[i] for it in items]) for i in range(len(first)))
    if isinstance(first, Mapping):
        return {k: default_collate([it[k] for it in items]) for k in first}
    if isinstance(first, str):
        return list(items)
    arrs = [it.data if isinstance(it, Tensor) else np.asarray(it) for it in items]
    try:
        return Tensor._wrap(np.stack(arrs))
    except ValueError as exc:
        raise ShapeError(
            f"default_collate: cannot stack samples of shapes "
            f"{sorted({a.shape for a in arrs})}; pad them to one shape or pass "
            f"a collate_fn"
        ) from exc


class DataLoader:
    """Iterate over a dataset in (optionally shuffled) batches.

    Parameters
    ----------
    dataset : Dataset
    batch_size : int
        A positive integer (not a float, string or bool: each raises
        :class:`~chainrule.ChainruleError`).
    shuffle : bool
        Draw a fresh permutation every epoch from ``rng``.
    drop_last : bool
        Skip the last batch when it is smaller than ``batch_size``.
    collate_fn : callable, optional
        Turns a list of samples into a batch (default :func:`default_collate`).
    rng : numpy.random.Generator or int, optional
        Source of the shuffling (an int seeds a new generator). Without it, shuffling uses
        :func:`chainrule.nn.init.default_rng`.
    sampler : iterable of int, optional
        Gives each epoch's indices instead (with ``len``), e.g. a
        :class:`~chainrule.data.DistributedSampler` for this rank's shard; not together
        with ``shuffle=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(np.arange(10), np.arange(10) % 2)
    >>> loader = DataLoader(ds, batch_size=4, shuffle=True, rng=0)
    >>> [x.shape[0] for x, y in loader], len(loader)
    ([4, 4, 2], 3)
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[list], Any] | None = None,
        rng: np.random.Generator | int | None = None,
        *,
        sampler: Any = None,
    ) -> None:
        # Checked here, not at the first iteration: int(2.5) == 2 and int("4") == 4 would
        # silently change the batching, and True is an int to Python.
        if not _is_int(batch_size) or batch_size < 1:
            raise ChainruleError(
                f"DataLoader: batch_size must be an integer >= 1, got {batch_size!r}"
            )
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, bool | np.bool_):
                raise ChainruleError(f"DataLoader: {name} must be True or False, got {flag!r}")
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise ChainruleError(
                f"DataLoader: the dataset must have __len__ and __getitem__, "
                f"got {type(dataset).__name__}"
            )
        if sampler is not None:
            if shuffle:
                raise ChainruleError(
                    "DataLoader: shuffle=True and a sampler exclude each "
                    "other (the sampler decides the order)"
                )
            if not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
                raise ChainruleError(
                    f"DataLoader: sampler must be an iterable of indices "
                    f"with len(), got {type(sampler).__name__}"
                )
        if collate_fn is not None and not callable(collate_fn):
            raise ChainruleError(
                f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}"
            )
        if rng is not None and not isinstance(rng, np.random.Generator):
            if not _is_int(rng) or rng < 0:
                raise ChainruleError(
                    f"DataLoader: rng must be a numpy.random.Generator or a "
                    f"seed (an integer >= 0), got {rng!r}"
                )
            rng = np.random.default_rng(rng)
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.rng = rng
        self.sampler = sampler

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self.rng
        if rng is None:
            from chainrule.nn.init import default_rng

            rng = default_rng()
        return rng.permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        n, bs = len(order), self.batch_size
        stop = n - n % bs if self.drop_last else n
        fast = self.collate_fn is None and hasattr(self.dataset, "get_batch")
        for start in range(0, stop, bs):
            idx = order[start : start + bs]
            if fast:
                yield self.dataset.get_batch(idx)
            else:
                items = [self.dataset[int(i)] for i in idx]
                yield (self.collate_fn or default_collate)(items)
