"""``chainrule train digits`` end to end on a short run."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

import chainrule as cr  # noqa: E402
from chainrule.apps import digits  # noqa: E402
from chainrule.cli.main import main  # noqa: E402


def test_train_digits_short_run(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        ["train", "digits", "--epochs", "3", "--hidden", "32", "--out", str(out), "--seed", "1"]
    )
    assert rc == 0
    printed = capsys.readouterr()
    assert "test accuracy:" in printed.out
    assert printed.err == ""  # captured stderr is no terminal: no progress bar
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.8  # chance is 0.1
    png = (out / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    state = cr.io.load(out / "digits.ckpt")
    assert state["config"]["hidden"] == [32] and len(state["history"]["loss"]) == 3
    assert state["history"]["loss"][-1] < state["history"]["loss"][0]
    model, _ = digits.load_model(str(out / "digits.ckpt"))
    Xtr, Xte, ytr, yte = digits.load_digits_split()
    norm = state["normalization"]
    acc = digits.evaluate(model, (Xte - norm["mean"]) / norm["std"], yte)
    assert acc == pytest.approx(metrics["test_accuracy"])


def test_svm_loss_sgd_and_two_hidden_layers(tmp_path, capsys):
    rc = main(
        [
            "train",
            "digits",
            "--epochs",
            "2",
            "--hidden",
            "32,16",
            "--loss",
            "svm",
            "--optimizer",
            "momentum",
            "--activation",
            "leaky_relu",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    assert capsys.readouterr().err == ""
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.6
    assert metrics["config"]["loss"] == "svm"


def test_same_seed_same_result(tmp_path):
    cfg = dict(epochs=2, hidden=(16,), out=None, progress=False, seed=4)
    a = digits.train(digits.DigitsConfig(**cfg), log=lambda *x: None)
    b = digits.train(digits.DigitsConfig(**cfg), log=lambda *x: None)
    assert a.history == b.history
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["train", "digits", "--hidden", "12,x"])
    assert "--hidden" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # a usage error now, before any work
        main(["train", "digits", "--epochs", "0", "--no-progress"])
    assert info.value.code == 2
    assert "--epochs: must be an integer >= 1, got '0'" in capsys.readouterr().err
    assert main(["train"]) == 2
