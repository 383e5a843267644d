"""chainrule.distributed under a real ``mpiexec`` (2 and 3 ranks on a 2-core machine)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("mpi_worker.py")


def _ok(proc, mode: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"OK {mode}" in proc.stdout, out
    return out


@pytest.mark.parametrize("overlap", [False, True])
@pytest.mark.parametrize("n", [2, 3])
def test_one_step_equals_single_process_and_ranks_stay_identical(mpirun, n, overlap):
    # MLP and row-sparse embedding model, SGD-momentum and Adam, float64: the step on a
    # batch split across ranks equals the whole-batch step to 1e-12; after 20 steps every
    # rank holds bit-identical parameters (checked in the worker). With overlap, the
    # 2-rank run reduces during backward (equal weights); 3 ranks (4+3+3) never arm it.
    args = ("exact", "overlap") if overlap else ("exact",)
    out = _ok(mpirun(n, str(WORKER), *args), "exact")
    assert f"ranks={n} overlap={overlap}" in out


@pytest.mark.parametrize("n", [2, 3])
def test_overlapped_reduction_gives_the_blocking_gradients_bit_for_bit(mpirun, n):
    # Plain steps, gradient accumulation (two backward passes), unequal weights and an
    # unused layer: overlap=True gives exactly the gradients and parameters of
    # overlap=False, and buckets did start inside backward() (checked in the worker).
    out = _ok(mpirun(n, str(WORKER), "overlap"), "overlap")
    assert f"ranks={n}" in out


@pytest.mark.parametrize("n", [2, 3])
def test_sampler_covers_every_example_once_per_epoch(mpirun, n):
    _ok(mpirun(n, str(WORKER), "sampler"), "sampler")


def test_a_rank_that_raises_ends_the_job_quickly_with_its_error(mpirun):
    t0 = time.perf_counter()
    proc = mpirun(3, str(WORKER), "raise", timeout=60)
    seconds = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert seconds < 30, f"took {seconds:.1f}s to end the job"
    assert "boom on purpose from rank 1" in out
    assert "rank 1 of 3" in out


def test_mismatched_parameter_shapes_are_reported(mpirun):
    proc = mpirun(2, str(WORKER), "mismatch", timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "the ranks built different models" in out
    assert "(9, 4)" in out and "(8, 4)" in out


def _head(src, dst, n_sentences: int) -> str:
    blocks = src.read_text(encoding="utf-8").split("\n\n")[:n_sentences]
    dst.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return str(dst)


def test_ner_cli_under_mpiexec_writes_one_loadable_model_folder(mpirun, conll_dir, tmp_path):
    import json

    from chainrule.apps.ner.model import load_tagger
    from chainrule.apps.ner.tagger import tag_text

    train = _head(conll_dir / "train.txt", tmp_path / "train.txt", 400)
    dev = _head(conll_dir / "valid.txt", tmp_path / "dev.txt", 120)
    out = tmp_path / "model"
    proc = mpirun(
        2,
        "-m",
        "chainrule",
        "ner",
        "train",
        "--train",
        train,
        "--dev",
        dev,
        "--no-test",
        "--out",
        str(out),
        "--max-epochs",
        "2",
        "--hidden",
        "32",
        timeout=120,
        cwd=str(tmp_path),
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "data-parallel on 2 ranks: global batch 128 tokens x 2 = 256" in log
    assert log.count("model written to") == 1  # rank 0 only
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    # The dev F1 from the sharded, gathered evaluation equals the one-process evaluation.
    best = next(h for h in metrics["history"] if h["epoch"] == metrics["best_epoch"])
    assert abs(best["dev_f1"] - 100 * metrics["dev"]["conlleval"]["f1"]) < 1e-9
    model, extractor, _ = load_tagger(out)  # loads in one process
    tagged = tag_text(model, extractor, "EU rejects German call to boycott British lamb .")
    assert len(tagged[0].tags) == 9


def test_digits_cli_under_mpiexec_trains_data_parallel(mpirun, tmp_path):
    pytest.importorskip("sklearn")
    proc = mpirun(
        2,
        "-m",
        "chainrule",
        "train",
        "digits",
        "--epochs",
        "2",
        "--no-progress",
        "--out",
        str(tmp_path / "run"),
        timeout=120,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "global batch 32 x 2 = 64" in log and log.count("test accuracy") == 1
    from chainrule.apps.digits import load_model

    model, state = load_model(str(tmp_path / "run" / "digits.ckpt"))
    assert state["world_size"] == 2 and state["test_accuracy"] > 0.8


def test_cli_error_on_one_rank_ends_the_job_with_the_message(mpirun, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    t0 = time.perf_counter()
    proc = mpirun(
        2,
        "-m",
        "chainrule",
        "train",
        "digits",
        "--epochs",
        "1",
        "--no-progress",
        "--out",
        str(blocker / "run"),
        timeout=60,
    )
    assert proc.returncode != 0 and time.perf_counter() - t0 < 30
    assert "chainrule: error (rank 0 of 2): cannot write" in proc.stderr
