"""Benchmark: ``chainrule.compile`` against hand-written NumPy, eager chainrule and PyTorch.

Cases (issue #10's targets), float32, one BLAS thread:

* ``small_mlp``: one SGD training step of an MLP 50-100-10 at batch 16 (overhead-bound),
  with the loss compiled (a node of the eager graph, then ``backward()`` and ``step()``)
  and with the whole step compiled (``optim.compile_step``: ``forward_backward``, then the
  update);
* ``chain``: 100 elementwise ops (add, mul, tanh) on 4x4, forward + backward, per op;
* ``big_mlp``: one SGD step of an MLP 784-1024-1024-10 at batch 256 (BLAS-bound);
* ``memory``: peak memory above setup of one forward + backward of 20 layers x 1024
  (tanh) at batch 512 (tracemalloc: NumPy reports its allocations to it);
* ``first_call``: the first call of the compiled small-MLP loss (trace, gradient program,
  passes, code generation), median of fresh compiles;
* ``--ner``: one CoNLL-2003 epoch of the softmax NER tagger, eager against the compiled
  step (needs the data).

Contenders are timed in interleaved rounds and keep their best round (see
``bench_mlp.compare``), so the ratios hold on a shared machine. Run
``python bench/bench_compile.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_mlp import LR, _data, compare, numpy_step_fn, torch_step_fn  # noqa: E402
from bench_overhead import N_OPS, _chain  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import nn, optim  # noqa: E402
from chainrule.nn import functional as F  # noqa: E402


def _model(sizes: tuple[int, ...], act: type = nn.ReLU, dtype: str = "float32") -> nn.Module:
    rng = np.random.default_rng(1)
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b, rng=rng), act()]
    layers.append(nn.Linear(sizes[-2], sizes[-1], rng=rng))
    model = nn.Sequential(*layers)
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    return model


def step_fn(sizes: tuple[int, ...], batch: int, mode: str):
    """bench_mlp's chainrule step (float32 here): ``mode`` "eager", "compiled" (the loss
    compiled, one node of the eager graph, then backward() and step()) or "step" (the
    whole step compiled: ``optim.compile_step``)."""
    model = _model(sizes)
    opt = optim.SGD(model.parameters(), lr=LR)
    X, y = _data(sizes, batch)
    Xt = cr.Tensor(X)

    def loss_fn(x, t):
        return F.cross_entropy(model(x), t)

    if mode == "step":
        compiled_step = optim.compile_step(loss_fn, opt)
        return lambda: compiled_step(Xt, y)
    loss = cr.compile(loss_fn) if mode == "compiled" else loss_fn

    def step() -> None:
        opt.zero_grad()
        loss(Xt, y).backward()
        opt.step()

    return step


def code_only_fn(sizes: tuple[int, ...], batch: int, workdir: str):
    """The generated code alone: the exported module's forward and backward (what
    ``cfn.export`` writes, NumPy only), then the SGD update as NumPy statements; no Python
    around it (no argument checks, no ``.grad``, no optimiser object). The floor that
    removing every layer of glue from the compiled step could reach."""
    import importlib.util

    model = _model(sizes)
    X, y = _data(sizes, batch)
    params = [p.data for p in model.parameters()]
    cf = cr.compile(lambda x, t: F.cross_entropy(model(x), t))
    path = os.path.join(workdir, f"step_{'_'.join(map(str, sizes))}.py")
    cf.export(path, cr.Tensor(X), y)
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    seed = np.ones((), dtype=np.float32)

    def step() -> None:
        outs, saved = mod.forward(X, y, *params)
        grads = mod.backward(seed, list(saved), X, y, *params)
        for w, g in zip(params, grads[2:], strict=True):
            w -= LR * g

    return step


# ---------------------------------------------------------------------- the 100-op chain
def numpy_chain_fn():
    """Forward saving what backward needs, then the backward loop, written by hand.

    Returns the step, which returns dL/dc: c enters every add *and* every mul, so each mul
    passes a gradient to c too (g·y) besides the one to y (g·c); the benchmark checks that
    every contender computes this same gradient.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 4)).astype(np.float32)
    c = rng.uniform(0.5, 1.0, size=(4, 4)).astype(np.float32)

    def fb() -> np.ndarray:
        saved = []
        y = x
        for i in range(N_OPS):
            k = i % 3
            if k == 0:
                y = y + c
            elif k == 1:
                saved.append(y)  # the mul's input: its gradient for c
                y = y * c
            else:
                y = np.tanh(y)
                saved.append(y)
        g = np.ones_like(y)
        gc = np.zeros_like(c)
        for i in range(N_OPS - 1, -1, -1):
            k = i % 3
            if k == 0:
                gc += g
            elif k == 1:
                gc += g * saved.pop()
                g = g * c
            else:
                t = saved.pop()
                g = g * (1 - t * t)
        return gc

    return fb


