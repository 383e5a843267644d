"""DataLoader batching, shuffling determinism and collation."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataLoader, Dataset, TensorDataset, default_collate


def _epoch(loader):
    return [tuple(t.data.copy() for t in batch) for batch in loader]


def test_batches_cover_the_data_in_order():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    batches = _epoch(DataLoader(TensorDataset(X, y), batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    assert len(DataLoader(TensorDataset(X, y), batch_size=4, drop_last=True)) == 2
    assert len(_epoch(DataLoader(TensorDataset(X, y), batch_size=4, drop_last=True))) == 2


def test_shuffle_is_deterministic_with_a_seed_and_differs_between_epochs():
    ds = TensorDataset(np.arange(50), np.arange(50) * 2)
    a = DataLoader(ds, batch_size=8, shuffle=True, rng=np.random.default_rng(3))
    b = DataLoader(ds, batch_size=8, shuffle=True, rng=3)
    e1a, e2a = _epoch(a), _epoch(a)
    e1b, e2b = _epoch(b), _epoch(b)
    for x, z in zip(e1a + e2a, e1b + e2b, strict=True):
        np.testing.assert_array_equal(x[0], z[0])
    first = np.concatenate([x[0] for x in e1a])
    second = np.concatenate([x[0] for x in e2a])
    assert sorted(first.tolist()) == list(range(50))  # a permutation
    assert not np.array_equal(first, second)  # new order each epoch
    for x in e1a:
        np.testing.assert_array_equal(x[1], 2 * x[0])  # rows stay paired


def test_default_rng_is_seedable():
    from chainrule.nn import init

    ds = TensorDataset(np.arange(30))
    init.manual_seed(5)
    a = _epoch(DataLoader(ds, batch_size=30, shuffle=True))
    init.manual_seed(5)
    b = _epoch(DataLoader(ds, batch_size=30, shuffle=True))
    np.testing.assert_array_equal(a[0][0], b[0][0])


class Pairs(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(3, float(i)), "y": i, "name": f"s{i}"}


def test_generic_dataset_and_collate():
    batches = list(DataLoader(Pairs(), batch_size=2))
    assert len(batches) == 3
    assert isinstance(batches[0]["x"], cr.Tensor) and batches[0]["x"].shape == (2, 3)
    assert batches[2]["y"].data.tolist() == [4] and batches[1]["name"] == ["s2", "s3"]
    custom = list(DataLoader(Pairs(), batch_size=5, collate_fn=lambda items: len(items)))
    assert custom == [5]


def test_collate_errors_and_dataset_checks():
    with pytest.raises(cr.ShapeError, match="cannot stack"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(cr.ShapeError, match="first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(cr.ChainruleError):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=0)
    x, y = TensorDataset(cr.Tensor(np.ones((2, 2))), [1, 2])[0]
    assert x.tolist() == [1.0, 1.0] and int(y) == 1
