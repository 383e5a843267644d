"""Run chainrule's benchmarks and print their Markdown tables.

Usage: ``python bench/run.py [NAME ...]`` where NAME is a module ``bench_NAME.py`` in this
folder (default: all of them). Each module exposes ``main()``, which returns a Markdown
table or prints its own.
BLAS threads are pinned to one (set before NumPy loads) so libraries compare fairly.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem[len("bench_") :] for p in HERE.glob("bench_*.py"))


def run(name: str) -> str | None:
    path = HERE / f"bench_{name}.py"
    if not path.exists():
        raise SystemExit(f"no benchmark {name!r}; available: {', '.join(available())}")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    saved, sys.argv = sys.argv, [str(path)]  # benchmarks with their own options get defaults
    try:
        return mod.main()
    finally:
        sys.argv = saved


def main(argv: list[str]) -> int:
    names = argv or available()
    import numpy as np

    print(
        f"<!-- {platform.platform()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, {os.cpu_count()} CPUs, "
        f"OMP/OPENBLAS threads={os.environ['OPENBLAS_NUM_THREADS']} -->"
    )
    for name in names:
        t0 = time.perf_counter()
        out = run(name)
        if isinstance(out, str):  # some benchmarks print their own tables and return a status
            print(out)
        print(f"\n_(bench_{name} took {time.perf_counter() - t0:.1f} s)_\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
