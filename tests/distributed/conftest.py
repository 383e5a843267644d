"""Launching programs under ``mpiexec`` from the tests, always with a hard timeout.

Without mpi4py (the ``chainrule[mpi]`` extra) these tests skip with the reason; with
``CHAINRULE_REQUIRE_TOOLS=1`` (CI) they fail instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("mpi_worker.py")
REPO = Path(__file__).resolve().parents[2]


def _mpiexec() -> str | None:
    here = shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    return here or shutil.which("mpiexec")


def _launcher() -> list[str]:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        reason = "mpi4py is not installed (pip install -e '.[mpi]'): MPI runs are not tested"
    else:
        exe = _mpiexec()
        if exe is not None:
            cmd = [exe]
            version = subprocess.run(
                [exe, "--version"], capture_output=True, text=True, timeout=30
            ).stdout
            if "Open MPI" in version or "OpenRTE" in version:
                cmd += ["--oversubscribe", "--allow-run-as-root"]
            return cmd
        reason = "mpiexec is not on PATH (pip install -e '.[mpi]')"
    if os.environ.get("CHAINRULE_REQUIRE_TOOLS") == "1":
        pytest.fail(reason + " [CHAINRULE_REQUIRE_TOOLS=1: a skip here would hide it]")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mpirun():
    """``mpirun(n, *args, timeout=...)`` -> CompletedProcess (args after the python exe)."""
    launcher = _launcher()

    def run(
        n: int, *args: str, timeout: float = 60, cwd: str | None = None, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        full_env = dict(
            os.environ,
            OMP_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
            PYTHONUNBUFFERED="1",
            CHAINRULE_TRACEBACK="1",
            **(env or {}),
        )
        full_env.pop("PMI_SIZE", None)
        return subprocess.run(
            [*launcher, "-n", str(n), sys.executable, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=full_env,
        )

    return run
