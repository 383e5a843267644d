"""Row-sparse gradients: each optimiser's sparse path against its dense equivalent."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

V, D = 12, 4
IDS = [np.array([1, 5, 1, 7]), np.array([5, 7, 7, 1]), np.array([1, 1, 5, 7])]
UNTOUCHED = [i for i in range(V) if i not in (1, 5, 7)]


def _run(factory, sparse, steps=3, ids_list=IDS):
    emb = nn.Embedding(V, D, sparse=sparse, rng=np.random.default_rng(0), dtype=np.float64)
    start = emb.weight.data.copy()
    opt = factory(emb.parameters())
    g = np.random.default_rng(1)
    for ids in ids_list[:steps]:
        opt.zero_grad()
        out = emb(ids)
        (out * cr.Tensor(g.normal(size=out.shape))).sum().backward()
        assert isinstance(emb.weight.grad, cr.RowSparse) == sparse
        opt.step()
    return emb.weight.data, start, opt


FACTORIES = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd_wd": lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.1),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1),
    "adagrad_wd": lambda ps: optim.Adagrad(ps, lr=0.1, weight_decay=0.05),
    "adam": lambda ps: optim.Adam(ps, lr=0.05),
    "adam_ams": lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.1),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_sparse_equals_dense_on_touched_rows_untouched_unchanged(name):
    # Every step touches the same rows {1, 5, 7} (in varying order, with repeats), so lazy
    # and dense updates must agree there; all other rows must not move in the sparse run.
    sparse, start, _ = _run(FACTORIES[name], True)
    np.testing.assert_array_equal(sparse[UNTOUCHED], start[UNTOUCHED])
    dense, _, _ = _run(FACTORIES[name], False)
    np.testing.assert_allclose(sparse[[1, 5, 7]], dense[[1, 5, 7]], rtol=1e-12, atol=1e-14)
    assert not np.allclose(sparse[[1, 5, 7]], start[[1, 5, 7]])


def test_lazy_adam_keeps_moments_of_unseen_rows():
    ids = [np.array([1, 2]), np.array([1]), np.array([1])]
    w, start, opt = _run(FACTORIES["adam"], True, ids_list=ids)
    state = opt.state[opt.param_groups[0]["params"][0]]
    assert state["step"] == 3
    m2 = state["exp_avg"][2].copy()
    assert np.all(m2 != 0)  # row 2 seen once, its moment kept, not decayed
    wd, _, optd = _run(FACTORIES["adam"], False, ids_list=ids)
    dense_m2 = optd.state[optd.param_groups[0]["params"][0]]["exp_avg"][2]
    np.testing.assert_allclose(dense_m2, m2 * 0.9**2)  # dense Adam decays it
    assert not np.allclose(w[2], wd[2])  # ... and keeps moving the row: documented gap


def test_sparse_momentum_sgd_is_dense_momentum_sgd():
    f = lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)  # noqa: E731
    sparse, _, _ = _run(f, True)
    dense, _, _ = _run(f, False)
    np.testing.assert_allclose(sparse, dense, rtol=1e-12)


def test_sparse_adam_one_step_matches_torch_sparse_adam_shape_of_update():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    # torch.optim.SparseAdam adds eps to sqrt(v) before bias correction; with eps tiny the
    # two lazy updates coincide.
    emb = nn.Embedding(V, D, sparse=True, rng=np.random.default_rng(0), dtype=np.float64)
    temb = torch.nn.Embedding(V, D, sparse=True).double()
    with torch.no_grad():
        temb.weight.copy_(torch.tensor(emb.weight.data))
    opt = optim.Adam(emb.parameters(), lr=0.05, eps=1e-30)
    topt = torch.optim.SparseAdam(temb.parameters(), lr=0.05, eps=1e-30)
    g = np.random.default_rng(1)
    for ids in ([1, 5, 1], [2, 5], [9, 1, 9]):
        up = g.normal(size=(len(ids), D))
        opt.zero_grad()
        (emb(np.array(ids)) * cr.Tensor(up)).sum().backward()
        opt.step()
        topt.zero_grad()
        (temb(torch.tensor(ids)) * torch.tensor(up)).sum().backward()
        topt.step()
    np.testing.assert_allclose(emb.weight.data, temb.weight.detach().numpy(), rtol=1e-10)


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_sparse_adagrad_matches_torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    emb = nn.Embedding(V, D, sparse=True, rng=np.random.default_rng(0), dtype=np.float64)
    temb = torch.nn.Embedding(V, D, sparse=True).double()
    with torch.no_grad():
        temb.weight.copy_(torch.tensor(emb.weight.data))
    opt = optim.Adagrad(emb.parameters(), lr=0.1, lr_decay=0.01)
    topt = torch.optim.Adagrad(temb.parameters(), lr=0.1, lr_decay=0.01)
    g = np.random.default_rng(1)
    for ids in ([1, 5, 1], [2, 5], [9, 1, 9]):
        up = g.normal(size=(len(ids), D))
        opt.zero_grad()
        (emb(np.array(ids)) * cr.Tensor(up)).sum().backward()
        opt.step()
        topt.zero_grad()
        (temb(torch.tensor(ids)) * torch.tensor(up)).sum().backward()
        topt.step()
    np.testing.assert_allclose(emb.weight.data, temb.weight.detach().numpy(), rtol=1e-10)


def test_clip_grad_norm_sparse_coalesces_first():
    emb = nn.Embedding(V, D, sparse=True, rng=np.random.default_rng(0), dtype=np.float64)
    dense = nn.Embedding(V, D, rng=np.random.default_rng(0), dtype=np.float64)
    ids = np.array([3, 3, 4])
    up = np.random.default_rng(2).normal(size=(3, D))
    for m in (emb, dense):
        (m(ids) * cr.Tensor(up)).sum().backward()
    ref = float(np.linalg.norm(dense.weight.grad.data))
    n1 = optim.clip_grad_norm_(emb.parameters(), 0.5)
    n2 = optim.clip_grad_norm_(dense.parameters(), 0.5)
    assert float(n1) == pytest.approx(ref) and float(n2) == pytest.approx(ref)
    np.testing.assert_allclose(emb.weight.grad.to_dense(), dense.weight.grad.data, rtol=1e-12)
    assert np.linalg.norm(dense.weight.grad.data) == pytest.approx(0.5, rel=1e-5)
