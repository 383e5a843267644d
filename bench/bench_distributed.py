"""Benchmark: data-parallel training over MPI (chainrule.distributed) on one machine.

Measures, each in a fresh process (or ``mpiexec -n 2`` job) with its BLAS thread count set
before NumPy loads:

* the MLP 784-1024-1024-10 SGD step (float32) at a global batch of 256, and one epoch of
  the NER window tagger (softmax, the ``ner train`` defaults: 128 tokens per rank), each
  with 1 rank x 1 thread, 2 ranks x 1 thread and 1 rank x 2 threads: speed-up over
  1 x 1 and parallel efficiency (speed-up / 2);
* allreduce (``Allreduce`` in place, float32) time from 8 B to 32 MiB on 2 ranks, fitted
  to the ring model ``t = 2(N-1)/N * bytes / B + 2(N-1) * a`` for latency ``a`` and
  bandwidth ``B`` on this machine (shared memory);
* from those, the predicted step time and efficiency on 8, 64 and 512 ranks of a 25 Gb/s
  cluster (``a`` = 20 us assumed), for the MLP (dense allreduce of its 7.4 MB of
  gradients) and the NER model (dense layers by allreduce, embedding rows by allgather).

Needs the ``mpi`` extra (``pip install -e '.[mpi]'``). ``python bench/bench_distributed.py``
prints the Markdown tables and writes them to ``bench/results/distributed.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GLOBAL_BATCH = 256
CLUSTER_BW = 25e9 / 8          # 25 Gb/s in bytes/s
CLUSTER_LAT = 20e-6            # assumed per-message latency of such a network (s)


# ---------------------------------------------------------------------- workers
def _mlp_worker(steps: int = 30) -> dict:
    import numpy as np

    from chainrule import distributed as dist
    from chainrule import nn, optim
    from chainrule.nn import functional as F

    n, r = dist.world_size(), dist.rank()
    rng = np.random.default_rng(0)
    sizes = (784, 1024, 1024, 10)
    layers: list = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b, rng=rng), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    dist.broadcast_parameters(model)
    opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.01))
    per = GLOBAL_BATCH // n
    X = rng.normal(size=(GLOBAL_BATCH, 784)).astype(np.float32)[r * per:(r + 1) * per]
    y = rng.integers(0, 10, size=GLOBAL_BATCH)[r * per:(r + 1) * per]
    import chainrule as cr

    xb = cr.Tensor(X)
    times = []
    for _ in range(steps):
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(xb), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    t = float(dist.allreduce(np.array([float(np.median(times[5:]))]), op="max")[0])
    params = sum(p.size for p in model.parameters())
    return {"step_s": t, "grad_bytes": params * 4}


def _ner_worker() -> dict:
    sys.path.insert(0, str(HERE))
    from bench_ner import _data

    from chainrule.apps.ner.train import TrainConfig, train

    train_s, dev_s, source = _data()
    cfg = TrainConfig(max_epochs=1, progress=False, threads=None)
    res = train(cfg, train_s, dev_s[:200])
    model = res.model
    dense = sum(p.size for n, p in model.named_parameters() if not n.startswith("emb_"))
    tables = [p for n, p in model.named_parameters() if n.startswith("emb_")]
    width = sum(p.shape[1] for p in tables)
    window = 2 * cfg.window + 1
    # rows per step on one rank: every window position of every token, every feature
    return {"epoch_s": res.history[0]["seconds"], "dense_bytes": dense * 4,
            "sparse_row_bytes": width * 4 + 8 * len(tables), "rows_per_rank_step": 128 * window,
            "tokens": int(sum(len(s.words) for s in train_s)),
            "source": source}


def _allreduce_worker() -> dict:
    import numpy as np

    from chainrule import distributed as dist

    c = dist.comm()
    from mpi4py import MPI

    out = {}
    for k in range(12):                    # 8 B .. 32 MiB of float32
        n = 2 * 4 ** k
        buf = np.ones(n, dtype=np.float32)
        reps = 200 if n < 2**16 else 10
        times = []
        for _ in range(reps + 3):          # the median: robust to a busy machine
            c.Barrier()
            t0 = time.perf_counter()
            c.Allreduce(MPI.IN_PLACE, buf)
            times.append(time.perf_counter() - t0)
        out[n * 4] = float(np.median(times[3:]))
    return {"allreduce": out}


def _worker(task: str) -> None:
    from chainrule import distributed as dist

    res = {"mlp": _mlp_worker, "ner": _ner_worker, "allreduce": _allreduce_worker}[task]()
    if dist.is_main():
        print("RESULT " + json.dumps(res), flush=True)


# ---------------------------------------------------------------------- driver
def _launch(task: str, ranks: int, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", task]
    if ranks > 1:
        exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
        cmd = [exe, "-n", str(ranks), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")


def _fit(points: dict) -> tuple[float, float]:
    """Latency (s) and bandwidth (B/s) of the 2-rank ring model t = bytes/B + 2a."""
    import numpy as np

    sizes = np.array(sorted(int(k) for k in points), dtype=float)
    times = np.array([points[str(int(s))] if str(int(s)) in points else points[int(s)]
                      for s in sizes])
    lat = float(np.median(times[sizes <= 512])) / 2   # small messages: latency only
    big = sizes >= 2**20
    bw = float(np.polyfit(times[big], sizes[big], 1)[0])
    return lat, bw


def ring_allreduce(nbytes: float, n: int, bw: float, lat: float) -> float:
    return 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * lat


def ring_allgather(total_bytes: float, n: int, bw: float, lat: float) -> float:
    return (n - 1) / n * total_bytes / bw + (n - 1) * lat


def main(argv: list[str] | None = None) -> str:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(argv[1])
        return ""
    rows = []
    res = {}
    for task in ("mlp", "ner"):
        for ranks, threads in ((1, 1), (2, 1), (1, 2)):
            res[task, ranks, threads] = _launch(task, ranks, threads)
    lines = ["| workload | 1 rank x 1 thread | 2 ranks x 1 thread | 1 rank x 2 threads |",
             "|---|---:|---:|---:|"]
    for task, key, unit in (("mlp", "step_s", "ms/step"), ("ner", "epoch_s", "s/epoch")):
        base = res[task, 1, 1][key]
        cells = []
        for cfg in ((1, 1), (2, 1), (1, 2)):
            t = res[(task, *cfg)][key]
            scale = 1000 if task == "mlp" else 1
            s = base / t
            cells.append(f"{t * scale:.1f} {unit}" + ("" if cfg == (1, 1) else
                                                       f" ({s:.2f}x, eff. {s / 2:.0%})"))
        name = ("MLP 784-1024-1024-10, global batch 256" if task == "mlp" else
                "NER epoch (softmax, 128 tokens/rank)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    rows.append("\n".join(lines))

    ar = _launch("allreduce", 2, 1)["allreduce"]
    lat, bw = _fit(ar)
    t = ["| message | 2-rank allreduce |", "|---:|---:|"]
    for k in sorted(ar, key=int):
        t.append(f"| {int(k):,} B | {ar[k] * 1e6:,.1f} us |")
    rows.append("\n".join(t) + f"\n\nfit (2 ranks, shared memory): latency {lat * 1e6:.2f} us,"
                f" bandwidth {bw / 1e9:.2f} GB/s")

    mlp_c = res["mlp", 1, 1]["step_s"]            # compute of 256 examples on one rank
    mlp_bytes = res["mlp", 1, 1]["grad_bytes"]
    ner = res["ner", 1, 1]
    steps1 = ner["tokens"] / 128
    ner_c = ner["epoch_s"] / steps1               # compute per 128-token step
    p = ["| ranks | MLP step (256/rank) | MLP eff. | NER step (128 tok/rank) | NER eff. |",
         "|---:|---:|---:|---:|---:|"]
    for n in (8, 64, 512):
        comm_mlp = ring_allreduce(mlp_bytes, n, CLUSTER_BW, CLUSTER_LAT)
        comp_mlp = mlp_c
        sparse_total = n * ner["rows_per_rank_step"] * ner["sparse_row_bytes"]
        # dense allreduce; rows by two Allgatherv (indices, values: bytes counted once in
        # sparse_row_bytes, latency twice); the small descriptor Allgather
        comm_ner = (ring_allreduce(ner["dense_bytes"], n, CLUSTER_BW, CLUSTER_LAT)
                    + ring_allgather(sparse_total, n, CLUSTER_BW, CLUSTER_LAT)
                    + (n - 1) * CLUSTER_LAT
                    + ring_allgather(8 * 20 * n, n, CLUSTER_BW, CLUSTER_LAT))
        p.append(f"| {n} | {(comp_mlp + comm_mlp) * 1e3:.1f} ms | "
                 f"{comp_mlp / (comp_mlp + comm_mlp):.0%} | {(ner_c + comm_ner) * 1e3:.2f} ms | "
                 f"{ner_c / (ner_c + comm_ner):.0%} |")
    rows.append("\n".join(p) + f"\n\nmodel inputs: MLP compute {mlp_c * 1e3:.1f} ms/step, "
                f"{mlp_bytes / 1e6:.1f} MB of gradients; NER compute {ner_c * 1e3:.2f} "
                f"ms/step, {ner['dense_bytes'] / 1e6:.2f} MB dense, "
                f"{ner['rows_per_rank_step']} embedding rows x {ner['sparse_row_bytes']} B per "
                f"rank and step; network {CLUSTER_BW * 8 / 1e9:.0f} Gb/s, latency "
                f"{CLUSTER_LAT * 1e6:.0f} us")
    text = "\n\n".join(rows)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "distributed.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return text


if __name__ == "__main__":
    main()
