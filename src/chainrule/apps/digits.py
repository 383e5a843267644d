"""Train an MLP on scikit-learn's 8x8 handwritten digits: the first real training job.

The data ship with scikit-learn (1,797 images, no download). The split is fixed
(``train_test_split(test_size=0.25, random_state=0, stratify=y)``), pixels are standardised
with the training set's mean and standard deviation, and the network is
``Linear -> act -> ... -> Linear`` trained with mini-batches. One run writes, into the
output folder:

* ``digits.ckpt``: a safe checkpoint (:func:`chainrule.io.save`) holding the model and
  optimizer state dicts, the config, the normalisation and the per-epoch history;
* ``curves.png``: loss and accuracy per epoch;
* ``metrics.json``: the final numbers, for scripts.

Under ``mpiexec -n N`` (nothing else to set) the job trains data-parallel
(:mod:`chainrule.distributed`): every rank takes ``batch_size`` examples of its shard
(:class:`~chainrule.data.DistributedSampler`), so the global batch is ``batch_size x N``;
gradients are averaged across ranks before each step; accuracies are computed on each
rank's share of the data and summed; only rank 0 shows progress, logs and writes the
output folder, which loads in one process like any other.

Use it from the command line (``chainrule train digits --help``) or from Python:

>>> from chainrule.apps.digits import DigitsConfig, train
>>> result = train(DigitsConfig(epochs=2, out=None, progress=False), log=lambda *a: None)
>>> result.test_accuracy > 0.8
True
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.core import ChainruleError
from chainrule.data import DataLoader, TensorDataset
from chainrule.nn import functional as F

__all__ = [
    "DigitsConfig",
    "DigitsResult",
    "build_model",
    "check_dependencies",
    "evaluate",
    "load_digits_split",
    "load_model",
    "plot_curves",
    "train",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu")
LOSSES = ("cross-entropy", "svm")
OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam", "adamw")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.05, "adam": 2e-3, "adamw": 2e-3}
CHECKPOINT = "digits.ckpt"
CURVES = "curves.png"
METRICS = "metrics.json"
#: What an output folder holds; an existing --out with anything else is not replaced.
OUTPUT_FILES = frozenset({CHECKPOINT, CURVES, METRICS})


@dataclasses.dataclass
class DigitsConfig:
    """Everything that defines a run (saved in the checkpoint).

    ``lr=None`` picks the optimiser's default from ``DEFAULT_LR``. ``l2`` is the λ of
    λ·ΣW² over the weight matrices (not the biases), added to the loss. ``out=None`` writes
    nothing. ``compile`` (default True) runs each training step with
    :func:`chainrule.optim.compile_step` (one trace per batch shape: the full batches, and
    the smaller last one): the same parameters as eager training, bit for bit, in about 0.6x
    the time of eager training (this small MLP is dispatch-bound); False trains eagerly.
    """

    hidden: tuple[int, ...] = (128,)
    activation: str = "relu"
    loss: str = "cross-entropy"
    optimizer: str = "adam"
    lr: float | None = None
    l2: float = 1e-4
    epochs: int = 40
    batch_size: int = 32
    seed: int = 0
    lr_schedule: str = "cosine"
    out: str | None = "runs/digits"
    progress: bool = True
    compile: bool = True

    def check(self) -> None:
        for name, value, allowed in (
            ("activation", self.activation, ACTIVATIONS),
            ("loss", self.loss, LOSSES),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("lr_schedule", self.lr_schedule, ("none", "cosine")),
        ):
            if value not in allowed:
                raise ChainruleError(
                    f"digits: unknown {name} {value!r}; choose one of {', '.join(allowed)}"
                )
        for name, value, low in (
            ("epochs", self.epochs, 1),
            ("batch_size", self.batch_size, 1),
            ("seed", self.seed, 0),
        ):
            # bool is an int to Python; 2.5 or "4" would fail much later, or not at all.
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                raise ChainruleError(f"digits: {name} must be an integer >= {low}, got {value!r}")
        if any(
            not isinstance(h, int | np.integer) or isinstance(h, bool) or h < 1 for h in self.hidden
        ):
            raise ChainruleError(f"digits: hidden sizes must be integers >= 1, got {self.hidden}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ChainruleError(f"digits: lr must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ChainruleError(f"digits: l2 must be a finite number >= 0, got {self.l2}")
        if not isinstance(self.compile, bool | np.bool_):
            raise ChainruleError(f"digits: compile must be True or False, got {self.compile!r}")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]


@dataclasses.dataclass
class DigitsResult:
    """What a run produced."""

    test_accuracy: float
    train_accuracy: float
    history: dict[str, list[float]]
    seconds: float
    checkpoint: str | None
    curves: str | None
    model: nn.Module


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, X_test, y_train, y_test): raw pixels 0..16 as float32, labels as int64."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ChainruleError(
            "the digits job needs scikit-learn: pip install 'chainrule[apps]'"
        ) from exc
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    return (
        Xtr.astype(np.float32),
        Xte.astype(np.float32),
        ytr.astype(np.int64),
        yte.astype(np.int64),
    )


def build_model(
    hidden: Sequence[int],
    activation: str = "relu",
    *,
    n_in: int = 64,
    n_out: int = 10,
    rng: np.random.Generator | None = None,
) -> nn.Sequential:
    """``Linear -> act`` for each hidden size, then a ``Linear`` to the class scores."""
    layers: list[nn.Module] = []
    sizes = [n_in, *hidden]
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b, rng=rng), nn.activation(activation)]
    layers.append(nn.Linear(sizes[-1], n_out, rng=rng))
    return nn.Sequential(*layers)


def _make_optimizer(cfg: DigitsConfig, params: list[nn.Parameter]) -> optim.Optimizer:
    lr = cfg.learning_rate
    if cfg.optimizer == "sgd":
        return optim.SGD(params, lr=lr)
    if cfg.optimizer == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
    if cfg.optimizer == "adagrad":
        return optim.Adagrad(params, lr=lr)
    if cfg.optimizer == "adam":
        return optim.Adam(params, lr=lr)
    return optim.AdamW(params, lr=lr)


def _data_loss(cfg: DigitsConfig, scores: Any, y: Any) -> Any:
    if cfg.loss == "svm":
        return F.multiclass_svm_loss(scores, y)
    return F.cross_entropy(scores, y)


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of ``model`` (in eval mode, no graph) on standardised inputs ``X``."""
    was = model.training
    model.eval()
    with cr.no_grad():
        pred = model(cr.Tensor(X)).data.argmax(axis=1)
    model.train(was)
    return float((pred == y).mean())


