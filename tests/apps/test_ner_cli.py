"""``chainrule ner train | eval | tag`` end to end, on tiny synthetic CoNLL files."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from chainrule.apps.ner.conll import read_conll, write_conll
from chainrule.apps.ner.data import toy_corpus
from chainrule.cli.main import main

SMALL = [
    "--hidden",
    "16",
    "--word-dim",
    "8",
    "--affix-dim",
    "4",
    "--shape-dim",
    "3",
    "--batch-size",
    "16",
    "--lr",
    "0.01",
    "--quiet",
    "--features",
    "word,caps,suffix3,shape",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ner_cli")
    rng = np.random.default_rng(7)
    paths = {}
    for name, n in (("train", 120), ("dev", 30), ("test", 30)):
        paths[name] = d / f"{name}.txt"
        write_conll(paths[name], toy_corpus(n, rng))
    return d, paths


@pytest.fixture(scope="module")
def model_dir(files):
    d, p = files
    out = d / "model"
    code = main(
        [
            "ner",
            "train",
            "--train",
            str(p["train"]),
            "--dev",
            str(p["dev"]),
            "--test",
            str(p["test"]),
            "--out",
            str(out),
            "--max-epochs",
            "2",
            *SMALL,
        ]
    )
    assert code == 0
    return out


def test_train_writes_a_complete_model_folder(model_dir):
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == [
        "config.json",
        "learning_curve.png",
        "metrics.json",
        "model.ckpt",
        "vocab.json",
    ]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert metrics["history"][0]["seconds"] > 0 and metrics["history"][0]["words_per_s"] > 0
    for split in ("dev", "test"):
        assert 0.0 <= metrics[split]["conlleval"]["f1"] <= 1.0
        assert metrics[split]["strict"]["mode"] == "strict"
        # softmax decodes with IOB2 constraints; the plain argmax is recorded as well
        assert 0.0 <= metrics[split]["argmax_conlleval"]["f1"] <= 1.0
    assert (model_dir / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["train"]["max_epochs"] == 2 and config["architecture"]["hidden"] == 16


def test_eval_prints_a_conlleval_table(model_dir, files, capsys, tmp_path):
    _, p = files
    pred_file = tmp_path / "pred.txt"
    assert (
        main(
            [
                "ner",
                "eval",
                "--model",
                str(model_dir),
                "--data",
                str(p["dev"]),
                "--output",
                str(pred_file),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("processed ")
    assert "FB1:" in out and "strict IOB2" in out
    # the written predictions are conlleval input: word gold pred
    rows = read_conll(pred_file)
    assert [s.words for s in rows] == [s.words for s in read_conll(p["dev"])]
    assert main(["ner", "eval", "--model", str(model_dir), "--data", str(p["dev"]), "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert set(reports) == {"conlleval", "strict"}


@pytest.mark.parametrize("fmt", ["conll", "json", "spans"])
def test_tag_raw_text_from_stdin_and_file(model_dir, capsys, monkeypatch, tmp_path, fmt):
    text = "Peter Blackburn visited Paris on Monday.\nReuters said it rained in Oslo."
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["ner", "tag", "--model", str(model_dir), "--format", fmt]) == 0
    from_stdin = capsys.readouterr().out
    f = tmp_path / "raw.txt"
    f.write_text(text, encoding="utf-8")
    assert main(["ner", "tag", "--model", str(model_dir), str(f), "--format", fmt]) == 0
    assert capsys.readouterr().out == from_stdin
    if fmt == "conll":
        lines = from_stdin.splitlines()
        assert lines[0].split()[0] == "Peter" and len(lines[0].split()) == 2
    elif fmt == "json":
        objs = [json.loads(line) for line in from_stdin.splitlines()]
        assert len(objs) == 2 and objs[1]["tokens"][-1] == "."
    else:
        for line in from_stdin.splitlines():
            s, e, typ, surface = line.split("\t")
            assert typ in {"PER", "LOC", "ORG", "MISC"}
            assert text[int(s) : int(e)].split() == surface.split()


def test_broken_model_folder_is_a_clear_error(model_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "model.ckpt"):
        (broken / name).write_bytes((model_dir / name).read_bytes())
    assert main(["ner", "eval", "--model", str(broken), "--data", "x.txt"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error:") and "vocab.json" in err
    vocab = json.loads((model_dir / "vocab.json").read_text())
    vocab["vocabs"]["word"]["words"][0] = "something-else"
    (broken / "vocab.json").write_text(json.dumps(vocab))
    assert main(["ner", "tag", "--model", str(broken)]) == 1
    assert "does not belong to this model" in capsys.readouterr().err


def test_bad_input_files_are_clear_errors(files, tmp_path, capsys, monkeypatch):
    _, p = files
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    code = main(
        [
            "ner",
            "train",
            "--train",
            str(tmp_path / "missing.txt"),
            "--dev",
            str(p["dev"]),
            "--out",
            str(tmp_path / "m"),
            "--quiet",
        ]
    )
    assert code == 1
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("EU B-ORG\nrejects O extra\n")
    code = main(
        [
            "ner",
            "train",
            "--train",
            str(bad),
            "--dev",
            str(p["dev"]),
            "--out",
            str(tmp_path / "m"),
            "--quiet",
        ]
    )
    assert code == 1
    assert "line 2" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()  # nothing written for a failed run


def test_data_defaults_come_from_chainrule_data(files, tmp_path, monkeypatch, capsys):
    d, p = files
    root = tmp_path / "data"
    (root / "conll2003").mkdir(parents=True)
    for split, name in (("train", "train.txt"), ("dev", "valid.txt")):
        (root / "conll2003" / name).write_bytes(p[split].read_bytes())
    monkeypatch.setenv("CHAINRULE_DATA", str(root))
    out = tmp_path / "m"
    assert main(["ner", "train", "--out", str(out), "--max-epochs", "1", *SMALL]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dev"]["file"].endswith("valid.txt") and "test" not in metrics
    assert "dev (" in capsys.readouterr().out