def chain_fns():
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(4, 4)).astype(np.float32)
    cv = rng.uniform(0.5, 1.0, size=(4, 4)).astype(np.float32)
    c = cr.Tensor(cv, requires_grad=True)
    x = cr.Tensor(xv)
    cf = cr.compile(lambda x_: _chain(x_, c, cr.tanh).sum())

    def eager() -> None:
        c.grad = None
        _chain(x, c, cr.tanh).sum().backward()

    def compiled() -> None:
        c.grad = None
        cf(x).backward()

    def step() -> None:  # loss and gradients in one go (what compile_step runs)
        c.grad = None
        cf.forward_backward(x)

    fns = {"numpy": numpy_chain_fn(), "eager": eager, "compiled": compiled, "step": step}
    expected = fns["numpy"]()
    for name in ("eager", "compiled", "step"):
        fns[name]()
        np.testing.assert_allclose(c.grad.data, expected, rtol=1e-4, err_msg=name)
    try:
        import torch

        torch.set_num_threads(1)
        xt, ct = torch.from_numpy(xv), torch.from_numpy(cv).requires_grad_()

        def th() -> None:
            ct.grad = None
            _chain(xt, ct, torch.tanh).sum().backward()

        fns["torch"] = th
    except ImportError:
        pass
    return fns


# ---------------------------------------------------------------------- memory
def peak_memory(kind: str, layers: int = 20, width: int = 1024, batch: int = 512) -> float:
    """MiB allocated above setup at the peak of one forward + backward."""
    model = _model((width,) * (layers + 1) + (10,), act=nn.Tanh)
    x = cr.Tensor(np.random.default_rng(0).normal(size=(batch, width)).astype(np.float32))
    y = np.zeros(batch, dtype=np.int64)

    def loss_fn(x_, t):
        return F.cross_entropy(model(x_), t)

    if kind == "compiled":
        fn = cr.compile(loss_fn)
    elif kind == "trace replay":
        from chainrule.jit import trace

        prog = trace(loss_fn, x, y)
        fn = prog
    else:
        fn = loss_fn
    fn(x, y).backward()  # warm up (and trace)
    for p in model.parameters():
        p.grad = None
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn(x, y).backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def first_call_ms(repeats: int = 7) -> float:
    times = []
    X, y = _data((50, 100, 10), 16)
    for _ in range(repeats):
        model = _model((50, 100, 10))
        cf = cr.compile(lambda x, t, m=model: F.cross_entropy(m(x), t))
        t0 = time.perf_counter()
        cf(cr.Tensor(X), y)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


