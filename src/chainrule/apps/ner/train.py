"""Training the window tagger: mini-batches, early stopping on dev F1, reproducible runs.

:func:`train` builds the features from the training sentences, builds a
:class:`~chainrule.apps.ner.model.WindowTagger`, and runs epochs of mini-batch training
(token batches for the softmax decoder, sentence batches for the CRF). After each epoch it
scores the dev set with conlleval's entity F1 and keeps the best weights; it stops after
``patience`` epochs without improvement (or at ``max_epochs`` / ``time_budget``). All
randomness (initialisation, shuffling, dropout, unknown-word replacement) comes from one
``numpy.random.Generator`` seeded by ``TrainConfig.seed``, so a run is reproducible.

Under ``mpiexec -n N`` the run is data-parallel (:mod:`chainrule.distributed`): all ranks
draw the same shuffled order, each global batch of ``batch_size x N`` tokens (or
sentences) is split across the ranks, gradients are averaged weighted by each rank's token
count (exactly the gradient of the global batch's token-mean loss) before clipping and the
step; dropout and unknown-word replacement draw from a per-rank stream. Dev F1 is computed
from predictions made on each rank's share of the dev sentences and gathered, so every
rank takes the same early-stopping decisions; only rank 0 logs.

Examples
--------
>>> from chainrule.apps.ner.conll import Sentence
>>> data = [Sentence(["Peter", "lives", "in", "Paris", "."], ["B-PER", "O", "O", "B-LOC", "O"]),
...         Sentence(["Anna", "visited", "Rome", "."], ["B-PER", "O", "B-LOC", "O"])] * 20
>>> cfg = TrainConfig(max_epochs=3, hidden=16, batch_size=16, lr=0.01, progress=False)
>>> result = train(cfg, data, data)
>>> result.best_dev_f1 > 0.5
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

import chainrule as cr
from chainrule import optim
from chainrule.core import ChainruleError

from .conll import Sentence
from .data import Batch, EncodedCorpus, FeatureConfig, FeatureExtractor
from .features import load_vectors, replace_rare
from .metrics import Report, evaluate
from .model import ACTIVATIONS, DECODERS, WindowTagger

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "blas_threads",
    "build_model",
    "evaluate_model",
    "plot_learning_curve",
    "shard_batches",
    "train",
]

OPTIMIZERS = ("sgd", "adagrad", "adam", "adamw")
SCHEDULES = ("none", "exp", "cosine", "plateau")


class TrainError(ChainruleError):
    """Invalid training settings."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(
        v, bool | np.bool_
    )