def plot_curves(history: dict[str, list[float]], path: str, title: str = "") -> None:
    """Loss and accuracy per epoch, side by side, as a PNG (no display needed)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover
        raise ChainruleError("plotting needs matplotlib: pip install 'chainrule[apps]'") from exc
    # The object API with the Agg canvas: headless, and no global pyplot/backend state.
    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, history["loss"], label="training loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.plot(epochs, history["train_acc"], label="train")
    ax2.plot(epochs, history["test_acc"], label="test")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _progress_bar(enabled: bool, total: int) -> Any:
    """A tqdm bar over the epochs on stderr, or None: off (``progress=False``), not a
    terminal (a pipe, a file, captured output: the bar stays quiet there), or no tqdm."""
    from chainrule.cli._common import stderr_is_terminal

    if not enabled or not stderr_is_terminal():
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - train() checks for tqdm first
        return None
    return tqdm(
        total=total,
        file=sys.stderr,
        desc="digits",
        unit="epoch",
        dynamic_ncols=True,
        mininterval=0.2,
    )


def check_dependencies(cfg: DigitsConfig) -> None:
    """Fail with the install command, before any work, if an optional package is missing:
    scikit-learn (the data), matplotlib (``curves.png``, when ``cfg.out`` is set) and tqdm
    (the progress bar, when it would be shown: ``cfg.progress`` and stderr a terminal)."""
    from chainrule.cli._common import require_modules, stderr_is_terminal

    modules = {"sklearn": "scikit-learn"}
    if cfg.out is not None:
        modules["matplotlib"] = "matplotlib"
    require_modules("the digits job", modules)
    if cfg.progress and stderr_is_terminal():
        require_modules(
            "the digits progress bar", {"tqdm": "tqdm"}, alternative="or turn it off: --no-progress"
        )


def _accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """:func:`evaluate`, each rank scoring its share of ``X`` (the counts summed)."""
    from chainrule import distributed as dist

    if dist.world_size() == 1:
        return evaluate(model, X, y)
    lo, hi = dist.shard_range(len(X))
    correct = evaluate(model, X[lo:hi], y[lo:hi]) * (hi - lo) if hi > lo else 0.0
    total = dist.allreduce(np.array([round(correct), hi - lo], dtype=np.int64))
    return float(total[0] / total[1])


def train(cfg: DigitsConfig | None = None, *, log: Callable[..., None] = print) -> DigitsResult:
    """Run the digits job described by ``cfg``; see the module docstring.

    With ``cfg.out`` set, the output folder is checked before training and written all at
    once at the end (:func:`chainrule.apps._outputs.atomic_folder`): a failure leaves a
    previous run's folder as it was and no partial new one.
    """
    from chainrule import distributed as dist

    from ._outputs import atomic_folder

    cfg = cfg or DigitsConfig()
    cfg.check()
    check_dependencies(cfg)
    dist.init()
    if not dist.is_main():  # data-parallel: rank 0 alone logs and writes
        cfg = dataclasses.replace(cfg, progress=False)
        log = _silent
        return _train(cfg, None, log)
    if cfg.out is None:
        return _train(cfg, None, log)
    with atomic_folder(cfg.out, OUTPUT_FILES, "the digits output folder") as tmp:
        result = _train(cfg, tmp, log)
    result.checkpoint = os.path.join(cfg.out, CHECKPOINT)
    result.curves = os.path.join(cfg.out, CURVES)
    log(f"checkpoint: {result.checkpoint}\ncurves: {result.curves}")
    return result


def _silent(*args: Any, **kwargs: Any) -> None:
    pass


def _train(cfg: DigitsConfig, out: str | None, log: Callable[..., None]) -> DigitsResult:
    from chainrule import distributed as dist

    n_ranks = dist.world_size()
    if n_ranks > 1:
        from chainrule.apps.ner.train import blas_threads

        # Ranks on one machine share its cores: one BLAS pool each would oversubscribe.
        with blas_threads(max(1, (os.cpu_count() or 1) // dist.local_size())):
            return _train_inner(cfg, out, log, n_ranks)
    return _train_inner(cfg, out, log, 1)


def _train_inner(
    cfg: DigitsConfig, out: str | None, log: Callable[..., None], n_ranks: int
) -> DigitsResult:
    from chainrule import distributed as dist

    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    Xtr, Xte, ytr, yte = load_digits_split()
    mean = Xtr.mean(axis=0)
    std = Xtr.std(axis=0) + 1.0  # +1: constant border pixels (std 0) stay finite
    Xtr = (Xtr - mean) / std
    Xte = (Xte - mean) / std

    model = build_model(cfg.hidden, cfg.activation, rng=rng)
    params = list(model.parameters())
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    opt = _make_optimizer(cfg, params)
    sched = optim.CosineAnnealingLR(opt, T_max=cfg.epochs) if cfg.lr_schedule == "cosine" else None
    if n_ranks == 1:
        loader = DataLoader(
            TensorDataset(Xtr, ytr), batch_size=cfg.batch_size, shuffle=True, rng=rng
        )
    else:
        dist.broadcast_parameters(model)
        opt = dist.DistributedOptimizer(opt)
        sampler = dist.DistributedSampler(len(Xtr), seed=cfg.seed)
        loader = DataLoader(TensorDataset(Xtr, ytr), batch_size=cfg.batch_size, sampler=sampler)
        log(
            f"data-parallel on {n_ranks} ranks: global batch {cfg.batch_size} x {n_ranks} = "
            f"{cfg.batch_size * n_ranks} ({len(loader)} steps per epoch)"
        )
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": []}

    def step_loss(xb: Any, yb: Any) -> Any:
        loss = _data_loss(cfg, model(xb), yb)
        if cfg.l2:
            loss = loss + F.l2_penalty(weights, cfg.l2)
        return loss

    # Compiled: the whole step (loss, gradients, update) traced once per batch shape; the
    # parameters are captured and receive their gradients from the generated backward.
    compiled_step = optim.compile_step(step_loss, opt) if cfg.compile else None

    # The bar counts finished epochs: it is advanced after each epoch's numbers exist, so
    # what it shows (n/total and the postfix) always belongs to the same epoch.
    bar = _progress_bar(cfg.progress, cfg.epochs)
    for _epoch in range(cfg.epochs):
        total, count = 0.0, 0
        for xb, yb in loader:
            if compiled_step is not None:
                loss = compiled_step(xb, yb)
            else:
                opt.zero_grad()
                loss = step_loss(xb, yb)
                loss.backward()
                opt.step()
            total += loss.item() * len(yb.data)
            count += len(yb.data)
        if sched is not None:
            sched.step()
        if n_ranks > 1:
            total, count = dist.allreduce(np.array([total, count], dtype=np.float64))
        history["loss"].append(total / count)
        history["train_acc"].append(_accuracy(model, Xtr, ytr))
        history["test_acc"].append(_accuracy(model, Xte, yte))
        if bar is not None:
            bar.set_postfix(
                loss=f"{history['loss'][-1]:.4f}",
                train=f"{history['train_acc'][-1]:.3f}",
                test=f"{history['test_acc'][-1]:.3f}",
                refresh=False,
            )
            bar.update(1)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0
    test_acc = history["test_acc"][-1]
    train_acc = history["train_acc"][-1]
    n_test = len(yte)
    log(
        f"test accuracy: {test_acc:.4f} ({round(test_acc * n_test)}/{n_test}); "
        f"train accuracy: {train_acc:.4f}; {cfg.epochs} epochs in {seconds:.1f} s"
    )

    ckpt_path = curves_path = None
    if out is not None:
        ckpt_path = os.path.join(out, CHECKPOINT)
        curves_path = os.path.join(out, CURVES)
        config = dataclasses.asdict(cfg)
        config["hidden"] = list(cfg.hidden)
        cr.io.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "config": config,
                "normalization": {"mean": mean, "std": std},
                "history": history,
                "test_accuracy": test_acc,
                "world_size": n_ranks,
            },
            ckpt_path,
        )
        title = (
            f"digits MLP {list(cfg.hidden)} {cfg.activation}, {cfg.loss}, "
            f"{cfg.optimizer}: test acc {test_acc:.3f}"
        )
        plot_curves(history, curves_path, title)
        with open(os.path.join(out, METRICS), "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "test_accuracy": test_acc,
                    "train_accuracy": train_acc,
                    "seconds": seconds,
                    "config": config,
                    "world_size": n_ranks,
                    "global_batch_size": cfg.batch_size * n_ranks,
                },
                fh,
                indent=2,
            )
    return DigitsResult(test_acc, train_acc, history, seconds, ckpt_path, curves_path, model)


def load_model(path: str) -> tuple[nn.Sequential, dict[str, Any]]:
    """Rebuild the trained model from a checkpoint; returns (model in eval mode, state)."""
    state = cr.io.load(path)
    cfg = state["config"]
    model = build_model(tuple(cfg["hidden"]), cfg["activation"])
    model.load_state_dict(state["model"])
    return model.eval(), state
