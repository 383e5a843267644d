"""``chainrule train TASK``: training jobs (argument parsing only; the work is in apps/)."""

from __future__ import annotations

import argparse
import sys

from ._common import SEED, HelpFormatter, float_option, int_option


def _sizes(text: str) -> tuple[int, ...]:
    text = text.strip().lower()
    if text in ("", "none", "0"):
        return ()  # no hidden layer: a linear softmax/SVM classifier
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden takes comma-separated layer sizes like 128 or 128,64; got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be >= 1, got {text!r}")
    return sizes


def _print_help_and_fail(parser: argparse.ArgumentParser) -> int:
    """A command group run without its sub-command: a usage error (help on stderr, 2)."""
    parser.print_help(sys.stderr)
    return 2


def register(sub: argparse._SubParsersAction) -> None:
    from ..apps import digits as app  # light: heavy imports (sklearn, tqdm) happen in train()

    p = sub.add_parser(
        "train",
        help="train a model (e.g. `chainrule train digits`)",
        description="Training jobs. Run `chainrule train TASK --help` for a task's options.",
        formatter_class=HelpFormatter,
    )
    tasks = p.add_subparsers(dest="task", metavar="TASK")
    p.set_defaults(func=lambda args: _print_help_and_fail(p))

    d = tasks.add_parser(
        "digits",
        help="an MLP on scikit-learn's 8x8 digits",
        description="Train an MLP on scikit-learn's bundled 8x8 digits (fixed 75/25 split), "
        "print the test accuracy, and write a checkpoint and a PNG of the "
        "curves into --out. Under `mpiexec -n N` it trains data-parallel on N "
        "processes (--batch-size per process; see docs/distributed.md). Needs "
        "scikit-learn, matplotlib and tqdm: pip install 'chainrule[apps]'.",
        formatter_class=HelpFormatter,
    )
    c = app.DigitsConfig()
    lrs = ", ".join(f"{name} {lr:g}" for name, lr in app.DEFAULT_LR.items())
    d.add_argument(
        "--hidden",
        type=_sizes,
        default=",".join(map(str, c.hidden)),
        help="hidden layer sizes, comma-separated (e.g. 64 or 128,64; 0 = none)",
    )
    d.add_argument(
        "--activation",
        choices=app.ACTIVATIONS,
        default=c.activation,
        help="nonlinearity after each hidden layer",
    )
    d.add_argument(
        "--loss",
        choices=app.LOSSES,
        default=c.loss,
        help="softmax cross-entropy, or the multiclass SVM (hinge) loss",
    )
    d.add_argument(
        "--optimizer",
        choices=app.OPTIMIZERS,
        default=c.optimizer,
        help="momentum = SGD with Nesterov momentum 0.9",
    )
    d.add_argument(
        "--lr",
        type=float_option(minimum=0.0, min_inclusive=False),
        default=None,
        help=f"learning rate (default: per --optimizer: {lrs})",
    )
    d.add_argument(
        "--lr-schedule",
        choices=("none", "cosine"),
        default=c.lr_schedule,
        help="learning-rate schedule over the epochs (cosine: annealed to 0)",
    )
    d.add_argument(
        "--l2",
        type=float_option(minimum=0.0),
        default=c.l2,
        help="λ of the penalty λ·ΣW² on weights",
    )
    d.add_argument(
        "--epochs",
        type=int_option(minimum=1),
        default=c.epochs,
        help="passes over the training set",
    )
    d.add_argument(
        "--batch-size",
        type=int_option(minimum=1),
        default=c.batch_size,
        help="examples per step (per process under mpiexec)",
    )
    d.add_argument(
        "--seed",
        type=SEED,
        default=c.seed,
        help="seed of every random draw (initialisation, shuffling)",
    )
    d.add_argument(
        "--out", default=c.out, help="output folder (digits.ckpt, curves.png, metrics.json)"
    )
    d.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is only drawn when stderr is a terminal)",
    )
    d.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=c.compile,
        help="compute each step's loss and gradients with chainrule.compile "
        "(generated NumPy code; the same result as eager)",
    )
    d.set_defaults(func=run_digits)


def run_digits(args: argparse.Namespace) -> int:
    from ..apps import digits as app

    cfg = app.DigitsConfig(
        hidden=tuple(args.hidden),
        activation=args.activation,
        loss=args.loss,
        optimizer=args.optimizer,
        lr=args.lr,
        l2=args.l2,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        lr_schedule=args.lr_schedule,
        out=args.out,
        progress=not args.no_progress,
        compile=args.compile,
    )
    from .. import distributed as dist

    # Errors (a ChainruleError, an unwritable --out) are reported by cli.main, exit status 1.
    # Under mpiexec, fail_fast ends every rank instead (MPI_Abort), with the error shown.
    with dist.fail_fast():
        app.train(cfg)
    return 0
