"""Benchmark: data-parallel training over MPI (chainrule.distributed) on one machine.

Measures, each in a fresh process (or ``mpiexec -n 2`` job) with its BLAS thread count set
before NumPy loads, every configuration once per round and the rounds interleaved (a slow
phase of a shared machine hits all configurations alike), reporting the median and range:

* the MLP 784-1024-1024-10 SGD step (float32) at a global batch of 256 with 1 rank x
  1 thread, 2 ranks x 1 thread (blocking reduction, and ``overlap=True``), 1 rank x
  2 threads, and two independent 1-rank processes at once on 128 examples each with no
  communication (the bound for 2 ranks here); the same at a global batch of 1024; where the
  time of one step goes (forward + backward, synchronize, SGD step; the slower rank);
* one epoch of the NER window tagger (softmax, the ``ner train`` defaults: 128 tokens per
  rank) with 1 x 1, 2 x 1 and 1 x 2;
* allreduce (``Allreduce`` in place, float32) time from 8 B to 32 MiB on 2 ranks, fitted
  to the ring model ``t = 2(N-1)/N * bytes / B + 2(N-1) * a`` for latency ``a`` and
  bandwidth ``B`` on this machine (shared memory);
* from those, the predicted step time and efficiency on 8, 64 and 512 ranks of a 25 Gb/s
  cluster (``a`` = 20 us assumed), for the MLP (dense allreduce of its 7.4 MB of
  gradients) and the NER model (dense layers by allreduce, embedding rows by allgather).

Needs the ``mpi`` extra (``pip install -e '.[mpi]'``).
``python bench/bench_distributed.py [--rounds R] [--mlp-only]`` prints the Markdown tables
and (without ``--mlp-only``) writes them to ``bench/results/distributed.md``.
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
CLUSTER_BW = 25e9 / 8  # 25 Gb/s in bytes/s
CLUSTER_LAT = 20e-6  # assumed per-message latency of such a network (s)


# ---------------------------------------------------------------------- workers
def _mlp_worker(steps: int = 30) -> dict:
    import numpy as np

    from chainrule import distributed as dist
    from chainrule import nn, optim
    from chainrule.nn import functional as F

    n, r = dist.world_size(), dist.rank()
    global_batch = int(os.environ.get("BENCH_BATCH", GLOBAL_BATCH))
    # "solo": one of two independent processes run at the same time, each on half the
    # batch with no communication at all: the bound for 2 ranks on this machine
    solo = os.environ.get("BENCH_SOLO") == "1"
    rng = np.random.default_rng(0)
    sizes = (784, 1024, 1024, 10)
    layers: list = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b, rng=rng), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    dist.broadcast_parameters(model)
    opt = dist.DistributedOptimizer(
        optim.SGD(model.parameters(), lr=0.01), overlap=os.environ.get("BENCH_OVERLAP") == "1"
    )
    parts = 2 if solo else n
    per = global_batch // parts
    X = rng.normal(size=(global_batch, 784)).astype(np.float32)[r * per : (r + 1) * per]
    y = rng.integers(0, 10, size=global_batch)[r * per : (r + 1) * per]
    import chainrule as cr

    xb = cr.Tensor(X)
    # per step: forward + backward, synchronize (pack, allreduce, unpack; or wait for the
    # buckets started during backward), the SGD step; the median of each over the steps
    phases: dict[str, list[float]] = {"compute": [], "sync": [], "step": [], "total": []}
    for _ in range(steps):
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(xb), y).backward()
        t1 = time.perf_counter()
        opt.synchronize()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
            phases[k].append(v)
    med = np.array([float(np.median(v[5:])) for v in phases.values()])
    worst = dist.allreduce(med, op="max")  # the slower rank sets the pace
    out = dict(zip(("compute_s", "sync_s", "opt_step_s", "step_s"), map(float, worst), strict=True))
    out["grad_bytes"] = sum(p.size for p in model.parameters()) * 4
    return out


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
    return {
        "epoch_s": res.history[0]["seconds"],
        "dense_bytes": dense * 4,
        "sparse_row_bytes": width * 4 + 8 * len(tables),
        "rows_per_rank_step": 128 * window,
        "tokens": int(sum(len(s.words) for s in train_s)),
        "source": source,
    }


def _allreduce_worker() -> dict:
    import numpy as np

    from chainrule import distributed as dist

    c = dist.comm()
    from mpi4py import MPI

    out = {}
    for k in range(12):  # 8 B .. 32 MiB of float32
        n = 2 * 4**k
        buf = np.ones(n, dtype=np.float32)
        reps = 200 if n < 2**16 else 10
        times = []
        for _ in range(reps + 3):  # the median: robust to a busy machine
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
def _launch(task: str, ranks: int, threads: int, extra: dict | None = None) -> dict:
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        **(extra or {}),
    )
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", task]
    if ranks > 1:
        exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
        cmd = [exe, "-n", str(ranks), *cmd]
    if (extra or {}).get("BENCH_SOLO") == "1":  # two independent processes at once
        procs = [
            subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
            for _ in range(2)
        ]
        outs = [_result(cmd, *p.communicate(timeout=1200)) for p in procs]
        return {k: max(o[k] for o in outs) for k in outs[0]}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    return _result(cmd, proc.stdout, proc.stderr)


def _result(cmd: list[str], stdout: str, stderr: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{stdout}\n{stderr}")


# (label, ranks, threads, extra environment); each is launched once per round
CONFIGS = {
    "1x1": ("1 rank x 1 thread", 1, 1, {}),
    "2x1": ("2 ranks x 1 thread", 2, 1, {}),
    "2x1o": ("2 ranks x 1 thread, overlap", 2, 1, {"BENCH_OVERLAP": "1"}),
    "1x2": ("1 rank x 2 threads", 1, 2, {}),
    "solo": ("2 x 1 process, no communication", 1, 1, {"BENCH_SOLO": "1"}),
}
PLAN = [
    ("mlp", 256, ("1x1", "2x1", "2x1o", "1x2", "solo")),
    ("mlp", 1024, ("1x1", "2x1", "1x2")),
    ("ner", 0, ("1x1", "2x1", "1x2")),
]


def _rounds(rounds: int, plan: list) -> dict:
    """Every configuration once per round, rounds interleaved: a slow phase of a shared
    machine hits all of them alike. Returns {(task, batch, config): [result per round]}."""
    res: dict = {}
    for _ in range(rounds):
        for task, batch, cfgs in plan:
            for cfg in cfgs:
                _, ranks, threads, extra = CONFIGS[cfg]
                env = dict(extra, BENCH_BATCH=str(batch)) if batch else extra
                res.setdefault((task, batch, cfg), []).append(_launch(task, ranks, threads, env))
    return res


def _med(runs: list[dict], key: str) -> tuple[float, float, float]:
    import numpy as np

    v = np.array([r[key] for r in runs])
    return float(np.median(v)), float(v.min()), float(v.max())


def _fit(points: dict) -> tuple[float, float]:
    """Latency (s) and bandwidth (B/s) of the 2-rank ring model t = bytes/B + 2a."""
    import numpy as np

    sizes = np.array(sorted(int(k) for k in points), dtype=float)
    times = np.array(
        [points[str(int(s))] if str(int(s)) in points else points[int(s)] for s in sizes]
    )
    lat = float(np.median(times[sizes <= 512])) / 2  # small messages: latency only
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
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 3
    plan = [x for x in PLAN if x[0] == "mlp"] if "--mlp-only" in argv else PLAN
    rows = []
    all_runs = _rounds(rounds, plan)
    lines = [
        f"Median of {rounds} interleaved rounds (range in brackets); speed-up = median "
        f"1 x 1 time / median time.",
        "",
        "| workload | configuration | time | speed-up |",
        "|---|---|---:|---:|",
    ]
    for task, batch, cfgs in plan:
        key, unit, scale = (
            ("step_s", "ms/step", 1e3) if task == "mlp" else ("epoch_s", "s/epoch", 1.0)
        )
        name = (
            f"MLP 784-1024-1024-10, global batch {batch}"
            if task == "mlp"
            else "NER epoch (softmax, 128 tokens/rank)"
        )
        base = _med(all_runs[task, batch, "1x1"], key)[0]
        for cfg in cfgs:
            m, lo, hi = _med(all_runs[task, batch, cfg], key)
            speed = "" if cfg == "1x1" else f"{base / m:.2f}x"
            lines.append(
                f"| {name} | {CONFIGS[cfg][0]} | {m * scale:.1f} {unit} "
                f"[{lo * scale:.1f}-{hi * scale:.1f}] | {speed} |"
            )
    rows.append("\n".join(lines))
    # where the time of one MLP step goes (batch 256; the slower rank's medians)
    ph = [
        "| MLP step, global batch 256 | forward + backward | synchronize | SGD step | total |",
        "|---|---:|---:|---:|---:|",
    ]
    for cfg in ("1x1", "2x1", "2x1o", "solo"):
        runs = all_runs["mlp", 256, cfg]
        cells = [
            f"{_med(runs, k)[0] * 1e3:.1f} ms"
            for k in ("compute_s", "sync_s", "opt_step_s", "step_s")
        ]
        ph.append(f"| {CONFIGS[cfg][0]} | " + " | ".join(cells) + " |")
    rows.append("\n".join(ph))
    if "--mlp-only" in argv:
        text = "\n\n".join(rows)
        print(text)
        return text
    res = {
        ("mlp", 1, 1): {
            k: _med(all_runs["mlp", 256, "1x1"], k)[0] for k in ("step_s", "grad_bytes")
        },
        ("ner", 1, 1): dict(
            all_runs["ner", 0, "1x1"][0], epoch_s=_med(all_runs["ner", 0, "1x1"], "epoch_s")[0]
        ),
    }

    ar = _launch("allreduce", 2, 1)["allreduce"]
    lat, bw = _fit(ar)
    t = ["| message | 2-rank allreduce |", "|---:|---:|"]
    for k in sorted(ar, key=int):
        t.append(f"| {int(k):,} B | {ar[k] * 1e6:,.1f} us |")
    rows.append(
        "\n".join(t) + f"\n\nfit (2 ranks, shared memory): latency {lat * 1e6:.2f} us,"
        f" bandwidth {bw / 1e9:.2f} GB/s"
    )

    mlp_c = res["mlp", 1, 1]["step_s"]  # compute of 256 examples on one rank
    mlp_bytes = res["mlp", 1, 1]["grad_bytes"]
    ner = res["ner", 1, 1]
    steps1 = ner["tokens"] / 128
    ner_c = ner["epoch_s"] / steps1  # compute per 128-token step
    p = [
        "| ranks | MLP step (256/rank) | MLP eff. | NER step (128 tok/rank) | NER eff. |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in (8, 64, 512):
        comm_mlp = ring_allreduce(mlp_bytes, n, CLUSTER_BW, CLUSTER_LAT)
        comp_mlp = mlp_c
        sparse_total = n * ner["rows_per_rank_step"] * ner["sparse_row_bytes"]
        # dense allreduce; rows by two Allgatherv (indices, values: bytes counted once in
        # sparse_row_bytes, latency twice); the small descriptor Allgather
        comm_ner = (
            ring_allreduce(ner["dense_bytes"], n, CLUSTER_BW, CLUSTER_LAT)
            + ring_allgather(sparse_total, n, CLUSTER_BW, CLUSTER_LAT)
            + (n - 1) * CLUSTER_LAT
            + ring_allgather(8 * 20 * n, n, CLUSTER_BW, CLUSTER_LAT)
        )
        p.append(
            f"| {n} | {(comp_mlp + comm_mlp) * 1e3:.1f} ms | "
            f"{comp_mlp / (comp_mlp + comm_mlp):.0%} | {(ner_c + comm_ner) * 1e3:.2f} ms | "
            f"{ner_c / (ner_c + comm_ner):.0%} |"
        )
    rows.append(
        "\n".join(p) + f"\n\nmodel inputs: MLP compute {mlp_c * 1e3:.1f} ms/step, "
        f"{mlp_bytes / 1e6:.1f} MB of gradients; NER compute {ner_c * 1e3:.2f} "
        f"ms/step, {ner['dense_bytes'] / 1e6:.2f} MB dense, "
        f"{ner['rows_per_rank_step']} embedding rows x {ner['sparse_row_bytes']} B per "
        f"rank and step; network {CLUSTER_BW * 8 / 1e9:.0f} Gb/s, latency "
        f"{CLUSTER_LAT * 1e6:.0f} us"
    )
    text = "\n\n".join(rows)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "distributed.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return text


if __name__ == "__main__":
    main()
