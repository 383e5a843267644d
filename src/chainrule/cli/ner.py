"""``chainrule ner``: train, evaluate and run the window-approach NER tagger.

::

    chainrule ner train --train T --dev D [--test E] --out DIR [--decoder crf] ...
    chainrule ner eval  --model DIR --data F
    chainrule ner tag   --model DIR [FILE] [--format conll|json|spans]

With ``CHAINRULE_DATA`` set, ``--train/--dev/--test`` default to
``$CHAINRULE_DATA/conll2003/{train,valid,test}.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ._common import (
    SEED,
    HelpFormatter,
    float_option,
    int_option,
    read_text,
    require_modules,
    stderr_is_terminal,
    write_text,
)

_SPLITS = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"}


def _default(split: str) -> str | None:
    root = os.environ.get("CHAINRULE_DATA")
    if not root:
        return None
    path = os.path.join(root, "conll2003", _SPLITS[split])
    return path if os.path.exists(path) else None


# Checked option types: a bad value is a usage error (exit 2) before anything runs.
_DIM = int_option(minimum=1)
_POSITIVE = float_option(minimum=0.0, min_inclusive=False)
_NON_NEGATIVE = float_option(minimum=0.0)
_PROB_LT1 = float_option(0.0, 1.0, max_inclusive=False)


TAG_FORMATS_HELP = (
    "output format: conll = one 'TOKEN TAG' line per token (a space between them), a blank "
    "line after each sentence; json = one JSON object per sentence per line (tokens, tags, "
    "and entities with token and character offsets); spans = one entity per line, four "
    "tab-separated columns START, END, TYPE, TEXT: START and END are character offsets "
    "into the input text (Unicode characters counted from 0, END exclusive), TYPE is the "
    "entity type (PER, LOC, ORG or MISC for CoNLL-2003) and TEXT the entity's tokens "
    "joined by single spaces (input[START:END] with the input's own spacing)"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ner",
        help="named-entity recognition (CoNLL-2003 window tagger)",
        description="Train, evaluate and apply the window-approach NER tagger. "
        "Run `chainrule ner ACTION --help` for an action's options.",
        formatter_class=HelpFormatter,
    )
    nsub = p.add_subparsers(dest="ner_command", metavar="ACTION")
    p.set_defaults(func=lambda args: _print_help_and_fail(p))

    t = nsub.add_parser(
        "train",
        help="train a tagger and write a model folder",
        description="Train a tagger and write a model folder. Under "
        "`mpiexec -n N` it trains data-parallel on N processes "
        "(--batch-size per process; see docs/distributed.md). "
        "Needs matplotlib (the learning curve) and, for the "
        "progress bar on a terminal, tqdm: pip install "
        "'chainrule[apps]'.",
        formatter_class=HelpFormatter,
    )
    data = t.add_argument_group("data")
    data.add_argument(
        "--train",
        default=_default("train"),
        help="training file (CoNLL format) (default: $CHAINRULE_DATA/conll2003/train.txt)",
    )
    data.add_argument(
        "--dev",
        default=_default("dev"),
        help="development file for early stopping (default: $CHAINRULE_DATA/conll2003/valid.txt)",
    )
    data.add_argument(
        "--test",
        default=_default("test"),
        help="test file, scored once with the final model (default: "
        "$CHAINRULE_DATA/conll2003/test.txt if it exists, else none)",
    )
    data.add_argument("--no-test", action="store_true", help="do not score a test file")
    data.add_argument("--out", required=True, help="model folder to write (required)")
    data.add_argument(
        "--vectors",
        default=None,
        help="GloVe/word2vec text file to initialise the word embeddings "
        "(default: none, random initialisation)",
    )
    from chainrule.apps.ner.train import TrainConfig

    d = TrainConfig()
    m = t.add_argument_group("model")
    m.add_argument(
        "--decoder",
        choices=("softmax", "crf"),
        default=d.decoder,
        help="word-level softmax, or sentence-level CRF with Viterbi decoding",
    )
    m.add_argument(
        "--features",
        default=",".join(d.features),
        help="comma-separated: word, caps, shape, suffixN, prefixN",
    )
    m.add_argument(
        "--window", type=int_option(minimum=0), default=d.window, help="context words on each side"
    )
    m.add_argument(
        "--word-dim",
        type=_DIM,
        default=d.word_dim,
        help="word embedding size (must match --vectors)",
    )
    m.add_argument(
        "--caps-dim", type=_DIM, default=d.caps_dim, help="capitalisation embedding size"
    )
    m.add_argument(
        "--affix-dim",
        type=_DIM,
        default=d.affix_dim,
        help="embedding size of each suffix/prefix feature",
    )
    m.add_argument("--shape-dim", type=_DIM, default=d.shape_dim, help="word-shape embedding size")
    m.add_argument(
        "--hidden", type=int_option(minimum=0), default=d.hidden, help="hidden units (0: none)"
    )
    m.add_argument(
        "--activation",
        choices=("tanh", "relu", "hardtanh"),
        default=d.activation,
        help="nonlinearity of the hidden layer",
    )
    m.add_argument(
        "--dropout",
        type=_PROB_LT1,
        default=d.dropout,
        help="dropout probability on the window vector and the hidden layer",
    )
    m.add_argument(
        "--min-freq",
        type=int_option(minimum=1),
        default=d.min_freq,
        help="training words seen fewer times share the <unk> vector",
    )
    m.add_argument(
        "--unconstrained",
        action="store_true",
        help="allow ill-formed IOB2 transitions (e.g. O -> I-PER) when decoding",
    )
    o = t.add_argument_group("optimisation")
    o.add_argument(
        "--optimizer",
        choices=("sgd", "adagrad", "adam", "adamw"),
        default=d.optimizer,
        help="optimiser (adam updates only the embedding rows of the batch: lazy Adam)",
    )
    o.add_argument("--lr", type=_POSITIVE, default=d.lr, help="initial learning rate")
    o.add_argument(
        "--weight-decay",
        type=_NON_NEGATIVE,
        default=d.weight_decay,
        help="L2 weight decay (decoupled for adamw)",
    )
    o.add_argument(
        "--schedule",
        choices=("none", "exp", "cosine", "plateau"),
        default=d.schedule,
        help="learning-rate schedule (exp and plateau use --lr-gamma)",
    )
    o.add_argument(
        "--lr-gamma",
        type=float_option(0.0, 1.0, min_inclusive=False),
        default=d.lr_gamma,
        help="lr factor per epoch (exp) or per non-improving epoch (plateau)",
    )
    o.add_argument(
        "--batch-size",
        type=int_option(minimum=1),
        default=None,
        help="tokens (softmax, default 128) or sentences (crf, default 16) per batch",
    )
    o.add_argument(
        "--clip-norm",
        type=_NON_NEGATIVE,
        default=d.clip_norm,
        help="gradient-norm clipping threshold; 0 disables",
    )
    o.add_argument(
        "--unk-p",
        type=float_option(0.0, 1.0),
        default=d.unk_p,
        help="probability of replacing a singleton training word by <unk>",
    )
    o.add_argument(
        "--max-epochs",
        type=int_option(minimum=1),
        default=d.max_epochs,
        help="most epochs to train",
    )
    o.add_argument(
        "--patience",
        type=int_option(minimum=1),
        default=d.patience,
        help="stop after this many epochs without a better dev F1",
    )
    o.add_argument(
        "--time-budget",
        type=_POSITIVE,
        default=None,
        help="stop when the next epoch would end after this many seconds (default: no limit)",
    )
    o.add_argument(
        "--seed",
        type=SEED,
        default=d.seed,
        help="seed of every random draw (initialisation, shuffling, dropout)",
    )
    o.add_argument(
        "--threads",
        type=int_option(minimum=0),
        default=d.threads,
        help="BLAS threads while training (0: the library's own choice)",
    )
    o.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=d.compile,
        help="compute each step's loss and gradients with chainrule.compile "
        "(generated NumPy code, one trace per batch shape; the same result "
        "as eager, see docs/ner.md). Default: on for the softmax decoder on one "
        "process (faster, the same numbers), off otherwise",
    )
    o.add_argument(
        "--quiet",
        action="store_true",
        help="no progress output on stderr (the progress bar is only drawn when "
        "stderr is a terminal; the per-epoch lines always are)",
    )
    t.set_defaults(func=_train)

    e = nsub.add_parser(
        "eval",
        help="score a model on a CoNLL file (conlleval table)",
        description="Score a model on a CoNLL file: the conlleval table and "
        "the strict IOB2 scores.",
        formatter_class=HelpFormatter,
    )
    e.add_argument("--model", required=True, help="model folder written by `ner train` (required)")
    e.add_argument(
        "--data",
        default=None,
        help="CoNLL file with gold tags (default: "
        "$CHAINRULE_DATA/conll2003/valid.txt, the dev set)",
    )
    e.add_argument(
        "--output",
        default=None,
        help="also write `word gold pred` lines (conlleval's input) to this file (default: none)",
    )
    e.add_argument(
        "--json", action="store_true", help="print the reports as JSON instead of tables"
    )
    e.set_defaults(func=_eval)

    g = nsub.add_parser(
        "tag",
        help="tag raw text from a file or stdin",
        description="Tag raw UTF-8 text (split into tokens and sentences) "
        "from a file or stdin; the result goes to stdout.",
        formatter_class=HelpFormatter,
    )
    g.add_argument("--model", required=True, help="model folder written by `ner train` (required)")
    g.add_argument("file", nargs="?", default=None, help="UTF-8 text file (default: stdin)")
    g.add_argument(
        "--format", choices=("conll", "json", "spans"), default="conll", help=TAG_FORMATS_HELP
    )
    g.set_defaults(func=_tag)


def _print_help_and_fail(parser: argparse.ArgumentParser) -> int:
    """`chainrule ner` without an action: a usage error (help on stderr, status 2)."""
    parser.print_help(sys.stderr)
    return 2


def _check_dependencies(args: argparse.Namespace) -> None:
    """Optional packages `ner train` will need, checked before any file is read."""
    require_modules("chainrule ner train", {"matplotlib": "matplotlib"})  # learning_curve.png
    if not args.quiet and stderr_is_terminal():
        require_modules(
            "the progress bar of chainrule ner train",
            {"tqdm": "tqdm"},
            alternative="or pass --quiet",
        )
    if args.threads:
        require_modules(
            "--threads", {"threadpoolctl": "threadpoolctl"}, alternative="or pass --threads 0"
        )


def _read(path: str | None, what: str) -> Any:
    from chainrule.apps.ner.conll import read_conll
    from chainrule.core import ChainruleError

    if not path:
        raise ChainruleError(f"no {what} file given (pass --{what} or set CHAINRULE_DATA)")
    if not os.path.isfile(path):
        raise ChainruleError(f"{what} file {path!r} does not exist")
    sentences = read_conll(path)
    if not sentences:
        raise ChainruleError(f"{what} file {path!r} holds no sentences")
    return sentences


# Errors are not caught here: cli.main turns every ChainruleError and OSError into one
# "chainrule: error: ..." line and exit status 1.
def _train(args: argparse.Namespace) -> int:
    from chainrule.apps.ner.train import TrainConfig, train

    _check_dependencies(args)  # before reading or training anything
    config = TrainConfig(
        decoder=args.decoder,
        features=tuple(f.strip() for f in args.features.split(",") if f),
        window=args.window,
        min_freq=args.min_freq,
        word_dim=args.word_dim,
        caps_dim=args.caps_dim,
        affix_dim=args.affix_dim,
        shape_dim=args.shape_dim,
        hidden=args.hidden,
        activation=args.activation,
        dropout=args.dropout,
        constrained=not args.unconstrained,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        lr_gamma=args.lr_gamma,
        batch_size=args.batch_size,
        clip_norm=args.clip_norm or None,
        unk_p=args.unk_p,
        max_epochs=args.max_epochs,
        patience=args.patience,
        time_budget=args.time_budget,
        seed=args.seed,
        threads=args.threads or None,
        vectors=args.vectors,
        progress=not args.quiet,
        compile=args.compile,
    )
    train_s = _read(args.train, "train")
    dev_s = _read(args.dev, "dev")
    test_s = None if args.no_test or not args.test else _read(args.test, "test")
    # The whole folder is built in a temporary sibling and renamed into place at the end:
    # entering the block checks --out before training, and any failure (full disk,
    # Ctrl-C) leaves an existing model folder as it was.
    from chainrule import distributed as dist

    # Under mpiexec: data-parallel training; a failure on any rank ends all of them.
    with dist.fail_fast():
        if not dist.is_main():
            # Other ranks train with rank 0 (which alone evaluates and writes the folder).
            train(config, train_s, dev_s)
            return 0
        return _train_main(args, config, train_s, dev_s, test_s)


def _train_main(
    args: argparse.Namespace, config: Any, train_s: Any, dev_s: Any, test_s: Any
) -> int:
    from chainrule.apps._outputs import atomic_folder
    from chainrule.apps.ner.model import MODEL_FOLDER_FILES, save_tagger
    from chainrule.apps.ner.train import evaluate_model, plot_learning_curve, train
    from chainrule.distributed import world_size

    with atomic_folder(args.out, MODEL_FOLDER_FILES, "a model folder") as tmp:
        result = train(config, train_s, dev_s)
        paths = save_tagger(tmp, result.model, result.extractor, config.to_dict())
        metrics: dict[str, Any] = {
            "decoder": config.decoder,
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "stop_reason": result.stop_reason,
            "train_seconds": result.seconds,
            "mean_epoch_seconds": result.mean_epoch_seconds,
            "history": result.history,
            "world_size": world_size(),
        }
        # A softmax model decodes with the IOB2 constraints by default; its plain per-word
        # argmax is scored too, so both numbers are on record.
        argmax = config.decoder == "softmax" and config.constrained

        def report(split: str, path: str, sentences: Any) -> None:
            r, strict, _ = evaluate_model(
                result.model, result.extractor, sentences, constrained=config.constrained
            )
            entry = {"file": path, "conlleval": r.to_dict(), "strict": strict.to_dict()}
            print(f"{split} ({path}):")
            print(r.format_table())
            print(f"strict IOB2 F1: {100 * strict.f1:.2f}")
            if argmax:
                a, _, _ = evaluate_model(
                    result.model, result.extractor, sentences, constrained=False
                )
                entry["argmax_conlleval"] = a.to_dict()
                print(f"per-word argmax decoding (no constraints) F1: {100 * a.f1:.2f}")
            metrics[split] = entry

        report("dev", args.dev, dev_s)
        if test_s is not None:
            report("test", args.test, test_s)
        with open(os.path.join(tmp, "metrics.json"), "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2)
        plot_learning_curve(
            result.history,
            os.path.join(tmp, "learning_curve.png"),
            title=f"NER window tagger ({config.decoder})",
        )
    print(
        f"trained in {result.seconds:.1f}s ({len(result.history)} epochs, "
        f"{result.mean_epoch_seconds:.1f}s/epoch); model written to {args.out} "
        f"({', '.join(os.path.basename(p) for p in paths.values())}, metrics.json, "
        f"learning_curve.png)"
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    import contextlib

    from chainrule.apps._outputs import atomic_file
    from chainrule.apps.ner.conll import write_conll
    from chainrule.apps.ner.model import load_tagger
    from chainrule.apps.ner.train import evaluate_model

    with contextlib.ExitStack() as stack:
        # --output is checked (a temporary file created beside it) before the model is
        # even loaded, and appears only complete.
        tmp = stack.enter_context(atomic_file(args.output, "--output")) if args.output else None
        model, extractor, config = load_tagger(args.model)
        sentences = _read(args.data or _default("dev"), "data")
        constrained = bool(config.get("architecture", {}).get("constrained", True))
        report, strict, pred = evaluate_model(model, extractor, sentences, constrained=constrained)
        if tmp is not None:
            write_conll(tmp, sentences, pred)
    if args.json:
        print(json.dumps({"conlleval": report.to_dict(), "strict": strict.to_dict()}, indent=2))
    else:
        print(report.format_table())
        print(
            f"strict IOB2: precision {100 * strict.precision:.2f}%; recall "
            f"{100 * strict.recall:.2f}%; FB1 {100 * strict.f1:.2f}"
        )
    return 0


def _tag(args: argparse.Namespace) -> int:
    from chainrule.apps.ner.model import load_tagger
    from chainrule.apps.ner.tagger import format_output, iter_tag_text

    model, extractor, config = load_tagger(args.model)
    # Bytes in, bytes out, UTF-8 both ways whatever the locale (see read_text).
    text = read_text(args.file, "input")
    constrained = bool(config.get("architecture", {}).get("constrained", True))
    # Sentence by sentence: the output of a long input is never held whole. Each block
    # plus "\n" reproduces format_output() of all sentences followed by a newline.
    for tagged in iter_tag_text(model, extractor, text, constrained=constrained):
        out = format_output([tagged], args.format)
        if out:
            write_text(out + "\n")
    return 0