@dataclass
class TrainConfig:
    """Every setting of a training run (saved with the model as ``config.json``).

    Features: ``features``, ``window``, ``min_freq`` (words rarer than this share
    ``<unk>``), ``affix_min_freq``. Network: ``word_dim``, ``caps_dim``, ``affix_dim``
    (suffixes and prefixes), ``shape_dim``, ``hidden``, ``activation``, ``dropout``,
    ``decoder`` ("softmax" or "crf"), ``constrained`` (forbid ill-formed IOB2 transitions
    when decoding; in the CRF also during training). Optimisation: ``optimizer``, ``lr``,
    ``weight_decay``, ``schedule`` with ``lr_gamma`` (exp: factor per epoch; plateau:
    factor when dev F1 does not improve), ``batch_size`` (tokens for softmax, default 128;
    sentences for crf, default 16), ``clip_norm``, ``unk_p`` (probability of replacing a
    singleton word by ``<unk>``). Stopping: ``max_epochs``, ``patience``, ``time_budget``
    (seconds, None for none). ``vectors``: optional GloVe/word2vec text file to initialise
    word embeddings.
    ``threads``: BLAS threads while training (None: leave the library's setting). One is
    the default because this model's matrix products are small: extra threads gain little
    and slow down badly when other processes compete for the cores.
    ``compile``: compute each step's loss and gradients with :func:`chainrule.compile`
    (generated NumPy code, one trace per batch shape; the same parameters as eager
    training, see ``docs/ner.md``). None (the default): where it is faster and gives the
    eager numbers, i.e. the softmax decoder on one process (the whole step compiled); True
    also compiles the CRF's forward algorithm; False trains eagerly.
    """

    decoder: str = "softmax"
    features: tuple[str, ...] = (
        "word",
        "caps",
        "suffix2",
        "suffix3",
        "suffix4",
        "prefix2",
        "prefix3",
        "prefix4",
        "shape",
    )
    window: int = 2
    min_freq: int = 1
    affix_min_freq: int = 2
    word_dim: int = 50
    caps_dim: int = 5
    affix_dim: int = 20
    shape_dim: int = 10
    hidden: int = 300
    activation: str = "relu"
    dropout: float = 0.5
    constrained: bool = True
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "exp"
    lr_gamma: float = 0.9
    batch_size: int | None = None
    clip_norm: float | None = 5.0
    unk_p: float = 0.5
    max_epochs: int = 20
    patience: int = 5
    time_budget: float | None = None
    seed: int = 0
    threads: int | None = 1
    vectors: str | None = None
    progress: bool = True
    compile: bool | None = None

    def __post_init__(self) -> None:
        self.features = tuple(self.features)
        bad: list[str] = []
        # Integers (bool and 2.5 are not), each with its least value; None allowed where
        # the setting is optional.
        for name, low, optional in (
            ("window", 0, False),
            ("min_freq", 1, False),
            ("affix_min_freq", 1, False),
            ("word_dim", 1, False),
            ("caps_dim", 1, False),
            ("affix_dim", 1, False),
            ("shape_dim", 1, False),
            ("hidden", 0, False),
            ("batch_size", 1, True),
            ("max_epochs", 1, False),
            ("patience", 1, False),
            ("seed", 0, False),
            ("threads", 1, True),
        ):
            v = getattr(self, name)
            if v is None and optional:
                continue
            if not _is_int(v) or v < low:
                bad.append(
                    f"{name} must be an integer >= {low}{' or None' if optional else ''}, got {v!r}"
                )
        # Finite numbers in range. A negative clip_norm would scale gradients by a negative
        # factor, i.e. gradient *ascent*; a negative time budget would stop after one epoch.
        for name, ok, rule, optional in (
            ("lr", lambda v: v > 0, "> 0", False),
            ("lr_gamma", lambda v: 0 < v <= 1, "in (0, 1]", False),
            ("dropout", lambda v: 0 <= v < 1, "in [0, 1)", False),
            ("unk_p", lambda v: 0 <= v <= 1, "in [0, 1]", False),
            ("weight_decay", lambda v: v >= 0, ">= 0", False),
            ("clip_norm", lambda v: v > 0, "> 0", True),
            ("time_budget", lambda v: v > 0, "> 0", True),
        ):
            v = getattr(self, name)
            if v is None and optional:
                continue
            if not (_is_real(v) and math.isfinite(v) and ok(v)):
                bad.append(
                    f"{name} must be a finite number {rule}"
                    f"{' or None' if optional else ''}, got {v!r}"
                )
        if self.compile is not None and not isinstance(self.compile, bool | np.bool_):
            bad.append(f"compile must be True, False or None (automatic), got {self.compile!r}")
        for name, allowed in (
            ("decoder", DECODERS),
            ("activation", ACTIVATIONS),
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
        ):
            if getattr(self, name) not in allowed:
                bad.append(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if bad:
            raise TrainError("invalid training settings: " + "; ".join(bad))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise TrainError(f"unknown training settings {unknown}")
        return cls(**d)

    @property
    def effective_batch_size(self) -> int:
        """``batch_size``, or the decoder's default (128 tokens / 16 sentences)."""
        if self.batch_size is not None:
            return self.batch_size
        return 16 if self.decoder == "crf" else 128

    def compiled(self, n_ranks: int = 1) -> bool:
        """Whether training compiles its steps: ``compile``, or when None the softmax
        decoder on one process (where compiling is faster and exact)."""
        if self.compile is None:
            return self.decoder == "softmax" and n_ranks == 1
        return bool(self.compile)

    def feature_config(self) -> FeatureConfig:
        return FeatureConfig(self.features, self.window, self.min_freq, self.affix_min_freq)

    def dims(self) -> dict[str, int]:
        """Embedding size of each feature."""
        out = {}
        for f in self.features:
            if f == "word":
                out[f] = self.word_dim
            elif f == "caps":
                out[f] = self.caps_dim
            elif f == "shape":
                out[f] = self.shape_dim
            else:
                out[f] = self.affix_dim
        return out


@dataclass
class TrainResult:
    """What :func:`train` returns: the best model and the run's history.

    ``history`` holds one dict per epoch: ``epoch``, ``loss`` (mean training loss),
    ``seconds`` (training time of the epoch), ``words_per_s``, ``lr``, ``dev_f1``,
    ``dev_f1_strict`` (percent).
    """

    model: WindowTagger
    extractor: FeatureExtractor
    config: TrainConfig
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_dev_f1: float = 0.0
    seconds: float = 0.0
    stop_reason: str = ""

    @property
    def mean_epoch_seconds(self) -> float:
        return float(np.mean([h["seconds"] for h in self.history])) if self.history else 0.0


def build_model(
    config: TrainConfig, extractor: FeatureExtractor, rng: np.random.Generator
) -> WindowTagger:
    """A fresh :class:`WindowTagger` sized for ``extractor``'s vocabularies."""
    feats = extractor.config.features
    constraints = extractor.tagset.transition_mask() if config.constrained else None
    return WindowTagger(
        {f: extractor.table_size(f) for f in feats},
        {f: config.dims()[f] for f in feats},
        extractor.config.window,
        len(extractor.tagset),
        config.hidden,
        config.activation,
        config.dropout,
        config.decoder,
        constraints=constraints,
        rng=rng,
    )


def evaluate_model(
    model: WindowTagger,
    extractor: FeatureExtractor,
    sentences: Sequence[Sentence],
    encoded: EncodedCorpus | None = None,
    constrained: bool = True,
) -> tuple[Report, Report, list[list[str]]]:
    """Tag ``sentences`` and score them: (conlleval report, strict IOB2 report, tags)."""
    enc = encoded if encoded is not None else extractor.encode(sentences)
    pred = [extractor.tagset.decode(p) for p in model.predict(enc, constrained=constrained)]
    gold = [s.tags for s in sentences]
    return evaluate(gold, pred), evaluate(gold, pred, mode="strict"), pred


def _make_optimizer(config: TrainConfig, model: WindowTagger) -> optim.Optimizer:
    params = list(model.parameters())
    wd = config.weight_decay
    if config.optimizer == "sgd":
        return optim.SGD(params, lr=config.lr, weight_decay=wd)
    if config.optimizer == "adagrad":
        return optim.Adagrad(params, lr=config.lr, weight_decay=wd)
    if config.optimizer == "adamw":
        return optim.AdamW(params, lr=config.lr, weight_decay=wd)
    return optim.Adam(params, lr=config.lr, weight_decay=wd)


def _init_vectors(
    model: WindowTagger, extractor: FeatureExtractor, path: str, log: Callable[[str], None]
) -> None:
    table = model.table("word")
    vocab = extractor.vocabs["word"]
    matrix, found = load_vectors(path, vocab, dim=None)
    if matrix.shape[1] != table.shape[1]:
        raise TrainError(
            f"--vectors {path}: vectors have dimension {matrix.shape[1]} but "
            f"word_dim is {table.shape[1]}; set word_dim to {matrix.shape[1]}"
        )
    hit = matrix.any(axis=1)
    hit[:2] = False  # <pad> and <unk> keep their random init
    # Rescale the file's vectors to the scale of our random init so both kinds of rows
    # start comparable.
    if found:
        std = matrix[hit].std() or 1.0
        target = table.data[~hit].std() if (~hit).any() else 0.06
        with cr.no_grad():
            table.data[hit] = (matrix[hit] * (target / std)).astype(table.dtype)
    log(f"vectors: {found} of {len(vocab)} vocabulary words found in {path}")


def _progress_bar(total: int, desc: str, enabled: bool, stream: IO[str]) -> Any:
    """A tqdm bar over one epoch's batches, advanced after every batch, or None: progress
    off, ``stream`` not a terminal (piped, a log file: only the per-epoch lines are
    written there), or no tqdm (the command line checks for it before training)."""
    from chainrule.cli._common import stderr_is_terminal

    if not enabled or not stderr_is_terminal(stream):
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional: fall back to the per-epoch lines only
        return None
    return tqdm(
        total=total,
        desc=desc,
        unit="batch",
        file=stream,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.5,
    )


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit NumPy's BLAS to ``n`` threads inside the block (no-op if ``n`` is None or
    ``threadpoolctl`` is not installed)."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


