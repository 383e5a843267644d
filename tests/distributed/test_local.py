"""chainrule.distributed in one process, and what it says when MPI is missing (no MPI needed)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import distributed as dist
from chainrule import nn, optim
from chainrule.data import DataLoader, DistributedSampler, TensorDataset
from chainrule.distributed import _backend


def test_one_process_is_rank_0_of_1_and_collectives_are_no_ops():
    assert (dist.init(), dist.rank(), dist.world_size(), dist.is_main()) == (1, 0, 1, True)
    dist.barrier()
    np.testing.assert_array_equal(dist.allreduce([1.0, 2.0]), [1.0, 2.0])
    assert dist.allgather_object("a") == ["a"]
    assert dist.broadcast_object(3) == 3
    assert dist.shard_range(7) == (0, 7)
    model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    before = model.weight.data.copy()
    dist.broadcast_parameters(model)
    dist.check_parameters(model)
    np.testing.assert_array_equal(model.weight.data, before)


def test_distributed_optimizer_in_one_process_is_the_wrapped_optimizer():
    rng = np.random.default_rng(0)
    a = nn.Linear(4, 3, rng=rng)
    b = nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    x = cr.Tensor(rng.normal(size=(5, 4)).astype(np.float32))
    oa = optim.Adam(a.parameters(), lr=0.1)
    ob = dist.DistributedOptimizer(optim.Adam(b.parameters(), lr=0.1), check_every=1)
    sched = optim.ExponentialLR(ob, gamma=0.5)  # schedulers accept it
    for _ in range(3):
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            (m(x) ** 2).mean().backward()
            o.step()
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    sched.step()
    assert ob.param_groups[0]["lr"] == 0.05 and ob.optimizer.param_groups[0]["lr"] == 0.05
    assert ob.state_dict()["state"]["0"]["step"] == 3
    with pytest.raises(cr.ChainruleError, match="wraps a chainrule Optimizer"):
        dist.DistributedOptimizer([1])
    with pytest.raises(cr.ChainruleError, match="weight"):
        ob.synchronize(weight=-1)


def test_sampler_splits_pads_and_reshuffles():
    n, ranks = 11, 4
    parts = [DistributedSampler(n, ranks, r, seed=3) for r in range(ranks)]
    assert [len(p) for p in parts] == [3] * ranks
    e0 = [list(p) for p in parts]  # epoch 0 (then each moves to epoch 1)
    allidx = sorted(i for part in e0 for i in part)
    assert set(allidx) == set(range(n)) and len(allidx) == 12
    e1 = [list(p) for p in parts]
    assert e0 != e1
    for p in parts:
        p.set_epoch(0)
    assert [list(p) for p in parts] == e0  # one seed + the epoch fix the order
    tiny = [list(DistributedSampler(2, 5, r, shuffle=False)) for r in range(5)]
    assert tiny == [[0], [1], [0], [1], [0]]  # padding longer than the data
    dropped = [list(DistributedSampler(11, 4, r, drop_last=True)) for r in range(4)]
    assert sum(map(len, dropped)) == 8 and len(set(sum(dropped, []))) == 8
    with pytest.raises(cr.ChainruleError, match="rank"):
        DistributedSampler(10, 2, 2)
    loader = DataLoader(
        TensorDataset(np.arange(11)), batch_size=2, sampler=DistributedSampler(11, 4, 1, seed=3)
    )
    assert len(loader) == 2
    assert sorted(int(v) for (xb,) in loader for v in xb.data) == sorted(e0[1])
    with pytest.raises(cr.ChainruleError, match="exclude each other"):
        DataLoader(TensorDataset(np.arange(3)), sampler=parts[0], shuffle=True)


@pytest.fixture
def fresh_backend(monkeypatch):
    state = _backend._State()
    monkeypatch.setattr(_backend, "_state", state)
    for var in _backend._SIZE_VARS + _backend._RANK_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_a_launch_without_mpi4py_says_what_to_install(fresh_backend):
    fresh_backend.setenv("PMI_SIZE", "2")
    fresh_backend.setenv("PMI_RANK", "0")
    fresh_backend.setitem(__import__("sys").modules, "mpi4py", None)  # not importable
    with pytest.raises(dist.DistributedError) as err:
        dist.init()
    assert "mpi4py is not installed" in str(err.value)
    assert "pip install 'chainrule[mpi]'" in str(err.value)


def test_mpiexec_n_1_without_mpi4py_runs_as_one_process(fresh_backend):
    fresh_backend.setenv("PMI_SIZE", "1")
    fresh_backend.setitem(__import__("sys").modules, "mpi4py", None)
    assert dist.init() == 1 and dist.rank() == 0


def test_launcher_detection():
    assert _backend.launched_size({}) == 1
    assert _backend.launched_size({"OMPI_COMM_WORLD_SIZE": "8"}) == 8
    assert _backend.launched_size({"PMI_SIZE": "3"}) == 3


def test_overlap_in_one_process_registers_no_hooks_and_is_the_wrapped_optimizer():
    from chainrule.core import engine

    rng = np.random.default_rng(0)
    a = nn.Linear(4, 3, rng=rng)
    b = nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    x = cr.Tensor(rng.normal(size=(5, 4)).astype(np.float32))
    oa = optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    ob = dist.DistributedOptimizer(optim.SGD(b.parameters(), lr=0.1, momentum=0.9), overlap=True)
    for _ in range(3):
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            (m(x) ** 2).sum().backward()
            o.step()
    assert all(id(p) not in engine._ACC_HOOKS for p in b.parameters())
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
