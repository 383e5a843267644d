"""MkDocs hooks for the chainrule site (named in ``mkdocs.yml``; not a page).

* The benchmarks page *is* ``bench/README.md``: it is read at build time and added as the
  generated page ``benchmarks.md``, so the figures are written down once, beside the
  benchmarks that produce them. Its links into ``../docs/`` are rewritten to site-relative
  ones (the file lives outside ``docs/``), and the guides' links to ``../bench/README.md``
  (right on GitHub) lead to that page on the site.
* The compiler's API page (``api/compiler.md``) is generated for whichever of
  ``chainrule.jit`` / ``chainrule.compile`` the source tree has (the package is being
  renamed), so it documents only modules and members that exist.
* Griffe (mkdocstrings' reader) takes ``pkg.draw`` to be the submodule ``pkg/draw.py`` when
  ``pkg`` re-exports the function ``draw`` defined there, and leaves the function out of
  the page. ``on_page_markdown`` finds such names from the package's ``__all__`` at build
  time and documents each from where it is defined.
* The docstrings use Sphinx roles (``:func:`draw```); Markdown shows them as ":func:"
  before the code, so ``on_page_content`` drops the role (and a ``~``'s prefix).
* Guides that another change is still writing (``OPTIONAL_PAGES``) stay in the nav only
  once their file exists, so the strict build never fails on a page that is not there yet;
  every other missing page in the nav still fails it.
* ``KNOWN_DOCSTRING_ISSUES``: warnings about docstrings that are known and reported, shown
  as INFO instead of failing the strict build. Each names its file and the exact message,
  so any *new* docstring problem still fails the build; an entry that no longer matches
  anything is reported at the end of the build so it can be deleted.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.chainrule")

REPO = Path(__file__).resolve().parents[1]
BENCH_README = REPO / "bench" / "README.md"
COMPILER_PACKAGES = ("jit", "compile")  # first one present wins

if importlib.util.find_spec("chainrule") is None:  # building from a checkout, not installed
    sys.path.insert(0, str(REPO / "src"))

OPTIONAL_PAGES = frozenset({"linalg.md"})

# A Markdown link target that climbs out of docs/ and back in: ](../docs/x.md#a) -> ](x.md#a)
_BACK_INTO_DOCS = re.compile(r"\]\(\.\./docs/")
# A guide's link to the benchmarks' README: ](../bench/README.md#a) -> ](benchmarks.md#a)
_TO_BENCH_README = re.compile(r"\]\(\.\./bench/README\.md")


def _drop_missing(nav, docs_dir: Path):
    """``nav`` without the entries naming an absent page of ``OPTIONAL_PAGES``."""
    kept = []
    for entry in nav:
        target = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(target, list):
            entry = {next(iter(entry)): _drop_missing(target, docs_dir)}
        elif (
            isinstance(target, str)
            and target in OPTIONAL_PAGES
            and not (docs_dir / target).exists()
        ):
            log.info("nav: %s is not written yet; left out of this build", target)
            continue
        kept.append(entry)
    return kept


# (where the message comes from, regex of the message). Fix: give the prose after the
# Parameters section its own "Notes" heading; escape the brackets of ``out[i][j]``.
KNOWN_DOCSTRING_ISSUES: list[tuple[str, str]] = []


class _KnownIssues(logging.Filter):
    """Downgrades the known warnings to INFO (a filter per handler of the 'mkdocs' logger)."""

    used: set[int] = set()

    def __init__(self, handler_level: int) -> None:
        super().__init__()
        self.handler_level = handler_level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING:
            text = record.getMessage()
            for i, (where, pattern) in enumerate(KNOWN_DOCSTRING_ISSUES):
                if where in text and re.search(pattern, text):
                    record.levelno, record.levelname = logging.INFO, "INFO"
                    record.msg, record.args = f"[known, reported] {text}", ()
                    _KnownIssues.used.add(i)
                    break
        return record.levelno >= self.handler_level


def on_config(config):
    for handler in logging.getLogger("mkdocs").handlers:
        if not any(isinstance(f, _KnownIssues) for f in handler.filters):
            handler.addFilter(_KnownIssues(handler.level))
    if config.nav:
        config.nav = _drop_missing(config.nav, Path(config.docs_dir))
    return config


def bench_page_markdown(text: str) -> str:
    """``bench/README.md``'s text as the site's benchmarks page."""
    note = (
        "!!! note\n    This page is `bench/README.md`, included as it stands; "
        "`python bench/run.py` measures it again.\n\n"
    )
    text = _BACK_INTO_DOCS.sub("](", text)
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{note}{rest.lstrip()}" if title.startswith("# ") else note + text


def compiler_page_markdown(src: Path = REPO / "src" / "chainrule") -> str:
    """The API page of the tracing compiler, for the package name the tree has."""
    for name in COMPILER_PACKAGES:
        if (src / name / "__init__.py").exists():
            return (
                f"# `chainrule.{name}`\n\nGuide: [Tracing and compiling](../compile.md).\n\n"
                f"::: chainrule.{name}\n    options:\n      show_root_heading: false\n"
            )
    return (
        "# The compiler\n\nThe tracing compiler is being rewritten; see "
        "[Tracing and compiling](../compile.md).\n"
    )


def shadowed_members(package: str) -> list[str]:
    """Where the public names of ``package`` that griffe mistakes for modules are defined.

    A name is mistaken when the object is defined in a module of the same name (the import
    goes through ``....name``, a module) or ``package`` has a submodule of that name.
    """
    mod = importlib.import_module(package)
    subs = {m.name for m in pkgutil.iter_modules(getattr(mod, "__path__", []))}
    found = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name, None)
        where = getattr(obj, "__module__", None)
        if obj is None or isinstance(obj, ModuleType) or not isinstance(where, str):
            continue
        if where.rsplit(".", 1)[-1] == name or name in subs:
            found.append(f"{where}.{obj.__qualname__}")
    return found


_DIRECTIVE = re.compile(r"^::: (chainrule(?:\.\w+)*)\s*$", re.M)


def on_page_markdown(markdown, page, config, files):
    if "/" not in page.file.src_uri:  # a guide at the top of docs/
        return _TO_BENCH_README.sub("](benchmarks.md", markdown)
    if not page.file.src_uri.startswith("api/"):
        return markdown
    extra = []
    for package in _DIRECTIVE.findall(markdown):
        for path in shadowed_members(package):
            extra.append(f"::: {path}\n    options:\n      show_root_full_path: false\n")
    return markdown + "".join("\n" + block for block in extra)


# A Sphinx role as Markdown renders it: :func:<code>~chainrule.viz.draw</code>
_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def strip_roles(html: str) -> str:
    """``html`` with each Sphinx role shown as its code (``~a.b.c`` as ``c``)."""
    return _ROLE.sub(lambda m: f"<code>{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}</code>", html)


def on_page_content(html, page, config, files):
    return strip_roles(html)


def on_files(files, config):
    files.append(
        File.generated(
            config, "benchmarks.md", content=bench_page_markdown(BENCH_README.read_text("utf-8"))
        )
    )
    files.append(File.generated(config, "api/compiler.md", content=compiler_page_markdown()))
    return files


def on_post_build(config):
    for i, (where, _) in enumerate(KNOWN_DOCSTRING_ISSUES):
        if i not in _KnownIssues.used:
            log.info("KNOWN_DOCSTRING_ISSUES entry for %s matched nothing: delete it", where)
