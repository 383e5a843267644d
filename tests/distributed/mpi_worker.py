"""Programs the distributed tests run under ``mpiexec -n N`` (see test_mpi.py).

``python mpi_worker.py MODE`` with MODE one of: exact, sampler, raise, mismatch. Each
prints ``OK <mode>`` on rank 0 when every check passed; a failed check raises, which
aborts the job (non-zero exit).
"""

from __future__ import annotations

import sys
import time

import numpy as np


def _models(kind: str, seed: int = 0):
    import chainrule as cr
    from chainrule import nn
    from chainrule.nn import functional as F

    rng = np.random.default_rng(seed)
    if kind == "mlp":
        model = nn.Sequential(
            nn.Linear(6, 16, rng=rng, dtype=np.float64),
            nn.Tanh(),
            nn.Linear(16, 4, rng=rng, dtype=np.float64),
        )

        def loss_fn(m, x, y):
            return F.cross_entropy(m(cr.Tensor(x)), y)

        return model, loss_fn

    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(40, 5, sparse=True, rng=rng, dtype=np.float64)
            self.out = nn.Linear(15, 4, rng=rng, dtype=np.float64)

        def forward(self, ids):
            e = self.emb(ids)  # (n, 3, 5)
            return self.out(e.reshape(ids.shape[0], -1))

    def loss_fn(m, x, y):
        return F.cross_entropy(m(x), y)

    return Bag(), loss_fn


def _data(kind: str, n: int, rng: np.random.Generator):
    y = rng.integers(0, 4, size=n)
    if kind == "mlp":
        return rng.normal(size=(n, 6)), y
    return rng.integers(0, 40, size=(n, 3)), y


def _optimizer(name: str, params):
    from chainrule import optim

    if name == "momentum":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=0.01)


def exact(overlap: bool = False) -> None:
    from chainrule import distributed as dist
    from chainrule.core import RowSparse

    n_ranks, r = dist.world_size(), dist.rank()
    assert n_ranks > 1, "run me under mpiexec"
    worst = 0.0
    for kind in ("mlp", "embedding"):
        for opt_name in ("momentum", "adam"):
            # Reference: one process, the whole batch (every rank computes it itself).
            ref, loss_fn = _models(kind)
            ref_opt = _optimizer(opt_name, list(ref.parameters()))
            # Distributed: a different init on every rank, fixed by broadcast_parameters.
            model, _ = _models(kind, seed=0 if r == 0 else 100 + r)
            dist.broadcast_parameters(model)
            opt = dist.DistributedOptimizer(
                _optimizer(opt_name, list(model.parameters())),
                bucket_mb=0.001,  # several buckets
                overlap=overlap,
            )
            data_rng = np.random.default_rng(7)
            for step in range(20):
                # 10 examples: shards of 5+5 on 2 ranks, 4+3+3 on 3 ranks (weighted)
                x, y = _data(kind, 10, data_rng)
                lo, hi = np.array_split(np.arange(10), n_ranks)[r][[0, -1]]
                ref_opt.zero_grad()
                loss_fn(ref, x, y).backward()
                opt.zero_grad()
                loss_fn(model, x[lo : hi + 1], y[lo : hi + 1]).backward()
                if kind == "embedding":
                    assert isinstance(model.emb.weight.grad, RowSparse)
                opt.synchronize(weight=hi + 1 - lo)
                if kind == "embedding":  # exchanged as rows, never densified
                    assert isinstance(model.emb.weight.grad, RowSparse)
                if step == 0:
                    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
                        diff = np.abs(np.asarray(p.grad.data) - q.grad.data).max()
                        worst = max(worst, float(diff))
                        assert diff <= 1e-12, (kind, opt_name, "grad", diff)
                opt.step()
                ref_opt.step()
                if step == 0:
                    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
                        diff = np.abs(p.data - q.data).max()
                        worst = max(worst, float(diff))
                        assert diff <= 1e-12, (kind, opt_name, "step", diff)
            # After 20 steps: bit-identical on every rank (checksums, then the bytes).
            dist.check_parameters(model)
            mine = b"".join(p.data.tobytes() for p in model.parameters())
            assert all(b == mine for b in dist.allgather_object(mine)), "ranks differ"
            drift = max(
                np.abs(p.data - q.data).max()
                for p, q in zip(model.parameters(), ref.parameters(), strict=True)
            )
            assert drift < 1e-9, (kind, opt_name, "20 steps", drift)
    # The default weight (1 per rank) is exact for equal shards.
    model, loss_fn = _models("mlp")
    ref, _ = _models("mlp")
    opt = dist.DistributedOptimizer(_optimizer("adam", list(model.parameters())), overlap=overlap)
    ref_opt = _optimizer("adam", list(ref.parameters()))
    x, y = _data("mlp", 6 * n_ranks, np.random.default_rng(3))
    loss_fn(ref, x, y).backward()
    ref_opt.step()
    sl = slice(6 * r, 6 * r + 6)
    loss_fn(model, x[sl], y[sl]).backward()
    opt.step()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert np.abs(p.data - q.data).max() <= 1e-12
    if dist.is_main():
        print(f"OK exact ranks={n_ranks} overlap={overlap} worst={worst:.3g}")