def epoch_batches(config: TrainConfig, enc: EncodedCorpus, rng: np.random.Generator) -> list[Any]:
    """One epoch's shuffled batches: whole sentences for the CRF, words for softmax."""
    if config.decoder == "crf":
        return list(FeatureExtractor.sentence_batches(enc, config.effective_batch_size, rng))
    return list(FeatureExtractor.word_batches(enc, config.effective_batch_size, rng))


def shard_batches(
    config: TrainConfig, enc: EncodedCorpus, rng: np.random.Generator, rank: int, n_ranks: int
) -> list[Batch | None]:
    """This rank's part of one epoch's batches, when ``n_ranks`` processes train together.

    The global order is drawn from ``rng`` exactly as :func:`epoch_batches` draws it (the
    same on every rank), in global batches of ``batch_size x n_ranks`` tokens (sentences
    for the CRF); each is split into ``n_ranks`` near-equal parts and this rank keeps part
    ``rank`` (None where a part is empty). With ``n_ranks == 1`` these are the batches of
    :func:`epoch_batches`.
    """
    size = config.effective_batch_size * n_ranks
    out: list[Batch | None] = []
    if config.decoder == "crf":
        n = enc.n_sentences
        order = np.lexsort((rng.random(n), enc.lengths))
        chunks = [order[i : i + size] for i in range(0, n, size)]
        chunks = [chunks[j] for j in rng.permutation(len(chunks))]
        for sel in chunks:
            part = np.array_split(sel, n_ranks)[rank]
            out.append(FeatureExtractor.gather_sentences(enc, part) if part.size else None)
        return out
    order = rng.permutation(enc.n_tokens)
    for i in range(0, enc.n_tokens, size):
        idx = np.array_split(order[i : i + size], n_ranks)[rank]
        out.append(
            Batch({f: w[idx] for f, w in enc.windows.items()}, enc.tags[idx]) if idx.size else None
        )
    return out


