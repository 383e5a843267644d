"""The documentation site: ``mkdocs build --strict`` succeeds and holds what it promises.

Strict mode turns every warning into a failure: a broken link or anchor, a page missing
from the nav, a page in the nav that does not exist, an API reference to a missing object,
a docstring griffe cannot parse. Without mkdocs (the ``docs`` extra) these tests skip,
except under ``CHAINRULE_REQUIRE_TOOLS=1`` (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _require_mkdocs() -> None:
    def found(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # the parent package of a dotted name is missing
            return False

    missing = [
        m
        for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
        if not found(m)
    ]
    if missing:
        msg = (
            f"the site's build tools are not installed ({', '.join(missing)}): "
            f'pip install -e ".[docs]"'
        )
        if os.environ.get("CHAINRULE_REQUIRE_TOOLS") == "1":
            pytest.fail(msg + " [CHAINRULE_REQUIRE_TOOLS=1: a skip here would hide it]")
        pytest.skip(msg)


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _load_hooks():
    spec = importlib.util.spec_from_file_location(
        "chainrule_docs_hooks", ROOT / "docs" / "hooks.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _require_mkdocs()
    out = tmp_path_factory.mktemp("site")
    proc = _mkdocs_build(ROOT / "mkdocs.yml", out)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_strict_build_succeeds_with_every_guide_and_api_page(site):
    pages = {p.parent.relative_to(site).as_posix() for p in site.rglob("index.html")}
    guides = {p.stem for p in (ROOT / "docs").glob("*.md")} - {"index"}
    assert guides <= pages, f"guides missing from the site: {guides - pages}"
    api = {
        "chainrule",
        "core",
        "transforms",
        "nn",
        "optim",
        "data",
        "io",
        "testing",
        "viz",
        "distributed",
        "compiler",
    }
    assert {f"api/{p}" for p in api} <= pages
    assert "benchmarks" in pages


def test_api_reference_is_generated_from_the_docstrings(site):
    top = (site / "api" / "chainrule" / "index.html").read_text("utf-8")
    # objects of the top-level namespace, each with its own anchor, and a docstring's text
    for name in ("Tensor", "exp", "matmul", "no_grad", "save", "tensor"):
        assert f'id="chainrule.{name}"' in top, name
    # re-exported functions defined in a module of their own name (see docs/hooks.py)
    assert 'id="chainrule.viz.explain.explain"' in top
    viz = (site / "api" / "viz" / "index.html").read_text("utf-8")
    for name in ("draw", "explain", "page"):
        assert f'id="chainrule.viz.{name}.{name}"' in viz, name
    assert "Create a Tensor (the same as" in top  # chainrule.tensor's docstring
    nn_page = (site / "api" / "nn" / "index.html").read_text("utf-8")
    assert 'id="chainrule.nn.Linear"' in nn_page
    # NumPy-style sections are parsed (a "Parameters" table), not shown as raw text
    assert "---------" not in re.sub(r"<pre.*?</pre>", "", nn_page, flags=re.S)
    # Sphinx roles in the docstrings show as code, without ":func:"
    assert ":func:" not in nn_page + top and "<code>draw</code>" in viz
    compiler = (site / "api" / "compiler" / "index.html").read_text("utf-8")
    assert re.search(r'id="chainrule\.(jit|compile)\.[A-Za-z]\w*', compiler)  # its members


def test_benchmarks_page_is_bench_readme_with_links_fixed(site):
    page = (site / "benchmarks" / "index.html").read_text("utf-8")
    first_table_row = next(
        line
        for line in (ROOT / "bench" / "README.md").read_text("utf-8").splitlines()
        if line.startswith("| **chainrule**")
    )
    figure = re.findall(r"\*\*([0-9.]+)\*\*", first_table_row)[0]
    assert f"<strong>{figure}</strong>" in page  # the measured figures, as written there
    assert 'href="../distributed/#performance"' in page
    assert "../docs/" not in page


def test_strict_build_fails_on_a_broken_link(tmp_path):
    """The strictness the suite relies on: a link to a missing anchor fails the build.

    Built on a copy of the site whose API pages are left without their ``:::`` blocks (a
    few seconds); the only warnings are about the broken link, so the copy is otherwise as
    clean as the real site (whose build the ``site`` fixture checks).
    """
    _require_mkdocs()
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    for page in (docs / "api").glob("*.md"):
        page.write_text(page.read_text("utf-8").split(":::")[0], "utf-8")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (docs / "hooks.py").write_text(  # the hook reads bench/ and src/ of the real tree
        (ROOT / "docs" / "hooks.py")
        .read_text("utf-8")
        .replace("REPO = Path(__file__).resolve().parents[1]", f"REPO = Path({str(ROOT)!r})"),
        "utf-8",
    )
    index = docs / "index.md"
    index.write_text(index.read_text("utf-8") + "\nSee [the core](core.md#no-such-section).\n")
    bad = _mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site-bad")
    assert bad.returncode != 0
    warnings = [line for line in bad.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings and all("no-such-section" in w for w in warnings), bad.stderr


def test_hooks_rewrite_links_and_drop_only_absent_optional_pages(tmp_path):
    _require_mkdocs()
    hooks = _load_hooks()
    text = "# Bench\n\nSee [x](../docs/distributed.md#performance) and [y](other.md).\n"
    out = hooks.bench_page_markdown(text)
    assert out.startswith("# Bench\n") and "](distributed.md#performance)" in out
    assert "](other.md)" in out and "bench/README.md" in out
    guide = SimpleNamespace(file=SimpleNamespace(src_uri="compile.md"))
    md = "see [the figures](../bench/README.md#compile) and [x](../bench/run.py)"
    assert hooks.on_page_markdown(md, guide, None, None) == (
        "see [the figures](benchmarks.md#compile) and [x](../bench/run.py)"
    )
    (tmp_path / "core.md").write_text("x")
    nav = [
        {"Home": "index.md"},
        {"Guides": [{"Core": "core.md"}, {"Linear algebra": "linalg.md"}, {"Typo": "nope.md"}]},
    ]
    kept = hooks._drop_missing(nav, tmp_path)
    assert kept == [{"Home": "index.md"}, {"Guides": [{"Core": "core.md"}, {"Typo": "nope.md"}]}]
    (tmp_path / "linalg.md").write_text("x")
    assert hooks._drop_missing(nav, tmp_path) == nav


def test_shadowed_members_are_found_from_all():
    _require_mkdocs()
    hooks = _load_hooks()
    viz = hooks.shadowed_members("chainrule.viz")
    assert {
        "chainrule.viz.draw.draw",
        "chainrule.viz.explain.explain",
        "chainrule.viz.page.page",
    } <= set(viz)
    assert "chainrule.viz.explain.explain_expression" not in viz  # griffe finds that one
    assert hooks.shadowed_members("chainrule") == ["chainrule.viz.explain.explain"]
    assert hooks.shadowed_members("chainrule.nn") == []


def test_sphinx_roles_become_code():
    _require_mkdocs()
    hooks = _load_hooks()
    html = (
        "see :func:<code>draw</code>, :class:<code>~chainrule.data.DataLoader</code> "
        "and :mod:<code>chainrule.viz.expr</code>; not a:<code>b</code>"
    )
    assert hooks.strip_roles(html) == (
        "see <code>draw</code>, <code>DataLoader</code> and "
        "<code>chainrule.viz.expr</code>; not a:<code>b</code>"
    )


def test_compiler_page_names_the_package_that_exists(tmp_path):
    _require_mkdocs()
    hooks = _load_hooks()
    assert "being rewritten" in hooks.compiler_page_markdown(tmp_path)
    (tmp_path / "compile").mkdir()
    (tmp_path / "compile" / "__init__.py").write_text("")
    assert "::: chainrule.compile\n" in hooks.compiler_page_markdown(tmp_path)
    (tmp_path / "jit").mkdir()
    (tmp_path / "jit" / "__init__.py").write_text("")
    assert "::: chainrule.jit\n" in hooks.compiler_page_markdown(tmp_path)


def test_home_page_example_prints_what_it_says():
    """The home page's Python block runs and prints the numbers in its comment."""
    text = (ROOT / "docs" / "index.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, "docs/index.md", "exec"), {})  # noqa: S102 - our own docs
        expected = re.search(r"print\(.*\)\s+#\s*(.+)", block).group(1).split()
        assert [float(v) for v in out.getvalue().split()] == [float(v) for v in expected]
