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