def _sharded_dev_f1(
    model: WindowTagger,
    extractor: FeatureExtractor,
    dev_sentences: Sequence[Sentence],
    enc_shard: EncodedCorpus | None,
    constrained: bool,
) -> tuple[Report, Report]:
    """Dev scores from every rank's predictions on its share (gathered in rank order)."""
    from chainrule import distributed as dist

    mine = model.predict(enc_shard, constrained=constrained) if enc_shard is not None else []
    pred = [extractor.tagset.decode(p) for part in dist.allgather_object(mine) for p in part]
    gold = [s.tags for s in dev_sentences]
    return evaluate(gold, pred), evaluate(gold, pred, mode="strict")


def train(
    config: TrainConfig,
    train_sentences: Sequence[Sentence],
    dev_sentences: Sequence[Sentence],
    *,
    stream: IO[str] | None = None,
) -> TrainResult:
    """Train a tagger; returns the model with the weights of its best dev epoch.

    Parameters
    ----------
    config : TrainConfig
    train_sentences, dev_sentences : sequence of Sentence
        Training data (builds the vocabularies) and development data (early stopping).
    stream : text file, optional
        Where progress goes (default ``sys.stderr``); silent when ``config.progress`` is
        False.
    """
    with blas_threads(config.threads):
        return _train(config, train_sentences, dev_sentences, stream)