# ---------------------------------------------------------------------- report
def run(quick: bool) -> list[str]:
    min_time, rounds = (0.2, 3) if quick else (0.4, 7)
    lines, floors = [], []
    workdir = tempfile.mkdtemp(prefix="bench_compile_")
    for name, sizes, batch in (
        ("small_mlp", (50, 100, 10), 16),
        ("big_mlp", (784, 1024, 1024, 10), 256),
    ):
        steps = {
            "numpy": numpy_step_fn(sizes, batch),
            "eager": step_fn(sizes, batch, "eager"),
            "compiled": step_fn(sizes, batch, "compiled"),
            "step": step_fn(sizes, batch, "step"),
            "code": code_only_fn(sizes, batch, workdir),
        }
        tstep = torch_step_fn(sizes, batch)
        if tstep is not None:
            steps["torch"] = tstep
        best = compare(steps, min_time, rounds if name == "small_mlp" else max(3, rounds // 2))
        floors.append(
            f"{name} {best['code']:,.0f} steps/s ({best['code'] / best['numpy']:.2f}x NumPy; "
            f"the compiled step {best['step'] / best['code']:.2f}x of it)"
        )
        row = " | ".join(
            f"{best.get(k, float('nan')):,.0f}"
            for k in ("numpy", "eager", "compiled", "step", "torch")
        )
        lines.append(
            f"| {name} {'-'.join(map(str, sizes))} b{batch} | {row} | "
            f"{best['step'] / best['numpy']:.2f}x | "
            f"{best['step'] / best['eager']:.2f}x |"
        )
        print(lines[-1], file=sys.stderr)
    fns = chain_fns()
    best = compare(fns, min_time, rounds)
    per_op = {k: 1e6 / v / N_OPS for k, v in best.items()}
    chain = (
        f"| chain of {N_OPS} ops 4x4 (µs/op) | {per_op['numpy']:.2f} | "
        f"{per_op['eager']:.2f} | {per_op['compiled']:.2f} | "
        f"{per_op['step']:.2f} | {per_op.get('torch', float('nan')):.2f} | "
        f"{per_op['step'] / per_op['numpy']:.2f}x (time) | "
        f"{per_op['step'] / per_op['eager']:.2f}x (time) |"
    )
    header = [
        "| case | NumPy by hand | eager | compiled call | compiled step | PyTorch | "
        "step / NumPy | step / eager |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    out = (
        ["### chainrule.compile (steps/s unless stated; ratios of speed, or of time per op)", ""]
        + header
        + lines
        + [chain]
    )
    mem = {k: peak_memory(k) for k in ("eager", "compiled", "trace replay")}
    out += [
        "",
        "Peak memory above setup, one forward + backward, 20 layers x 1024, batch 512 "
        "(float32): " + ", ".join(f"{k} {v:.0f} MiB" for k, v in mem.items()) + ".",
        f"First call (trace + gradient program + passes + code) of the small-MLP loss: "
        f"{first_call_ms():.1f} ms (median of 7).",
        "The generated code alone (the exported forward and backward, then SGD in NumPy, "
        "nothing around them), in the same rounds: " + "; ".join(floors) + ".",
    ]
    return out


def ner_epochs(rounds: int = 2, batches: int | None = None) -> str:
    """One CoNLL-2003 epoch of the default softmax tagger, eager and with the step compiled
    (``optim.compile_step``, what ``chainrule ner train --compile`` runs), interleaved;
    the same batches, dropout masks and unknown-word replacement off, clipping on as in
    ``chainrule ner train``. Needs the data (``CHAINRULE_DATA`` or ``../shared/data``)."""
    from bench_ner import _data

    from chainrule.apps.ner.data import FeatureExtractor
    from chainrule.apps.ner.train import (
        TrainConfig,
        _make_optimizer,
        build_model,
        epoch_batches,
    )

    train_s, _, source = _data()
    cfg = TrainConfig(decoder="softmax")
    fx = FeatureExtractor.build(train_s, cfg.feature_config())
    enc = fx.encode(train_s)

    def epoch(compiled: bool) -> tuple[float, float]:
        rng = np.random.default_rng(0)
        model = build_model(cfg, fx, rng)
        opt = _make_optimizer(cfg, model)
        params = list(model.parameters())
        todo = epoch_batches(cfg, enc, rng)[:batches]
        if compiled:
            step = optim.compile_step(model.loss_fn, opt, clip_grad_norm=cfg.clip_norm)
        t0 = time.perf_counter()
        for b in todo:
            if compiled:
                step(*model.loss_args(b))
            else:
                opt.zero_grad()
                model.loss(b).backward()
                optim.clip_grad_norm_(params, cfg.clip_norm)
                opt.step()
        seconds = time.perf_counter() - t0
        return seconds, float(np.abs(model.out.weight.data).sum())

    best = {False: np.inf, True: np.inf}
    weights = {}
    for _ in range(rounds):
        for compiled in (False, True):
            seconds, weights[compiled] = epoch(compiled)
            best[compiled] = min(best[compiled], seconds)
    same = "same" if weights[False] == weights[True] else "different"
    return (
        f"NER softmax epoch ({source}, {enc.n_tokens} tokens): eager {best[False]:.2f} s, "
        f"compiled step {best[True]:.2f} s ({best[True] / best[False]:.2f}x; {same} "
        f"weights; best of {rounds})."
    )


def small_mlp_repeats(repeats: int, min_time: float = 0.3, rounds: int = 7) -> list[str]:
    """The small-MLP comparison ``repeats`` times over (each its own interleaved rounds):
    on a machine whose speed drifts, the spread of the ratios says more than one table."""
    sizes, batch = (50, 100, 10), 16
    workdir = tempfile.mkdtemp(prefix="bench_compile_")
    steps = {
        "numpy": numpy_step_fn(sizes, batch),
        "eager": step_fn(sizes, batch, "eager"),
        "step": step_fn(sizes, batch, "step"),
        "code": code_only_fn(sizes, batch, workdir),
    }
    lines = []
    for _ in range(repeats):
        best = compare(steps, min_time, rounds)
        lines.append(
            "small MLP steps/s: "
            + ", ".join(f"{k} {v:,.0f}" for k, v in best.items())
            + f" | compiled step {best['step'] / best['numpy']:.2f}x NumPy, generated code "
            f"alone {best['code'] / best['numpy']:.2f}x, eager {best['eager'] / best['numpy']:.2f}x"
        )
        print(lines[-1], file=sys.stderr)
    return lines


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter timings")
    ap.add_argument(
        "--ner", action="store_true", help="also one NER epoch, eager vs compiled (minutes)"
    )
    ap.add_argument(
        "--repeat",
        type=int,
        metavar="N",
        help="only the small MLP (NumPy, eager, compiled step, generated code), N times",
    )
    args = ap.parse_args(argv)
    if args.repeat:
        text = "\n".join(small_mlp_repeats(args.repeat))
        print(text)
        return text
    lines = run(args.quick)
    if args.ner:
        lines.append(ner_epochs(batches=200 if args.quick else None))
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
