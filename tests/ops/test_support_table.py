"""The generated NumPy support table: docs/numpy.md holds the current one, and it is complete.

If the first test fails after adding an op, regenerate the page:
``python -m chainrule.testing.support --write docs/numpy.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import REGISTRY
from chainrule.ops import toolbox
from chainrule.testing import support

PAGE = Path(__file__).resolve().parents[2] / "docs" / "numpy.md"


def test_docs_page_holds_the_generated_table():
    text = PAGE.read_text(encoding="utf-8")
    assert support.replace_between_markers(text, support.support_table()) == text, (
        "docs/numpy.md is out of date: run "
        "python -m chainrule.testing.support --write docs/numpy.md"
    )
    assert support.main(["--check", str(PAGE)]) == 0


def test_write_and_check_round_trip(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{support.START}\nstale\n{support.END}\noutro\n", encoding="utf-8")
    assert support.main(["--check", str(page)]) == 1
    assert support.main(["--write", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("outro\n") and "stale" not in text
    assert support.main(["--check", str(page)]) == 0
    with pytest.raises(ValueError, match="markers"):
        support.replace_between_markers("no markers here", "table")


def test_every_composed_function_is_in_the_table():
    names = {r.numpy for r in support.rows()}
    missing = sorted(n for n in toolbox.__all__ if n not in names)
    assert not missing, f"add these to support.COMPOSED (or NUMPY_NAMES): {missing}"


def test_declared_data_is_consistent():
    for name, parts in support.COMPOSED.items():
        unknown = [p for p in parts if p not in REGISTRY]
        assert not unknown, f"COMPOSED[{name!r}] names unknown primitives {unknown}"
    assert len(support.HIPS_AUTOGRAD) == 129 == len(set(support.HIPS_AUTOGRAD))
    # real NumPy names, except those newer NumPy removed (msort: NumPy 1 only; row_stack:
    # deprecated in NumPy 2.0, gone in 2.5)
    removed = {"msort", "row_stack"}
    for name in support.HIPS_AUTOGRAD:
        mod = np.linalg if name.startswith("linalg.") else np
        assert name in removed or hasattr(mod, name.removeprefix("linalg.")), name


def test_rows_describe_primitives_and_conventions():
    rows = {r.numpy: r for r in support.rows()}
    assert rows["subtract"].how == "primitive `sub`" and rows["subtract"].orders == "1, 2"
    assert rows["var"].how.startswith("composed")
    assert rows["greater"].orders == "none (no gradient)"
    assert "½" in rows["maximum"].convention and "sign(0)" in rows["abs"].convention
    # every non-smooth primitive in the table says what its gradient is at the kinks
    for r in rows.values():
        name = r.how.removeprefix("primitive `").split("`")[0]
        if r.how.startswith("primitive") and not REGISTRY[name].smooth:
            assert r.convention, f"{r.numpy}: no convention at non-smooth points"


def test_hips_autograd_coverage_and_that_covered_names_work():
    covered, missing = support.hips_coverage()
    assert len(covered) + len(missing) == 129
    assert len(covered) / 129 >= 0.8, f"coverage {len(covered)}/129; missing {missing}"
    for name in ("var", "kron", "diag", "tril", "repeat", "nan_to_num", "cross"):
        assert name in covered and callable(getattr(cr, name))
    assert "linalg.eig" in missing  # complex results: chainrule is real
    table = support.support_table()
    assert f"{len(covered)} of 129" in table
