"""Promises the project makes about itself: the README quick start and CI agree."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_commands():
    cmds = _quick_start_commands()
    assert len(cmds) == 2
    assert cmds[0].startswith("pip install") and "chainrule train digits" in cmds[0]
    assert cmds[1].startswith("pip install") and "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command():
    test_cmd = _quick_start_commands()[1].split("&&", 1)[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    lines = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert test_cmd in lines, f"{test_cmd!r} is not a command in .ci/run"


def test_console_script_declared():
    assert 'chainrule = "chainrule.cli.main:main"' in (ROOT / "pyproject.toml").read_text()


def test_readme_python_examples_run(tmp_path, monkeypatch):
    """Every ```python block of the README runs, in order, in one namespace."""
    monkeypatch.chdir(tmp_path)  # the examples write files (a checkpoint)
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own docs
    assert namespace["J"].shape == (512, 512)
    assert namespace["W"].grad.shape == (3, 2)
    assert (tmp_path / "ckpt.npz").exists()


# ------------------------------------------------------------------ packaging (pyproject)
def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_license_is_an_spdx_expression_with_its_file():
    meta = _pyproject()
    project = meta["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Copyright (c) 2026 the chainrule authors" in text
    # SPDX strings need setuptools >= 77, and a License :: classifier beside one is an error.
    requires = meta["build-system"]["requires"]
    assert any(
        re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires
    ), requires
    assert not any(c.startswith("License ::") for c in project["classifiers"])


def test_classifiers_match_requires_python():
    project = _pyproject()["project"]
    classifiers = project["classifiers"]
    assert project["requires-python"] == ">=3.10"
    versions = sorted(
        c.rsplit(" ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert versions == ["3.10", "3.11", "3.12", "3.13"]
    for c in (
        "Operating System :: OS Independent",
        "Typing :: Typed",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ):
        assert c in classifiers


def test_py_typed_ships_in_the_wheel():
    assert (ROOT / "src" / "chainrule" / "py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["chainrule"]


def test_sdist_manifest_holds_tests_docs_examples_bench_and_no_data():
    lines = [
        ln.split()
        for ln in (ROOT / "MANIFEST.in").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    grafted = {words[1] for words in lines if words[0] == "graft"}
    assert {"tests", "docs", "examples", "bench"} <= grafted
    assert "LICENSE" in next(words for words in lines if words[0] == "include")
    assert not any(".." in word for words in lines for word in words)  # never ../shared
    pruned = {words[1] for words in lines if words[0] == "prune"}
    assert {"bench/results", "shared", "data", "runs"} <= pruned


def test_extras_mean_what_they_say():
    extras = _pyproject()["project"]["optional-dependencies"]
    names = {
        e: {re.split(r"[<>=\[; ]", r, maxsplit=1)[0] for r in reqs} for e, reqs in extras.items()
    }
    assert {"tqdm", "matplotlib", "scikit-learn"} <= names["apps"]
    # rich is only used by chainrule.viz (Explanation.to_rich): its own extra, not `test`'s.
    assert names["viz"] == {"rich"}
    assert "rich" not in names["test"] and "tqdm" not in names["test"]
    assert "chainrule[apps,viz,linalg]" in extras["test"]  # the tests cover SciPy's path
    assert names["linalg"] == {"scipy"}
    assert "chainrule[test]" in extras["dev"]
    # Every extra's non-self requirement is used somewhere in the source (no dead extras).
    used = {
        "tqdm": "tqdm",
        "matplotlib": "matplotlib",
        "scikit-learn": "sklearn",
        "threadpoolctl": "threadpoolctl",
        "rich": "rich",
        "scipy": "scipy",
    }
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "src" / "chainrule").rglob("*.py")
    )
    for dist in names["apps"] | names["viz"] | names["linalg"]:
        assert re.search(rf"\b(import|from) {used[dist]}\b", source), dist
