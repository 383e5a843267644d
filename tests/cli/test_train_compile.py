"""``--compile/--no-compile`` of ``chainrule train digits`` and ``chainrule ner train``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.apps.ner.conll import write_conll
from chainrule.apps.ner.data import toy_corpus
from chainrule.cli.main import main


def _params(state):
    return {k: np.asarray(v) for k, v in state.items()}


@pytest.mark.parametrize("loss", ["cross-entropy", "svm"])
def test_digits_compiled_training_gives_the_eager_parameters(tmp_path, loss):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    runs = {}
    for flag in ("--compile", "--no-compile"):
        out = tmp_path / flag.strip("-")
        # 1,347 training images: the last batch of each epoch (3 images) retraces once.
        # svm: labels read in NumPy would be frozen at the first batch's (accuracy 0.1)
        assert (
            main(
                [
                    "train",
                    "digits",
                    "--epochs",
                    "2",
                    "--hidden",
                    "16",
                    "--no-progress",
                    "--seed",
                    "3",
                    "--loss",
                    loss,
                    "--out",
                    str(out),
                    flag,
                ]
            )
            == 0
        )
        runs[flag] = (
            json.loads((out / "metrics.json").read_text()),
            cr.io.load(out / "digits.ckpt"),
        )
    (m_c, s_c), (m_e, s_e) = runs["--compile"], runs["--no-compile"]
    assert s_c["config"]["compile"] is True and s_e["config"]["compile"] is False
    assert m_c["test_accuracy"] == m_e["test_accuracy"] > 0.6
    np.testing.assert_allclose(s_c["history"]["loss"], s_e["history"]["loss"], rtol=1e-5)
    pc, pe = _params(s_c["model"]), _params(s_e["model"])
    assert pc.keys() == pe.keys()
    for k in pc:
        np.testing.assert_allclose(pc[k], pe[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_digits_compile_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "digits", "--help"])
    assert "--compile, --no-compile" in capsys.readouterr().out


@pytest.fixture(scope="module")
def conll_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ner_compile")
    rng = np.random.default_rng(2)
    paths = {}
    for name, n in (("train", 60), ("dev", 15)):
        paths[name] = d / f"{name}.txt"
        write_conll(paths[name], toy_corpus(n, rng))
    return paths


@pytest.mark.parametrize("decoder", ["softmax", "crf"])
def test_ner_train_compile_and_no_compile_agree(conll_files, tmp_path, decoder, capsys):
    small = [
        "--hidden",
        "12",
        "--word-dim",
        "6",
        "--affix-dim",
        "3",
        "--shape-dim",
        "3",
        "--batch-size",
        "8",
        "--lr",
        "0.01",
        "--quiet",
        "--features",
        "word,caps,shape",
        "--max-epochs",
        "2",
        "--no-test",
        "--decoder",
        decoder,
        "--train",
        str(conll_files["train"]),
        "--dev",
        str(conll_files["dev"]),
    ]
    metrics = {}
    for flag in ("--compile", "--no-compile"):
        out = tmp_path / flag.strip("-")
        assert main(["ner", "train", "--out", str(out), flag, *small]) == 0
        config = json.loads((out / "config.json").read_text())
        assert config["train"]["compile"] is (flag == "--compile")
        metrics[flag] = json.loads((out / "metrics.json").read_text())
    capsys.readouterr()
    c, e = metrics["--compile"], metrics["--no-compile"]
    assert [h["dev_f1"] for h in c["history"]] == [h["dev_f1"] for h in e["history"]]
    np.testing.assert_allclose(
        [h["loss"] for h in c["history"]], [h["loss"] for h in e["history"]], rtol=1e-5
    )
    assert c["dev"]["conlleval"] == e["dev"]["conlleval"]
