"""`chainrule explain`: end to end, and every way a typed formula can be rejected."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from chainrule.cli.main import main
from chainrule.viz import render as viz_render

SRC = Path(__file__).resolve().parents[2] / "src"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["explain", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_lecture_example_end_to_end(capsys):
    rc, out, err = run_cli(capsys, "(x + y) * z", "--at", "x=-2", "y=5", "z=-4")
    assert rc == 0 and err == ""
    assert out.startswith("Backpropagation through f = (x + y) * z at x = -2, y = 5, z = -4")
    assert "∂f/∂f = 1 (the seed)" in out
    assert "∂f/∂t1 = df · z = 1 · (-4) = -4" in out
    assert "∂f/∂z = df · t1 = 1 · 3 = 3" in out
    assert "∂f/∂x = dt1 = -4" in out and "∂f/∂y = dt1 = -4" in out


def test_max_example_sums_fanout(capsys):
    rc, out, _ = run_cli(capsys, "(x + y) * max(y, z)", "--at", "x=1", "y=2", "z=0")
    assert rc == 0
    assert "y: 2 from t1 (add), 3 from t2 (maximum); total 5" in out
    assert "max gate routes" in out
    assert re.search(r"^\s+z\s+\(\)\s+0\s+0\s", out, re.M)  # z's gradient is 0


def test_values_may_be_small_formulas_and_precision(capsys):
    rc, out, _ = run_cli(
        capsys,
        "sigmoid(w0*x0 + w1*x1 + w2)",
        "--at",
        "w0=2",
        "x0=-1",
        "w1=-3",
        "x1=-2",
        "w2=-6/2",
        "--precision",
        "2",
    )
    assert rc == 0
    assert "(1 − 0.73)·0.73 = 0.20" in out
    rc, out, _ = run_cli(capsys, "log(x)", "--at", "x=exp(2)")
    assert rc == 0 and "f = 2\n" in out


def test_markdown_and_html_formats_carry_the_same_numbers(capsys):
    args = ("x * y + max(x, y)", "--at", "x=1.5", "y=-0.25")
    rc, md, _ = run_cli(capsys, *args, "--format", "md")
    assert rc == 0 and md.startswith("## Backpropagation")
    rc, doc, _ = run_cli(capsys, *args, "--format", "html")
    assert rc == 0 and doc.startswith("<div")
    number = re.compile(r"-?\d+(?:\.\d+)?")
    text_of_html = html.unescape(re.sub(r"<[^>]+>", " ", doc))
    assert Counter(number.findall(md)) == Counter(number.findall(text_of_html))


def test_draw_option(tmp_path, capsys, monkeypatch):
    target = tmp_path / "graph.dot"
    rc, out, err = run_cli(capsys, "x * y", "--at", "x=3", "y=-2", "--draw", str(target))
    assert rc == 0 and "wrote the graph" in err
    assert target.read_text().startswith("digraph chainrule {")
    monkeypatch.setattr(viz_render, "find_dot", lambda: None)
    rc, out, err = run_cli(
        capsys, "x * y", "--at", "x=3", "y=-2", "--draw", str(tmp_path / "g.svg")
    )
    assert rc == 0 and "dot -Tsvg" in err and (tmp_path / "g.dot").exists()


def test_draw_svg_when_dot_is_installed(tmp_path, capsys):
    if viz_render.find_dot() is None:
        msg = "Graphviz's `dot` is not installed (apt-get install graphviz)"
        if os.environ.get("CHAINRULE_REQUIRE_TOOLS") == "1":
            pytest.fail(msg + " [CHAINRULE_REQUIRE_TOOLS=1]")
        pytest.skip(msg)
    rc, _, err = run_cli(
        capsys,
        "(x + y) * max(y, z)",
        "--at",
        "x=1",
        "y=2",
        "z=0",
        "--draw",
        str(tmp_path / "g.svg"),
    )
    assert rc == 0 and "drew the graph" in err
    assert "<svg" in (tmp_path / "g.svg").read_text()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_python_dash_m_subprocess():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainrule",
            "explain",
            "(x + y) * max(y, z)",
            "--at",
            "x=1",
            "y=2",
            "z=0",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        encoding="utf-8",
    )
    assert done.returncode == 0, done.stderr
    assert "y: 2 from t1 (add), 3 from t2 (maximum); total 5" in done.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainrule",
            "explain",
            "__import__('os').system('echo hi')",
            "--at",
            "x=1",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        encoding="utf-8",
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert "at column 1" in bad.stderr and "\n    ^" in bad.stderr


def caret_column(err: str) -> int:
    """1-based column the caret points at, from the two lines under the message."""
    lines = err.rstrip("\n").splitlines()
    return lines[-1].index("^") - 4 + 1


@pytest.mark.parametrize(
    "expression, column, words",
    [
        ("__import__('os')", 1, "names starting with '_'"),
        ("x.real", 2, "attribute access"),
        ("x[0]", 2, "indexing"),
        ("lambda: x", 1, "keyword 'lambda'"),
        ("x if x else x", 3, "keyword 'if'"),
        ("exp", 1, "must be called"),
        ("open(x)", 1, "unknown function 'open'"),
        ("x +", 4, "unexpected end"),
    ],
)
def test_rejected_expressions(capsys, expression, column, words):
    rc, out, err = run_cli(capsys, expression, "--at", "x=1")
    assert rc == 2 and out == ""
    assert err.startswith("chainrule explain: error: ")
    assert words in err and f"at column {column}" in err
    assert caret_column(err) == column
    assert f"    {expression}\n" in err


def test_rejected_huge_and_deep_inputs(capsys):
    long = "+".join(["x"] * 600)
    rc, _, err = run_cli(capsys, long, "--at", "x=1")
    assert rc == 2 and "too long (1199 characters)" in err and "at column 1001" in err
    deep = "(" * 150 + "x" + ")" * 150
    rc, _, err = run_cli(capsys, deep, "--at", "x=1")
    assert rc == 2 and "nested too deeply" in err and "at column 101" in err
    deep_calls = "exp(" * 120 + "x" + ")" * 120
    rc, _, err = run_cli(capsys, deep_calls, "--at", "x=1")
    assert rc == 2 and "nested too deeply" in err


@pytest.mark.parametrize(
    "item, column, words",
    [
        ("y2", 3, "expected NAME=VALUE"),
        ("=3", 1, "missing variable name"),
        ("y=", 3, "missing value for 'y'"),
        ("y=1+", 5, "bad value for 'y'"),
        ("y=abc", 3, "undefined variable 'abc'"),
        ("_y=1", 1, "bad variable name '_y'"),
        ("2y=1", 1, "bad variable name '2y'"),
        ("y=1e999", 3, "too large"),
        ("y=__import__('os')", 3, "names starting with '_'"),
    ],
)
def test_malformed_at_values(capsys, item, column, words):
    rc, out, err = run_cli(capsys, "x * y", "--at", "x=1", item)
    assert rc == 2 and out == ""
    assert words in err and caret_column(err) == column
    assert f"    {item}\n" in err


def test_missing_duplicate_and_unused_values(capsys):
    rc, _, err = run_cli(capsys, "x * y + z * w", "--at", "x=1")
    assert rc == 2 and "no value for y, z, w" in err and "--at y=1 z=1 w=1" in err
    rc, _, err = run_cli(capsys, "x * y", "--at", "x=1", "y=2", "x=3")
    assert rc == 2 and "'x' is given twice" in err
    rc, _, err = run_cli(capsys, "x * y", "--at", "x=1", "y=2", "q=3")
    assert rc == 2 and "--at gives q, which the expression does not use" in err
    rc, _, err = run_cli(capsys, "2 * 3")
    assert rc == 2 and "no variables" in err


def test_help_mentions_the_allowed_language(capsys):
    with pytest.raises(SystemExit) as info:
        main(["explain", "--help"])
    assert info.value.code == 0
    assert "sigmoid" in capsys.readouterr().out
