"""Benchmark: NER window tagger, chainrule vs the same model in PyTorch.

Measures, at the same thread count for both libraries (``torch.set_num_threads`` and
NumPy's BLAS through threadpoolctl):

* training time per epoch (seconds) of the window network, for the word-level softmax and
  for the CRF (sentence-level likelihood), with the same features, sizes, batch sizes and
  optimiser (lazy Adam on the sparse embedding tables, Adam on the rest);
* tagging throughput (tokens/s) of the trained-model decoder, and of raw-text tagging
  (tokenising included) for chainrule.

Uses the CoNLL-2003 training set from ``$CHAINRULE_DATA/conll2003`` (or ``../shared/data``)
when present, otherwise a synthetic corpus of the same size (the timing depends on the
sizes, not on the words). Run::

    PYTHONPATH=src python bench/bench_ner.py [--threads 1 2] [--epochs 1] [--write]

``--write`` stores the table in ``bench/results/ner.md`` (copied into ``bench/README.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.apps.ner.conll import read_conll
from chainrule.apps.ner.data import FeatureExtractor, toy_corpus
from chainrule.apps.ner.tagger import tag_text
from chainrule.apps.ner.train import (
    TrainConfig,
    _make_optimizer,
    blas_threads,
    build_model,
    epoch_batches,
)

HERE = Path(__file__).resolve().parent


def _data() -> tuple[list, list, str]:
    roots = [os.environ.get("CHAINRULE_DATA"), str(HERE.parent.parent / "shared" / "data")]
    for r in roots:
        if r and (Path(r) / "conll2003" / "train.txt").exists():
            d = Path(r) / "conll2003"
            return read_conll(d / "train.txt"), read_conll(d / "valid.txt"), "CoNLL-2003"
    rng = np.random.default_rng(0)
    return toy_corpus(14000, rng), toy_corpus(3000, rng), "synthetic (no data found)"


# ---------------------------------------------------------------------- chainrule
def _chainrule_epoch(cfg: TrainConfig, fx: FeatureExtractor, enc, epochs: int) -> float:
    rng = np.random.default_rng(0)
    model = build_model(cfg, fx, rng)
    opt = _make_optimizer(cfg, model)
    times = []
    for _ in range(epochs):
        batches = epoch_batches(cfg, enc, rng)
        t0 = time.perf_counter()
        for b in batches:
            loss = model.loss(b)
            loss.backward()
            opt.step()
            opt.zero_grad()
        times.append(time.perf_counter() - t0)
    return min(times), model


# ---------------------------------------------------------------------- PyTorch
def _torch_model(torch, cfg: TrainConfig, fx: FeatureExtractor):
    nn = torch.nn
    feats = fx.config.features
    dims = cfg.dims()
    width = 2 * fx.config.window + 1
    n_tags = len(fx.tagset)

    class Window(nn.Module):
        def __init__(self):
            super().__init__()
            self.embs = nn.ModuleDict(
                {f: nn.Embedding(fx.table_size(f), dims[f], sparse=True) for f in feats}
            )
            in_dim = width * sum(dims[f] for f in feats)
            self.hidden = nn.Linear(in_dim, cfg.hidden)
            self.out = nn.Linear(cfg.hidden, n_tags)
            self.drop = nn.Dropout(cfg.dropout)
            self.trans = nn.Parameter(torch.zeros(n_tags, n_tags))
            self.start = nn.Parameter(torch.zeros(n_tags))
            self.end = nn.Parameter(torch.zeros(n_tags))

        def scores(self, windows):
            parts = [self.embs[f](windows[f]).flatten(1) for f in feats]
            x = self.drop(torch.cat(parts, 1))
            return self.out(self.drop(torch.tanh(self.hidden(x))))

    return Window()


def _torch_crf_nll(torch, e, tags, mask, start, trans, end):
    # The same forward algorithm as chainrule.apps.ner.crf, written for PyTorch.
    b, t, k = e.shape
    alpha = e[:, 0] + start
    for i in range(1, t):
        new = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + e[:, i]
        alpha = torch.where(mask[:, i].unsqueeze(1), new, alpha)
    log_z = torch.logsumexp(alpha + end, dim=1)
    rows = torch.arange(b).unsqueeze(1)
    cols = torch.arange(t).unsqueeze(0)
    w = mask.to(e.dtype)
    y = torch.where(mask, tags, torch.zeros_like(tags))
    score = (e[rows, cols, y] * w).sum(1) + start[y[:, 0]]
    last = y[torch.arange(b), mask.sum(1) - 1]
    score = score + end[last] + (trans[y[:, :-1], y[:, 1:]] * w[:, 1:]).sum(1)
    return (log_z - score).sum() / mask.sum()


def _torch_epoch(torch, cfg: TrainConfig, fx: FeatureExtractor, enc, epochs: int) -> float:
    torch.manual_seed(0)
    model = _torch_model(torch, cfg, fx)
    sparse = [p for n, p in model.named_parameters() if n.startswith("embs.")]
    dense = [p for n, p in model.named_parameters() if not n.startswith("embs.")]
    opts = [torch.optim.SparseAdam(sparse, lr=cfg.lr), torch.optim.Adam(dense, lr=cfg.lr)]
    rng = np.random.default_rng(0)
    times = []
    for _ in range(epochs):
        batches = epoch_batches(cfg, enc, rng)
        # Conversion to tensors is done before timing, as chainrule's batches are arrays.
        tb = [
            (
                {f: torch.from_numpy(w) for f, w in b.windows.items()},
                torch.from_numpy(b.tags),
                None if b.mask is None else torch.from_numpy(b.mask),
            )
            for b in batches
        ]
        t0 = time.perf_counter()
        for windows, tags, mask in tb:
            s = model.scores(windows)
            if mask is None:
                loss = torch.nn.functional.cross_entropy(s, tags)
            else:
                n = int(mask.sum())
                index = torch.full(mask.shape, n, dtype=torch.long)
                index[mask] = torch.arange(n)
                padded = torch.cat([s, s.new_zeros(1, s.shape[1])])[index]
                loss = _torch_crf_nll(
                    torch, padded, tags, mask, model.start, model.trans, model.end
                )
            for o in opts:
                o.zero_grad()
            loss.backward()
            for o in opts:
                o.step()
        times.append(time.perf_counter() - t0)
    return min(times)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=1, help="epochs timed (the best is kept)")
    ap.add_argument("--decoders", nargs="+", default=["softmax", "crf"])
    ap.add_argument("--write", action="store_true", help="write bench/results/ner.md")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    train_s, dev_s, source = _data()
    rows = []
    throughput = []
    for decoder in args.decoders:
        cfg = TrainConfig(decoder=decoder)
        fx = FeatureExtractor.build(train_s, cfg.feature_config())
        enc = fx.encode(train_s)
        for n in args.threads:
            with blas_threads(n):
                t_cr, model = _chainrule_epoch(cfg, fx, enc, args.epochs)
                t_pt = None
                if torch is not None:
                    torch.set_num_threads(n)
                    t_pt = _torch_epoch(torch, cfg, fx, enc, args.epochs)
                rows.append((decoder, n, enc.n_tokens, t_cr, t_pt))
                print(
                    f"{decoder:8s} threads={n}: chainrule {t_cr:6.2f} s/epoch"
                    + (f", PyTorch {t_pt:6.2f} s/epoch" if t_pt else ""),
                    flush=True,
                )
                if n == args.threads[0]:
                    enc_dev = fx.encode(dev_s)
                    model.eval()
                    t0 = time.perf_counter()
                    model.predict(enc_dev, constrained=True)
                    t_dec = time.perf_counter() - t0
                    text = "\n\n".join(" ".join(s.words) for s in dev_s)
                    t0 = time.perf_counter()
                    tagged = tag_text(model, fx, text)
                    t_raw = time.perf_counter() - t0
                    n_raw = sum(len(s.tokens) for s in tagged)
                    throughput.append((decoder, n, enc_dev.n_tokens / t_dec, n_raw / t_raw))
    table = [
        "| decoder | threads | tokens/epoch | chainrule s/epoch | PyTorch s/epoch | PT / cr |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for decoder, n, tok, t_cr, t_pt in rows:
        ratio = f"{t_pt / t_cr:.2f}" if t_pt else "n/a"
        pt = f"{t_pt:.2f}" if t_pt else "n/a"
        table.append(f"| {decoder} | {n} | {tok} | {t_cr:.2f} | {pt} | {ratio} |")
    table += [
        "",
        "| decoder | threads | decode tokens/s (encoded dev) | raw-text tag tokens/s |",
        "|---|---:|---:|---:|",
    ]
    for decoder, n, dec, raw in throughput:
        table.append(f"| {decoder} | {n} | {dec:,.0f} | {raw:,.0f} |")
    env = (
        f"numpy {np.__version__}, "
        + (f"torch {torch.__version__}, " if torch is not None else "")
        + f"chainrule {cr.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs ({platform.machine()}); data: {source}"
    )
    text = "\n".join(table)
    print(text)
    print(env)
    if args.write:
        out = HERE / "results" / "ner.md"  # bench/results/ is git-ignored
        out.parent.mkdir(exist_ok=True)
        out.write_text(text + "\n\n" + env + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
