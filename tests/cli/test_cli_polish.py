"""What every command promises its user: help with defaults, one exit-status rule, optional
packages checked before any work, progress bars that only draw on a terminal."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.apps.ner.conll import write_conll
from chainrule.apps.ner.data import toy_corpus
from chainrule.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
SRC = str(Path(chainrule.__file__).resolve().parents[1])
INSTALL = "pip install 'chainrule[apps]'"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("CHAINRULE_TRACEBACK", None)
    env.update(extra)
    return env


def _parsers(parser: argparse.ArgumentParser, name: str = "chainrule"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


ALL_PARSERS = list(_parsers(build_parser()))


# ------------------------------------------------------------------ --help
def test_every_command_is_walked():
    names = {n for n, _ in ALL_PARSERS}
    assert {
        "chainrule",
        "chainrule demo",
        "chainrule train",
        "chainrule train digits",
        "chainrule explain",
        "chainrule ner",
        "chainrule ner train",
        "chainrule ner eval",
        "chainrule ner tag",
    } <= names


@pytest.mark.parametrize("name,parser", ALL_PARSERS, ids=[n for n, _ in ALL_PARSERS])
def test_every_option_shows_its_meaning_and_default(name, parser):
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(
            action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction
        ):
            continue
        label = action.option_strings[0] if action.option_strings else action.dest
        assert action.help and action.help.strip(), f"{name} {label}: no help"
        takes_value = action.nargs != 0
        if takes_value and not action.required:
            text = formatter._get_help_string(action) or ""
            assert "default" in text.lower(), f"{name} {label}: default not shown: {text!r}"
    text = parser.format_help()
    assert "(default: None)" not in text and "{'" not in text, text  # no raw None or dict


def test_digits_help_spells_out_the_per_optimizer_learning_rate():
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", "digits", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 0
    help_text = " ".join(done.stdout.split())
    assert (
        "(default: per --optimizer: sgd 0.1, momentum 0.05, adagrad 0.05, adam 0.002, "
        "adamw 0.002)" in help_text
    )
    assert "--hidden HIDDEN hidden layer sizes" in help_text and "(default: 128)" in help_text
    assert "(default: 40)" in help_text  # --epochs


def test_tag_spans_columns_are_documented_in_help_and_docs():
    tag = dict(ALL_PARSERS)["chainrule ner tag"]
    help_text = re.sub(r"-\s+", "-", " ".join(tag.format_help().split()))  # "tab- separated"
    for needle in ("START, END, TYPE, TEXT", "tab-separated", "character offsets", "END exclusive"):
        assert needle in help_text
    docs = (ROOT / "docs" / "ner.md").read_text(encoding="utf-8")
    assert "`START`, `END`, `TYPE`, `TEXT`, separated by tabs" in docs


def test_docs_say_where_conll2003_comes_from_without_links():
    docs = (ROOT / "docs" / "ner.md").read_text(encoding="utf-8")
    data = docs.split("\n## Data\n", 1)[1]
    for needle in (
        "Tjong Kim Sang & De Meulder, 2003",
        "RCV1",
        "NIST",
        "annotations",
        "Reuters/NIST agreement",
    ):
        assert needle in data
    assert "http" not in data and "www." not in data


# ------------------------------------------------------------------ exit statuses
@pytest.mark.parametrize("argv", [[], ["ner"], ["train"]])
def test_a_missing_command_is_a_usage_error(argv, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: chainrule")


def test_bare_chainrule_in_a_subprocess_prints_help_and_exits_2():
    done = subprocess.run(
        [sys.executable, "-m", "chainrule"], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert (
        "usage: chainrule" in done.stderr
        and "Exit status: 0 success, 2 usage error" in " ".join(done.stderr.split())
    )


def test_help_and_version_succeed(capsys):
    for argv in (["--help"], ["--version"], ["ner", "tag", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0


def test_an_internal_error_is_a_one_line_failure_with_status_1(monkeypatch, capsys):
    import chainrule.cli.demo as demo

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(demo, "run", broken)
    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (RuntimeError: boom)" in err


# ------------------------------------------------------------------ optional packages first
def _block(monkeypatch, *modules: str) -> None:
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)  # import m fails; find_spec says missing


def _fail_if_called(*args, **kwargs):
    raise AssertionError("work started before the optional packages were checked")


def test_ner_train_without_matplotlib_fails_before_reading_or_training(
    monkeypatch, tmp_path, capsys
):
    import chainrule.apps.ner.train as ner_train

    monkeypatch.setattr(ner_train, "train", _fail_if_called)
    _block(monkeypatch, "matplotlib")
    out = tmp_path / "model"
    # The training files do not exist: the package check must come first.
    assert (
        main(
            [
                "ner",
                "train",
                "--train",
                str(tmp_path / "nope.txt"),
                "--dev",
                str(tmp_path / "nope.txt"),
                "--out",
                str(out),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err == (
        "chainrule: error: chainrule ner train needs matplotlib, which is not "
        f"installed: {INSTALL}\n"
    )
    assert not out.exists()


def test_ner_train_tqdm_only_needed_for_a_bar_on_a_terminal(monkeypatch, tmp_path, capsys):
    import chainrule.cli.ner as ner_cli

    _block(monkeypatch, "tqdm")
    argv = [
        "ner",
        "train",
        "--train",
        str(tmp_path / "nope.txt"),
        "--dev",
        str(tmp_path / "nope.txt"),
        "--out",
        str(tmp_path / "m"),
    ]
    monkeypatch.setattr(ner_cli, "stderr_is_terminal", lambda stream=None: True)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "needs tqdm" in err and INSTALL in err and "--quiet" in err
    assert main([*argv, "--quiet"]) == 1  # gets as far as the missing file
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setattr(ner_cli, "stderr_is_terminal", lambda stream=None: False)
    assert main(argv) == 1  # no terminal, no bar, no tqdm needed
    assert "does not exist" in capsys.readouterr().err


def test_ner_train_threads_needs_threadpoolctl(monkeypatch, tmp_path, capsys):
    _block(monkeypatch, "threadpoolctl")
    argv = [
        "ner",
        "train",
        "--train",
        str(tmp_path / "nope.txt"),
        "--dev",
        str(tmp_path / "nope.txt"),
        "--out",
        str(tmp_path / "m"),
        "--quiet",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--threads needs threadpoolctl" in err and "--threads 0" in err and INSTALL in err
    assert main([*argv, "--threads", "0"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_ner_train_without_matplotlib_in_a_subprocess_is_one_quick_line(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("train", "dev"):
        write_conll(tmp_path / f"{name}.txt", toy_corpus(20, rng))
    code = (
        "import sys; sys.modules['matplotlib'] = None; "
        "from chainrule.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    out = tmp_path / "model"
    t0 = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "ner",
            "train",
            "--train",
            str(tmp_path / "train.txt"),
            "--dev",
            str(tmp_path / "dev.txt"),
            "--out",
            str(out),
            "--max-epochs",
            "50",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "chainrule: error: chainrule ner train needs matplotlib, which is "
        f"not installed: {INSTALL}\n"
    )
    assert done.stdout == "" and not out.exists()
    assert time.perf_counter() - t0 < 30


def test_digits_checks_scikit_learn_and_matplotlib_first(monkeypatch, tmp_path, capsys):
    pytest.importorskip("sklearn")
    from chainrule.apps import digits

    monkeypatch.setattr(digits, "_train", _fail_if_called)
    out = tmp_path / "run"
    _block(monkeypatch, "sklearn", "matplotlib")
    assert main(["train", "digits", "--out", str(out), "--no-progress"]) == 1
    assert capsys.readouterr().err == (
        "chainrule: error: the digits job needs scikit-learn and matplotlib, which are not "
        f"installed: {INSTALL}\n"
    )
    assert not out.exists()
    # Without an output folder nothing is plotted: matplotlib is not needed.
    monkeypatch.delitem(sys.modules, "sklearn")
    digits.check_dependencies(digits.DigitsConfig(out=None, progress=False))


def test_digits_needs_tqdm_only_for_a_bar_on_a_terminal(monkeypatch, tmp_path, capsys):
    from chainrule.apps import digits
    from chainrule.cli import _common

    _block(monkeypatch, "tqdm")
    monkeypatch.setattr(_common, "stderr_is_terminal", lambda stream=None: True)
    monkeypatch.setattr(digits, "_train", _fail_if_called)
    assert main(["train", "digits", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "the digits progress bar needs tqdm" in err and INSTALL in err
    assert "--no-progress" in err
    digits.check_dependencies(digits.DigitsConfig(out=None, progress=False))
    monkeypatch.setattr(_common, "stderr_is_terminal", lambda stream=None: False)
    digits.check_dependencies(digits.DigitsConfig(out=None, progress=True))


# ------------------------------------------------------------------ progress bars
def test_digits_bar_is_quiet_when_stderr_is_not_a_terminal(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", "digits", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=_env(MPLBACKEND="Agg"),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no "0/40" refreshes, no bar at all
    assert "test accuracy:" in done.stdout
    assert (tmp_path / "run" / "metrics.json").exists()


def test_digits_bar_on_a_terminal_advances_with_the_epochs(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chainrule",
                "train",
                "digits",
                "--epochs",
                "12",
                "--hidden",
                "16",
                "--out",
                str(tmp_path / "run"),
            ],
            stdout=subprocess.PIPE,
            stderr=slave,
            env=_env(MPLBACKEND="Agg"),
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        stdout = proc.communicate(timeout=120)[0].decode()
    finally:
        os.close(master)
    assert proc.returncode == 0
    err = b"".join(chunks).decode("utf-8", "replace")
    frames = [f for f in re.split(r"[\r\n]", err) if re.search(r"\d+/12", f)]
    counts = [int(re.search(r"(\d+)/12", f).group(1)) for f in frames]
    assert counts and counts[-1] == 12, err
    assert counts == sorted(counts), counts  # never goes backwards
    # The bar never shows an epoch's numbers beside the count of the epoch before.
    assert not any(c == 0 and "loss=" in f for c, f in zip(counts, frames, strict=True)), err
    assert "test accuracy:" in stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ner_bar_only_on_a_terminal():
    pytest.importorskip("tqdm")
    from chainrule.apps.ner import train as ner_train
    from chainrule.apps.ner.train import TrainConfig, train

    assert ner_train._progress_bar(10, "epoch 1", True, io.StringIO()) is None
    assert ner_train._progress_bar(10, "epoch 1", False, _Terminal()) is None
    bar = ner_train._progress_bar(10, "epoch 1", True, _Terminal())
    assert bar is not None
    bar.close()

    rng = np.random.default_rng(1)
    data = toy_corpus(30, rng)
    cfg = TrainConfig(
        max_epochs=1,
        hidden=8,
        word_dim=4,
        affix_dim=2,
        shape_dim=2,
        features=("word", "caps"),
        batch_size=16,
        progress=True,
    )
    log = io.StringIO()
    train(cfg, data, data, stream=log)
    text = log.getvalue()
    assert "epoch   1" in text and "\r" not in text and "batch/s" not in text
    tty = _Terminal()
    train(cfg, data, data, stream=tty)
    assert "epoch 1:" in tty.getvalue() and "\r" in tty.getvalue()  # the bar drew