def overlap() -> None:
    """Overlapped reduction == blocking reduction, bit for bit, on every kind of step."""
    import chainrule as cr
    from chainrule import distributed as dist
    from chainrule import nn
    from chainrule.nn import functional as F

    n_ranks, r = dist.world_size(), dist.rank()

    def build():
        rng = np.random.default_rng(0)
        return nn.Sequential(
            nn.Linear(6, 32, rng=rng, dtype=np.float64),
            nn.Tanh(),
            nn.Linear(32, 32, rng=rng, dtype=np.float64),
            nn.Tanh(),
            nn.Linear(32, 4, rng=rng, dtype=np.float64),
        )

    models = [build(), build()]
    opts = [
        dist.DistributedOptimizer(
            _optimizer("momentum", list(m.parameters())), bucket_mb=0.005, overlap=ov
        )  # 3 buckets
        for m, ov in ((models[0], False), (models[1], True))
    ]
    data_rng = np.random.default_rng(11 + r)
    started_in_backward = 0
    # step kinds: plain; two backward passes before synchronising (accumulation); ranks
    # with different weights; the last layer unused on every rank (no gradient)
    kinds = ["plain"] * 3 + [
        "accumulate",
        "plain",
        "weights",
        "plain",
        "plain",
        "unused",
        "plain",
        "plain",
    ]
    for step, kind in enumerate(kinds):
        x = data_rng.normal(size=(5, 6))
        y = data_rng.integers(0, 4, size=5)
        grads = []
        for m, o in zip(models, opts, strict=True):
            o.zero_grad()
            if kind == "unused":
                F.cross_entropy(m[:4](cr.Tensor(x))[:, :4], y).backward()
            else:
                F.cross_entropy(m(cr.Tensor(x)), y).backward()
            if kind == "accumulate":
                F.cross_entropy(m(cr.Tensor(2 * x)), y).backward()
            if o.overlap and o._ov is not None and o._ov.armed:
                started_in_backward += o._ov.next
            o.synchronize(weight=(1 + r) if kind == "weights" else 1.0)
            grads.append([None if p.grad is None else p.grad.data.copy() for p in m.parameters()])
            o.step()
        for a, b in zip(*grads, strict=True):
            assert (a is None) == (b is None), (step, kind, "missing gradient")
            if a is not None:
                assert np.array_equal(a, b), (step, kind, np.abs(a - b).max())
        for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
            assert np.array_equal(p.data, q.data), (step, kind, "parameters")
    assert started_in_backward >= 2 * 6, started_in_backward  # buckets did start early
    dist.check_parameters(models[1])
    if dist.is_main():
        print(f"OK overlap ranks={n_ranks} started_in_backward={started_in_backward}")


def sampler() -> None:
    from chainrule import distributed as dist
    from chainrule.data import DataLoader, TensorDataset

    n_ranks = dist.world_size()
    n = 23
    s = dist.DistributedSampler(n, seed=5)
    loader = DataLoader(TensorDataset(np.arange(n)), batch_size=4, sampler=s)
    epochs = []
    for _ in range(3):
        mine = np.concatenate([xb.data for (xb,) in loader])
        everyone = dist.allgather_object(mine)
        assert len({len(e) for e in everyone}) == 1, "ranks take different step counts"
        allidx = np.concatenate(everyone)
        counts = np.bincount(allidx, minlength=n)
        pad = -(-n // n_ranks) * n_ranks - n
        assert len(allidx) == n + pad and (counts >= 1).all() and counts.sum() - n == pad
        assert (counts > 1).sum() <= pad
        epochs.append(everyone[0].tolist())
    assert epochs[0] != epochs[1] != epochs[2], "no reshuffle between epochs"
    if dist.is_main():
        print(f"OK sampler ranks={n_ranks}")


def raise_on_rank_1() -> None:
    from chainrule import distributed as dist

    dist.init()
    dist.barrier()
    if dist.rank() == 1:
        time.sleep(0.2)
        raise RuntimeError("boom on purpose from rank 1")
    dist.allreduce(np.ones(3))  # the others wait here: they must be ended, not hang
    time.sleep(60)


def mismatch() -> None:
    from chainrule import distributed as dist
    from chainrule import nn

    hidden = 8 if dist.rank() == 0 else 9
    model = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    dist.broadcast_parameters(model)
    time.sleep(60)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "exact" and sys.argv[2:] == ["overlap"]:
        exact(overlap=True)
    else:
        {
            "exact": exact,
            "overlap": overlap,
            "sampler": sampler,
            "raise": raise_on_rank_1,
            "mismatch": mismatch,
        }[mode]()
