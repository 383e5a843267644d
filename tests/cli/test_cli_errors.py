"""Every failure of the ``chainrule`` command is one line on stderr and a non-zero status.

Run as real subprocesses (``python -m chainrule``) so that what a user sees is tested:
no traceback, the exit status, and the bytes on stdout (locale and pipes included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.apps.ner.conll import write_conll
from chainrule.apps.ner.data import toy_corpus
from chainrule.cli.main import main

# The subprocesses import the same chainrule as this test process.
SRC = str(Path(chainrule.__file__).resolve().parents[1])
SMALL = [
    "--hidden",
    "8",
    "--word-dim",
    "4",
    "--affix-dim",
    "2",
    "--shape-dim",
    "2",
    "--features",
    "word,caps,suffix3,shape",
    "--batch-size",
    "16",
    "--lr",
    "0.01",
    "--quiet",
    "--no-test",
]


def run(
    *argv: str, stdin: bytes = b"", env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    full_env.pop("CHAINRULE_TRACEBACK", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "chainrule", *argv],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=timeout,
    )


def assert_one_line_error(done: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    err = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert done.returncode == status, (done.returncode, err)
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def ner_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_errors")
    rng = np.random.default_rng(3)
    for name, n in (("train", 60), ("dev", 15)):
        write_conll(d / f"{name}.txt", toy_corpus(n, rng))
    return d


@pytest.fixture(scope="module")
def model(ner_files):
    out = ner_files / "model"
    assert (
        main(
            [
                "ner",
                "train",
                "--train",
                str(ner_files / "train.txt"),
                "--dev",
                str(ner_files / "dev.txt"),
                "--out",
                str(out),
                "--max-epochs",
                "1",
                *SMALL,
            ]
        )
        == 0
    )
    return out


# ------------------------------------------------------------------ option values: usage, 2
@pytest.mark.parametrize(
    "argv",
    [
        ["train", "digits", "--seed", "-1"],
        ["train", "digits", "--batch-size", "2.5"],
        ["train", "digits", "--lr", "nan"],
        ["ner", "train", "--out", "m", "--seed", "-1"],
        ["ner", "train", "--out", "m", "--word-dim", "-5"],
        ["ner", "train", "--out", "m", "--clip-norm", "-1"],
        ["ner", "train", "--out", "m", "--threads", "-1"],
        ["ner", "train", "--out", "m", "--time-budget", "-5"],
        ["ner", "train", "--out", "m", "--dropout", "1"],
        ["ner", "train", "--out", "m", "--lr-gamma", "inf"],
        ["explain", "x", "--at", "x=1", "--precision", "-1"],
    ],
)
def test_bad_numeric_options_are_usage_errors(argv):
    # In-process (fast): argparse exits with 2 before anything runs.
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_bad_option_in_a_subprocess_is_one_usage_line():
    done = run("ner", "train", "--out", "m", "--clip-norm", "-1")
    err = assert_one_line_error(done, 2, "--clip-norm: must be a finite number >= 0, got '-1'")
    assert err.strip().splitlines()[-1].startswith("chainrule ner train: error:")


# ------------------------------------------------------------------ explain
def test_explain_complex_value_is_an_error_not_a_traceback():
    done = run("explain", "x", "--at", "x=(-8)**0.5")
    assert_one_line_error(done, 2, "not a real number")
    assert done.stdout == b""


def test_explain_documented_dash_dash_form():
    done = run("explain", "--", "-x*y", "--at", "x=1", "y=2")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode("utf-8").startswith("Backpropagation through f = -x * y")


# ------------------------------------------------------------------ ner tag: bytes and locale
def test_tag_rejects_non_utf8_stdin_and_file(model, tmp_path):
    done = run("ner", "tag", "--model", str(model), stdin=b"Caf\xe9 in Paris.\n")
    assert_one_line_error(done, 1, "chainrule: error:", "not valid UTF-8", "offset 3")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"Caf\xe9 in Paris.\n")
    done = run("ner", "tag", "--model", str(model), str(bad))
    assert_one_line_error(done, 1, "not valid UTF-8", "latin1.txt")


def test_tag_reads_and_writes_utf8_under_the_c_locale(model):
    done = run(
        "ner",
        "tag",
        "--model",
        str(model),
        "--format",
        "json",
        stdin="Café in São Paulo.\n".encode(),
        env={"LC_ALL": "C", "LANG": "C"},
    )
    assert done.returncode == 0, done.stderr.decode()
    [obj] = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert obj["tokens"] == ["Café", "in", "São", "Paulo", "."]


def test_tag_into_a_closed_pipe_exits_quietly(model, tmp_path):
    text = tmp_path / "many.txt"
    text.write_text("Peter visited Paris on Monday .\n" * 20000, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "ner", "tag", "--model", str(model), str(text)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()  # like `| head -1`: read a line, then close the pipe
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_ctrl_c_is_a_quiet_exit_130(monkeypatch, capsys):
    import chainrule.cli.explain as explain

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(explain, "run", interrupted)
    assert main(["explain", "x", "--at", "x=1"]) == 130
    assert capsys.readouterr().err == ""


def test_library_errors_become_one_line_exit_1(model, tmp_path):
    done = run("ner", "eval", "--model", str(tmp_path / "nothing"), "--data", "x.txt")
    err = assert_one_line_error(done, 1, "chainrule: error: model folder")
    assert len(err.strip().splitlines()) == 1
