"""Static types: mypy is clean on the typed packages, and user code gets real types.

Runs mypy (``[tool.mypy]`` in pyproject.toml) on ``core``, ``ops``, ``transforms``, ``nn``
and ``optim`` and on two user-code samples, checked with the same settings:
``typed_sample.py`` must pass (its ``assert_type`` calls pin the inferred types) and every
marked line of ``typed_mistakes.py`` must be reported, with nothing else. Without mypy
installed the tests skip, except under ``CHAINRULE_REQUIRE_TOOLS=1`` (CI), where a missing
mypy fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

import chainrule as cr

_REPO = Path(__file__).resolve().parents[2]
_HERE = Path(__file__).resolve().parent
_SAMPLE, _MISTAKES = "tests/typing/typed_sample.py", "tests/typing/typed_mistakes.py"
_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*  \[(?P<code>[a-z-]+)\]$")


def _need_mypy() -> None:
    if importlib.util.find_spec("mypy") is not None:
        return
    msg = "mypy is not installed (pip install -e '.[test]')"
    if os.environ.get("CHAINRULE_REQUIRE_TOOLS") == "1":
        pytest.fail(msg + " [CHAINRULE_REQUIRE_TOOLS=1: a skip here would hide it]")
    pytest.skip(msg)


def _configured_files() -> list[str]:
    # the `files` of [tool.mypy] (read with a regex: tomllib is Python 3.11+)
    text = (_REPO / "pyproject.toml").read_text()
    block = re.search(r"^\[tool\.mypy\]\nfiles = \[(.*?)\]", text, re.M | re.S)
    assert block, "pyproject.toml: [tool.mypy] must start with its `files` list"
    return re.findall(r'"([^"]+)"', block[1])


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[int, str]]]:
    """One mypy run (the project's settings) over the packages and both samples.

    One run, not three: the samples import chainrule, so checking them with the packages
    costs little more than the packages alone. Returns {file name: {(line, code)}}.
    """
    _need_mypy()
    files = _configured_files()
    assert {"src/chainrule/core", "src/chainrule/ops"} <= set(files)
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(_REPO / "pyproject.toml"),
        "--cache-dir",
        str(tmp_path_factory.mktemp("mypy_cache")),
        "--show-error-codes",
        "--no-color-output",
        "--hide-error-context",
        "--no-pretty",
        *files,
        str(_HERE / "typed_sample.py"),
        str(_HERE / "typed_mistakes.py"),
    ]
    res = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True, timeout=600)
    out = res.stdout + res.stderr
    # 1: errors found (the mistakes file has them); anything else is a crash or bad usage
    assert res.returncode == 1 and "error: " in res.stdout, out
    found: dict[str, set[tuple[int, str]]] = {}
    for line in res.stdout.splitlines():
        m = _ERROR.match(line.strip())
        if m:
            found.setdefault(m["file"], set()).add((int(m["line"]), m["code"]))
        else:
            assert ": error:" not in line, f"unparsed mypy error: {line}"
    return found


def test_typed_packages_are_clean(mypy_errors):
    # errors anywhere but in the mistakes sample: the packages (or a module they import
    # whose errors are not switched off in [tool.mypy]), or the good sample
    unexpected = {f: e for f, e in mypy_errors.items() if f != _MISTAKES}
    assert not unexpected, "\n".join(
        f"{f}:{line}: [{code}]"
        for f, errs in sorted(unexpected.items())
        for line, code in sorted(errs)
    )


def test_user_code_sample_type_checks(mypy_errors):
    # typed_sample.py's assert_type calls fail the check if a type is not exactly the one
    # written there (an Any included)
    assert _SAMPLE not in mypy_errors, mypy_errors[_SAMPLE]


def test_mistakes_in_user_code_are_reported(mypy_errors):
    path = _HERE / "typed_mistakes.py"
    expected = {
        (i, m[1])
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if (m := re.search(r"  # expect: ([a-z-]+)$", line))
    }
    assert len(expected) >= 8
    assert mypy_errors.get(_MISTAKES) == expected


def test_sample_declarations_match_runtime():
    # The stubs on Tensor declare what install_methods binds: run the sample, whose
    # assert_type checks the runtime values when not under a type checker.
    sys.path.insert(0, str(_HERE))
    try:
        import typed_sample as sample
    finally:
        sys.path.remove(str(_HERE))
    x = cr.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    sample.operators(x, np.ones((2, 2)))
    sample.methods(x)
    sample.functions(x)
    sample.layers(x)
    assert np.isfinite(sample.training_step())
    assert sample.affine(x, x, cr.Tensor([1.0, 1.0])).item() == pytest.approx(58.0)


def test_declared_methods_match_the_bound_ones():
    # The stubs on Tensor (for type checkers) and install_methods (at runtime) must agree:
    # each declared name is bound, and each name chainrule.ops binds is declared.
    src = (_REPO / "src/chainrule/core/tensor.py").read_text()
    stub_part = src.split("    if TYPE_CHECKING:\n", 1)[1]
    declared = set(re.findall(r"^        def (\w+)\(", stub_part, re.M))
    assert {"__add__", "__matmul__", "sum", "reshape", "T", "explain"} <= declared
    missing = sorted(n for n in declared if not hasattr(cr.Tensor, n))
    assert not missing, f"declared on Tensor for type checkers but never bound: {missing}"
    ops_init = (_REPO / "src/chainrule/ops/__init__.py").read_text()
    bound = {
        name
        for block in re.findall(r"install_methods\(\s*\{(.*?)\n\s*\}\s*\)", ops_init, re.S)
        for name in re.findall(r'"(\w+)":', block)
    }
    assert len(bound) > 40
    undeclared = sorted(bound - declared)
    assert not undeclared, (
        f"bound by chainrule.ops but not declared in the TYPE_CHECKING "
        f"block of core/tensor.py (type checkers cannot see them): "
        f"{undeclared}"
    )


def test_tensor_like_alias_is_exported():
    from chainrule.core.typing import Axis, ShapeLike, TensorLike

    assert cr.TensorLike is TensorLike
    assert {cr.Tensor, np.ndarray, float, int, bool} <= set(get_args(TensorLike))
    assert int in get_args(Axis) and type(None) in get_args(Axis)
    assert len(get_args(ShapeLike)) == 2
    assert (Path(cr.__file__).parent / "py.typed").is_file()  # PEP 561 marker