def _train(
    config: TrainConfig,
    train_sentences: Sequence[Sentence],
    dev_sentences: Sequence[Sentence],
    stream: IO[str] | None,
) -> TrainResult:
    from chainrule import distributed as dist

    stream = stream if stream is not None else sys.stderr
    n_ranks, rank = dist.world_size(), dist.rank()
    show = config.progress and rank == 0

    def log(msg: str) -> None:
        if show:
            print(msg, file=stream, flush=True)

    if not train_sentences:
        raise TrainError("the training set is empty")
    if not dev_sentences:
        raise TrainError("the dev set is empty (it is needed for early stopping)")
    t_start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    extractor = FeatureExtractor.build(train_sentences, config.feature_config())
    for s in dev_sentences:  # fail early on a tag outside the training tag set
        extractor.tagset.encode(s.tags)
    enc_train = extractor.encode(train_sentences)
    model = build_model(config, extractor, rng)
    if config.vectors:
        _init_vectors(model, extractor, config.vectors, log)
    opt = _make_optimizer(config, model)
    local_rng = rng
    if n_ranks > 1:
        # Same shuffled order on every rank (rng); dropout masks and <unk> replacement
        # differ per rank (local_rng), as they would between examples in one process.
        local_rng = np.random.default_rng([config.seed, rank + 1])
        model.drop.rng = local_rng
        dist.broadcast_parameters(model)
        opt = dist.DistributedOptimizer(opt)
        lo, hi = dist.shard_range(len(dev_sentences))
        enc_dev = extractor.encode(dev_sentences[lo:hi]) if hi > lo else None
        unit = "sentences" if config.decoder == "crf" else "tokens"
        log(
            f"data-parallel on {n_ranks} ranks: global batch {config.effective_batch_size} "
            f"{unit} x {n_ranks} = {config.effective_batch_size * n_ranks}"
        )
    else:
        enc_dev = extractor.encode(dev_sentences)
    scheduler: Any = None
    if config.schedule == "exp":
        scheduler = optim.ExponentialLR(opt, gamma=config.lr_gamma)
    elif config.schedule == "cosine":
        scheduler = optim.CosineAnnealingLR(opt, T_max=config.max_epochs)
    counts = extractor.vocabs["word"].counts
    params = list(model.parameters())
    result = TrainResult(model, extractor, config)
    best_state = model.state_dict()
    result.best_dev_f1 = -1.0  # the first epoch always counts as an improvement
    bad_epochs = 0
    compiled = config.compiled(n_ranks)
    log(
        f"training {config.decoder} tagger: {enc_train.n_tokens} tokens, "
        f"{model.num_parameters()} parameters, features {list(extractor.config.features)}"
        f"{', compiled' if compiled else ''}"
    )
    # Compiled: one trace per batch shape (sentence batches padded to a few lengths), kept
    # for the whole run; the dropout masks are drawn outside, by loss_args.
    loss_fn = model.compiled_loss() if compiled else None
    # softmax on one rank: the whole step (loss, gradients, clipping, update) compiled
    step = None
    if compiled and config.decoder == "softmax" and n_ranks == 1:
        step = optim.compile_step(loss_fn, opt, clip_grad_norm=config.clip_norm or None)
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        t0 = time.perf_counter()
        if n_ranks == 1:
            batches: list[Any] = epoch_batches(config, enc_train, rng)
        else:
            batches = shard_batches(config, enc_train, rng, rank, n_ranks)
        bar = _progress_bar(len(batches), f"epoch {epoch}", show, stream)
        total_loss = 0.0
        n_words = 0
        for i, batch in enumerate(batches):
            if batch is None:  # an empty share of a short last batch: weight 0
                opt.synchronize(weight=0)
                if config.clip_norm:
                    optim.clip_grad_norm_(params, config.clip_norm)
                opt.step()
                opt.zero_grad()
                continue
            if config.unk_p > 0:
                batch.windows["word"] = replace_rare(
                    batch.windows["word"], counts, local_rng, config.unk_p
                )
            if step is not None:
                loss = step(*model.loss_args(batch))
            else:
                loss = model.loss(batch, fn=loss_fn, pad=compiled)
                loss.backward()
                if n_ranks > 1:  # average (weighted by tokens) before clipping the norm
                    opt.synchronize(weight=batch.n_tokens)
                if config.clip_norm:
                    optim.clip_grad_norm_(params, config.clip_norm)
                opt.step()
                opt.zero_grad()
            value = loss.item()
            if not math.isfinite(value):
                raise TrainError(
                    f"epoch {epoch}, batch {i}: the loss became {value}; lower "
                    f"the learning rate (now {opt.param_groups[0]['lr']:g})"
                )
            total_loss += value * batch.n_tokens
            n_words += batch.n_tokens
            if bar is not None:
                bar.update(1)
                if i % 20 == 0:
                    el = time.perf_counter() - t0
                    bar.set_postfix(
                        loss=f"{total_loss / n_words:.4f}", wps=f"{n_words / max(el, 1e-9):.0f}"
                    )
        seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        lr_now = float(opt.param_groups[0]["lr"])
        if n_ranks > 1:
            total_loss, n_words = dist.allreduce(np.array([total_loss, n_words], np.float64))
            seconds = float(dist.allreduce(np.array([seconds]), op="max")[0])
            report, strict = _sharded_dev_f1(
                model, extractor, dev_sentences, enc_dev, config.constrained
            )
        else:
            report, strict, _ = evaluate_model(
                model, extractor, dev_sentences, enc_dev, config.constrained
            )
        dev_f1 = 100 * report.f1
        result.history.append(
            {
                "epoch": epoch,
                "loss": total_loss / max(n_words, 1),
                "seconds": seconds,
                "words_per_s": n_words / max(seconds, 1e-9),
                "lr": lr_now,
                "dev_f1": dev_f1,
                "dev_f1_strict": 100 * strict.f1,
            }
        )
        improved = dev_f1 > result.best_dev_f1
        if improved:
            result.best_dev_f1, result.best_epoch = dev_f1, epoch
            best_state = model.state_dict()
            bad_epochs = 0
        else:
            bad_epochs += 1
        log(
            f"epoch {epoch:3d}  loss {total_loss / max(n_words, 1):.4f}  {seconds:5.1f}s  "
            f"{n_words / max(seconds, 1e-9):7.0f} words/s  lr {lr_now:.2e}  "
            f"dev F1 {dev_f1:6.2f} (strict {100 * strict.f1:6.2f}){'  *' if improved else ''}"
        )
        if scheduler is not None:
            scheduler.step()
        elif config.schedule == "plateau" and not improved:
            for g in opt.param_groups:
                g["lr"] *= config.lr_gamma
        elapsed = time.perf_counter() - t_start
        stop = ""
        if bad_epochs >= config.patience:
            stop = f"no dev improvement for {config.patience} epochs"
        elif config.time_budget is not None and elapsed + seconds > config.time_budget:
            stop = f"time budget of {config.time_budget:g}s reached"
        stop = dist.broadcast_object(stop)  # rank 0's clock decides for all ranks
        if stop:
            result.stop_reason = stop
            break
    else:
        result.stop_reason = f"max_epochs={config.max_epochs} reached"
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - t_start
    log(
        f"done in {result.seconds:.1f}s ({result.stop_reason}); best dev F1 "
        f"{result.best_dev_f1:.2f} at epoch {result.best_epoch}"
    )
    return result


def plot_learning_curve(history: Sequence[dict], path: str, title: str = "") -> None:
    """Save a PNG with the training loss and the dev F1 per epoch (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax1 = plt.subplots(figsize=(6, 3.6))
    ax1.plot(epochs, [h["loss"] for h in history], "o-", color="tab:blue", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(
        epochs, [h["dev_f1"] for h in history], "s-", color="tab:red", label="dev F1 (conlleval)"
    )
    ax2.set_ylabel("dev entity F1 (%)", color="tab:red")
    ax1.set_title(title or "NER training")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
