"""Output folders and files appear complete or not at all, and --out is checked first."""

from __future__ import annotations

import errno
import hashlib
import json
import os

import numpy as np
import pytest

from chainrule.apps._outputs import OutputError, atomic_file, atomic_folder
from chainrule.apps.ner.conll import write_conll
from chainrule.apps.ner.data import toy_corpus
from chainrule.apps.ner.model import load_tagger
from chainrule.cli.main import main
from chainrule.core import ChainruleError

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
    "--max-epochs",
    "1",
]


def digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("atomic")
    rng = np.random.default_rng(5)
    for name, n in (("train", 60), ("dev", 15)):
        write_conll(d / f"{name}.txt", toy_corpus(n, rng))
    return d


def ner_train(data, out, *extra: str) -> int:
    return main(
        [
            "ner",
            "train",
            "--train",
            str(data / "train.txt"),
            "--dev",
            str(data / "dev.txt"),
            "--out",
            str(out),
            *SMALL,
            *extra,
        ]
    )


def test_failed_train_leaves_the_existing_model_folder_loadable(
    data, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "model"
    assert ner_train(data, out) == 0
    before = digest(out)
    import chainrule.io

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    # Fails after vocab.json is written: before, that left a new vocab.json beside the
    # old config.json, and a folder that no longer loaded.
    monkeypatch.setattr(chainrule.io, "save", disk_full)
    assert ner_train(data, out, "--seed", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error:") and "No space left" in err
    assert digest(out) == before
    load_tagger(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp folder left


def test_out_is_checked_before_training(data, tmp_path, monkeypatch, capsys):
    import chainrule.apps.ner.train as ner_train_module

    monkeypatch.setattr(
        ner_train_module, "train", lambda *a, **k: pytest.fail("trained despite a bad --out")
    )
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert ner_train(data, blocker / "model") == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert ner_train(data, blocker) == 1
    assert "not a folder" in capsys.readouterr().err
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert ner_train(data, foreign) == 1
    assert "notes.txt" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_interrupted_train_writes_nothing(data, tmp_path, monkeypatch):
    import chainrule.apps.ner.train as ner_train_module

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ner_train_module, "train", interrupted)
    assert ner_train(data, tmp_path / "deep" / "model") == 130
    assert list(tmp_path.iterdir()) == []  # not even the parent folder


def test_digits_out_is_checked_before_training(tmp_path, monkeypatch, capsys):
    from chainrule.apps import digits

    monkeypatch.setattr(
        digits, "load_digits_split", lambda: pytest.fail("trained despite a bad --out")
    )
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", "digits", "--no-progress", "--out", str(blocker / "run")]) == 1
    assert "chainrule: error:" in capsys.readouterr().err


def test_eval_output_is_checked_first_and_never_partial(data, tmp_path, monkeypatch, capsys):
    model = tmp_path / "model"
    assert ner_train(data, model) == 0
    assert (
        main(
            [
                "ner",
                "eval",
                "--model",
                str(model),
                "--data",
                str(data / "dev.txt"),
                "--output",
                str(tmp_path / "no" / "such" / "pred.txt"),
            ]
        )
        == 1
    )
    assert "does not exist" in capsys.readouterr().err
    pred = tmp_path / "pred.txt"
    pred.write_text("old predictions\n")
    import chainrule.apps.ner.conll as conll

    real = conll.write_conll

    def half_then_fail(path, *args, **kwargs):
        with open(path, "w") as f:
            f.write("EU B-ORG")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(conll, "write_conll", half_then_fail)
    assert (
        main(
            [
                "ner",
                "eval",
                "--model",
                str(model),
                "--data",
                str(data / "dev.txt"),
                "--output",
                str(pred),
            ]
        )
        == 1
    )
    assert pred.read_text() == "old predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "pred.txt"]
    monkeypatch.setattr(conll, "write_conll", real)
    assert (
        main(
            [
                "ner",
                "eval",
                "--model",
                str(model),
                "--data",
                str(data / "dev.txt"),
                "--output",
                str(pred),
                "--json",
            ]
        )
        == 0
    )
    assert pred.read_text().count("\n") > 10
    assert set(json.loads(capsys.readouterr().out)) == {"conlleval", "strict"}


def test_atomic_folder_replaces_only_known_files(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "a").write_text("old")
    with atomic_folder(target, {"a", "b"}) as tmp:
        (tmp_path / os.path.basename(tmp) / "b").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b"]  # the old folder is gone
    (target / "c").write_text("foreign")
    with pytest.raises(OutputError, match="not part of") as info:
        with atomic_folder(target, {"a", "b"}):
            pytest.fail("entered")
    assert isinstance(info.value, ChainruleError)


def test_atomic_file_removes_its_temporary_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "x.txt") as tmp:
            open(tmp, "w").write("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="is a folder"):
        with atomic_file(tmp_path):
            pass
