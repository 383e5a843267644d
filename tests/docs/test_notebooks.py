"""The notebooks in ``notebooks/`` run from top to bottom and show what they promise.

Each is executed in a fresh Jupyter kernel (nbclient + ipykernel, of this interpreter) from
the ``notebooks/`` folder, as a reader would run it; a cell that raises fails the test with
the cell and its traceback. The notebooks are committed without outputs. Without the
notebook tools these tests skip, except under ``CHAINRULE_REQUIRE_TOOLS=1`` (CI).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def _require_jupyter() -> None:
    missing = [
        m for m in ("nbclient", "nbformat", "ipykernel") if importlib.util.find_spec(m) is None
    ]
    if missing:
        msg = (
            f'the notebook tools are not installed ({", ".join(missing)}): pip install -e ".[test]"'
        )
        if os.environ.get("CHAINRULE_REQUIRE_TOOLS") == "1":
            pytest.fail(msg + " [CHAINRULE_REQUIRE_TOOLS=1: a skip here would hide it]")
        pytest.skip(msg)


def run_notebook(name: str, monkeypatch) -> tuple[str, list[dict]]:
    """Execute ``notebooks/<name>``; returns (all printed text, every rich output's data)."""
    _require_jupyter()
    import nbformat
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    class ThisPython(KernelManager):
        """The kernel runs this interpreter, whatever kernelspecs the machine has."""

        @property
        def kernel_spec(self) -> KernelSpec:
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3",
                language="python",
            )

    # the kernel inherits this environment: it must import this checkout's chainrule
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p),
    )
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        kernel_manager_class=ThisPython,
    )
    client.execute()  # raises CellExecutionError (with the cell) if any cell fails
    text, rich = [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out
            if out["output_type"] == "stream" and out["name"] == "stdout":
                text.append(out["text"])
            elif out["output_type"] in ("display_data", "execute_result"):
                rich.append(dict(out["data"]))
    return "".join(text), rich


def _number(text: str, label: str) -> float:
    found = re.findall(re.escape(label) + r"\s*(-?[0-9.]+(?:e-?[0-9]+)?)", text)
    assert found, f"{label!r} not printed:\n{text}"
    return float(found[-1])


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = json.loads(path.read_text("utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook without code"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_backprop_by_hand_notebook(monkeypatch):
    text, rich = run_notebook("01_backprop_by_hand.ipynb", monkeypatch)
    # the lecture's numbers, by hand and from chainrule's backward()
    assert "by hand:   f = -12.0, df/dx = -4.0, df/dy = -4.0, df/dz = 3.0" in text
    assert "chainrule: f = -12.0, df/dx = -4.0, df/dy = -4.0, df/dz = 3.0" in text
    assert "chainrule: dw = [-0.20, -0.39, 0.20], dx = [0.39, -0.59]" in text
    assert text.count("hand and chainrule agree") == 2
    # explain(): the gate patterns and the recognised sigmoid
    assert "mul gate swaps" in text and "add gate distributes" in text
    assert "compute the sigmoid" in text
    assert _number(text, "largest gradient difference") < 1e-10
    # draw(): two pictures (SVG with Graphviz, else the DOT text as HTML), and the page
    drawings = [d for d in rich if "image/svg+xml" in d or "<pre>digraph" in d.get("text/html", "")]
    assert len(drawings) == 2
    assert sum(d.get("text/html", "").startswith("<iframe") for d in rich) == 1  # step page


def test_train_two_layer_net_notebook(monkeypatch):
    text, rich = run_notebook("02_train_two_layer_net.ipynb", monkeypatch)
    assert _number(text, "test accuracy:") > 0.9  # measured 0.97
    assert _number(text, "final training loss:") < 0.2
    assert sum("image/png" in d for d in rich) == 1  # the learning curves
    assert "dX = dY · W" in text  # explain() on the real model


def test_ner_window_tagger_notebook(monkeypatch, conll_dir):
    monkeypatch.setenv("CHAINRULE_DATA", str(conll_dir.parent))
    text, rich = run_notebook("03_ner_window_tagger.ipynb", monkeypatch)
    assert "14041 training and 3250 dev sentences" in text
    f1 = _number(text, "dev F1 (conlleval):")
    assert 40 < f1 <= 100  # measured 57.8 (seed 0)
    assert sum("image/png" in d for d in rich) == 1  # the learning curve
    assert text.count("entities:") == 2  # two raw sentences tagged
