"""Shared test fixtures.

Data for tests lives outside the repository (``../shared/data`` in CI). Tests that need it
use the ``data_dir`` / ``conll_dir`` fixtures: on a newcomer's machine without the data they
skip with a reason; when ``CHAINRULE_REQUIRE_DATA=1`` (set by ``.ci/run``) a missing data
folder is a failure instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

_REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path | None:
    env = os.environ.get("CHAINRULE_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(_REPO.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def _need(path: Path | None, what: str) -> Path:
    if path is not None and path.exists():
        return path
    msg = (
        f"{what} not found: set CHAINRULE_DATA to the folder holding it "
        f"(e.g. CHAINRULE_DATA=../shared/data)"
    )
    if os.environ.get("CHAINRULE_REQUIRE_DATA") == "1":
        pytest.fail(msg + " [CHAINRULE_REQUIRE_DATA=1: a skip here would hide a missing test]")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _need(_data_root(), "shared data folder")


@pytest.fixture(scope="session")
def conll_dir() -> Path:
    root = _data_root()
    return _need(root / "conll2003" if root else None, "CoNLL-2003 data (conll2003/)")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With CHAINRULE_STRICT_SKIPS=1 (CI), a skipped test is reported as a failure."""
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("CHAINRULE_STRICT_SKIPS") == "1"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CHAINRULE_STRICT_SKIPS=1): {reason}"
