"""The NumPy support table: which NumPy functions chainrule differentiates, and how.

:func:`support_table` builds a Markdown table from the primitive registry
(:data:`chainrule.core.REGISTRY`: each primitive's name, flags and lecture) and from the
declared list of composed functions below (:data:`COMPOSED`). ``docs/numpy.md`` holds it
between two marker comments; a test asserts that the two are equal, so the page never
drifts from the code. Regenerate the page after adding an op::

    python -m chainrule.testing.support --write docs/numpy.md

It also measures coverage against the 129 NumPy functions that HIPS autograd
differentiates (:data:`HIPS_AUTOGRAD`: the names its ``numpy_vjps.py``, ``linalg.py`` and
``numpy_wrapper.py`` give derivatives for; names only): :func:`hips_coverage`.

Examples
--------
>>> from chainrule.testing.support import hips_coverage
>>> covered, missing = hips_coverage()
>>> len(covered) + len(missing)
129
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core import REGISTRY, Primitive

__all__ = [
    "COMPOSED",
    "CONVENTIONS",
    "HIPS_AUTOGRAD",
    "NUMPY_NAMES",
    "Row",
    "hips_coverage",
    "replace_between_markers",
    "rows",
    "support_table",
]

START = (
    "<!-- support-table:start (generated: python -m chainrule.testing.support --write "
    "docs/numpy.md) -->"
)
END = "<!-- support-table:end -->"

#: The NumPy functions HIPS autograd differentiates (autograd/numpy/numpy_vjps.py,
#: autograd/numpy/linalg.py, the composed ones of autograd/numpy/numpy_wrapper.py; its
#: private helpers left out, its ``_primitive_mean/var/std`` named mean/var/std). Names only.
HIPS_AUTOGRAD: tuple[str, ...] = (
    # numpy_vjps.py
    "abs",
    "absolute",
    "add",
    "amax",
    "amin",
    "angle",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "array_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_to",
    "clip",
    "conj",
    "conjugate",
    "cos",
    "cosh",
    "cross",
    "cumsum",
    "deg2rad",
    "degrees",
    "diag",
    "diagonal",
    "diff",
    "divide",
    "dot",
    "dsplit",
    "einsum",
    "exp",
    "exp2",
    "expand_dims",
    "expm1",
    "fabs",
    "fliplr",
    "flipud",
    "fmax",
    "fmin",
    "full",
    "gradient",
    "hsplit",
    "hypot",
    "imag",
    "inner",
    "kron",
    "linspace",
    "log",
    "log10",
    "log1p",
    "log2",
    "logaddexp",
    "logaddexp2",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mod",
    "moveaxis",
    "msort",
    "multiply",
    "nan_to_num",
    "negative",
    "outer",
    "pad",
    "partition",
    "power",
    "prod",
    "rad2deg",
    "radians",
    "ravel",
    "real",
    "real_if_close",
    "reciprocal",
    "remainder",
    "repeat",
    "reshape",
    "roll",
    "rollaxis",
    "rot90",
    "sin",
    "sinc",
    "sinh",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "std",
    "subtract",
    "sum",
    "swapaxes",
    "tan",
    "tanh",
    "tensordot",
    "tile",
    "trace",
    "transpose",
    "tril",
    "triu",
    "true_divide",
    "var",
    "vsplit",
    "where",
    # linalg.py
    "linalg.cholesky",
    "linalg.det",
    "linalg.eig",
    "linalg.eigh",
    "linalg.inv",
    "linalg.norm",
    "linalg.pinv",
    "linalg.slogdet",
    "linalg.solve",
    "linalg.svd",
    # numpy_wrapper.py (composed there)
    "append",
    "array",
    "column_stack",
    "concatenate",
    "hstack",
    "row_stack",
    "select",
    "stack",
    "vstack",
)

#: Why a name of :data:`HIPS_AUTOGRAD` is not in chainrule (shown in the table).
NOT_NATIVE = {
    "array": "`cr.tensor` plays its part (it stacks tensors inside lists)",
    "msort": "removed from NumPy 2 (it was `np.sort(a, axis=0)`: use `cr.sort`)",
    "linalg.eig": "complex eigenvalues: chainrule tensors are real (use `eigh` for symmetric)",
    "partition": "no primitive yet (`cr.sort` gives a full sort)",
}

#: Primitives whose NumPy name differs from their own (None: no NumPy counterpart).
NUMPY_NAMES: dict[str, tuple[str, ...]] = {
    "sub": ("subtract",),
    "mul": ("multiply",),
    "div": ("divide", "true_divide"),
    "neg": ("negative",),
    "pow": ("power",),
    "pow_scalar": (),
    "abs": ("absolute", "abs"),
    "max": ("max", "amax"),
    "min": ("min", "amin"),
    "cast": ("ndarray.astype",),
    "getitem": ("ndarray.__getitem__",),
    "scatter_add": ("add.at",),
    "eq": ("equal",),
    "ne": ("not_equal",),
    "lt": ("less",),
    "le": ("less_equal",),
    "gt": ("greater",),
    "ge": ("greater_equal",),
    "logabsdet": ("linalg.slogdet",),
    "cholesky": ("linalg.cholesky",),
    "det": ("linalg.det",),
    "eigh": ("linalg.eigh",),
    "inv": ("linalg.inv",),
    "pinv": ("linalg.pinv",),
    "qr": ("linalg.qr",),
    "solve": ("linalg.solve",),
    "svd": ("linalg.svd",),
    "svdvals": ("linalg.svdvals",),
    "diagonal_embed": (),
    "cbrt": ("cbrt",),
    "round": ("round", "around"),
}

#: The composed functions: NumPy name -> the primitives they are built from. Their
#: derivatives are those primitives' (checked by the registry sweep), and their own tests
#: are in tests/ops/test_toolbox.py.
COMPOSED: dict[str, tuple[str, ...]] = {
    "mean": ("sum", "div"),
    "var": ("sum", "sub", "mul", "div"),
    "std": ("sum", "sub", "mul", "div", "sqrt"),
    "average": ("sum", "mul", "div"),
    "square": ("mul",),
    "remainder": ("sub", "mul"),
    "mod": ("sub", "mul"),
    "floor_divide": (),
    "take": ("getitem",),
    "ravel": ("reshape",),
    "stack": ("expand_dims", "concatenate"),
    "swapaxes": ("transpose",),
    "outer": ("reshape", "mul"),
    "inner": ("reshape", "matmul", "transpose"),
    "kron": ("reshape", "mul"),
    "cross": ("getitem", "mul", "sub", "concatenate"),
    "diag": ("scatter_add", "getitem"),
    "tril": ("where",),
    "triu": ("where",),
    "diff": ("getitem", "sub", "concatenate"),
    "gradient": ("getitem", "sub", "mul", "div", "concatenate"),
    "tile": ("reshape", "broadcast_to"),
    "repeat": ("broadcast_to", "reshape", "getitem"),
    "vstack": ("reshape", "concatenate"),
    "row_stack": ("reshape", "concatenate"),
    "hstack": ("reshape", "concatenate"),
    "dstack": ("reshape", "concatenate"),
    "column_stack": ("reshape", "concatenate"),
    "atleast_1d": ("reshape",),
    "atleast_2d": ("reshape",),
    "atleast_3d": ("reshape",),
    "moveaxis": ("transpose",),
    "rollaxis": ("transpose",),
    "fliplr": ("getitem",),
    "flipud": ("getitem",),
    "rot90": ("getitem", "transpose"),
    "split": ("getitem",),
    "array_split": ("getitem",),
    "hsplit": ("getitem",),
    "vsplit": ("getitem",),
    "dsplit": ("getitem",),
    "append": ("reshape", "concatenate"),
    "clip": ("clip", "where"),
    "nan_to_num": ("where",),
    "select": ("where",),
    "fmax": ("maximum", "where"),
    "fmin": ("minimum", "where"),
    "fabs": ("abs",),
    "reciprocal": ("div",),
    "exp2": ("pow",),
    "logaddexp2": ("logaddexp", "mul", "div"),
    "deg2rad": ("mul",),
    "radians": ("mul",),
    "rad2deg": ("mul",),
    "degrees": ("mul",),
    "sinc": ("where", "sin", "mul", "div"),
    "real": (),
    "conj": (),
    "conjugate": (),
    "real_if_close": (),
    "imag": (),
    "angle": (),
    "full": ("mul",),
    "linspace": ("sub", "div", "mul", "add", "concatenate"),
    "dot": ("matmul", "mul", "reshape", "transpose"),
    "linalg.norm": ("sum", "mul", "pow", "sqrt", "abs", "max", "min", "svdvals"),
    "linalg.slogdet": ("logabsdet",),
    "linalg.eigvalsh": ("eigh",),
    "trace": ("diagonal", "sum"),
    "diagonal": ("diagonal",),
    "linalg.trace": ("diagonal", "sum"),
    "linalg.diagonal": ("diagonal",),
    "linalg.matmul": ("matmul",),
}

#: How a function is made, where the list of its primitives does not say it.
HOW: dict[str, str] = {
    "clip": "primitive `clip`; with tensor bounds composed: `where`",
    "floor_divide": "constant (zero gradient)",
    "real": "identity (tensors are real)",
    "conj": "identity (tensors are real)",
    "conjugate": "identity (tensors are real)",
    "real_if_close": "identity (tensors are real)",
    "imag": "constant 0 (tensors are real)",
    "angle": "constant 0 or π (tensors are real)",
}

#: What the gradient is where the derivative does not exist (kinks, ties, repeated values).
CONVENTIONS: dict[str, str] = {
    "abs": "at 0: 0 (sign(0))",
    "absolute": "at 0: 0 (sign(0))",
    "fabs": "at 0: 0",
    "maximum": "ties: ½ to each; a NaN input takes it all",
    "minimum": "ties: ½ to each; a NaN input takes it all",
    "fmax": "ties: ½ to each; NaN inputs get 0",
    "fmin": "ties: ½ to each; NaN inputs get 0",
    "max": "ties: split evenly among the maxima",
    "amax": "ties: split evenly among the maxima",
    "min": "ties: split evenly among the minima",
    "amin": "ties: split evenly among the minima",
    "clip": "at a bound: 1 (bounds included); tensor bounds get it outside",
    "sort": "ties: stable order (each tied element gets one position's gradient)",
    "sqrt": "at 0: inf",
    "cbrt": "at 0: inf",
    "std": "zero variance: NaN",
    "nan_to_num": "1 where finite, 0 where replaced",
    "sinc": "at 0: 0 (first order exact, higher orders 0)",
    "linalg.eigh": "repeated eigenvalues: inf/NaN when the loss uses the eigenvectors",
    "linalg.eigvalsh": "repeated eigenvalues: finite (eigenvalues only)",
    "linalg.svd": "repeated or zero singular values: inf/NaN when U, V are used",
    "linalg.svdvals": "repeated singular values: finite (values only)",
    "linalg.pinv": "where the rank is locally constant",
    "linalg.norm": "at 0: NaN for the 2-norm; |x| norms sign(0) = 0; max/min ties split",
    "linalg.det": "singular A: needs A⁻¹",
    "linalg.inv": "singular A: undefined",
    "linalg.solve": "singular A: undefined",
    "floor": "0 everywhere (piecewise constant)",
    "ceil": "0 everywhere (piecewise constant)",
    "trunc": "0 everywhere (piecewise constant)",
    "rint": "0 everywhere (piecewise constant)",
    "round": "0 everywhere (piecewise constant)",
    "around": "0 everywhere (piecewise constant)",
    "floor_divide": "0 everywhere",
    "remainder": "at the jumps: 1 for a (the constant's side)",
    "mod": "as remainder",
    "sign": "0 everywhere (piecewise constant)",
    "where": "the chosen branch gets all of it",
}


@dataclass(frozen=True)
class Row:
    """One NumPy function in the table."""

    numpy: str  # NumPy's name (``linalg.`` for np.linalg)
    how: str  # "primitive `name`" or "composed: a, b"
    orders: str  # derivative orders the checks cover
    convention: str  # the gradient at non-smooth points ("" when smooth)


def _load() -> Any:
    """chainrule with every layer that registers primitives (for a deterministic table)."""
    import chainrule

    for mod in ("chainrule.nn", "chainrule.linalg"):
        try:
            importlib.import_module(mod)
        except ImportError:  # pragma: no cover - a layer not present in this version
            pass
    return chainrule


def _builtin_primitives() -> list[type[Primitive]]:
    # only chainrule's own primitives: tests and users register others at run time
    return sorted(
        (
            p
            for n, p in REGISTRY.items()
            if not n.startswith("_")
            and p.__module__.startswith("chainrule.")
            and p.__module__ != "chainrule.ops.custom"
        ),
        key=lambda p: p.name,
    )


def _orders(prims: Iterable[type[Primitive]]) -> str:
    prims = list(prims)
    if not prims:
        return "constant"
    if not any(p.differentiable for p in prims):
        return "none (no gradient)"
    if all(p.twice_differentiable for p in prims if p.differentiable):
        return "1, 2"
    return "1"


def _numpy_names(p: type[Primitive]) -> tuple[str, ...]:
    if p.name in NUMPY_NAMES:
        return NUMPY_NAMES[p.name]
    return (p.name,) if callable(getattr(np, p.name, None)) else ()


def _convention(name: str, prims: Iterable[type[Primitive]]) -> str:
    if name in CONVENTIONS:
        return CONVENTIONS[name]
    for p in prims:  # a non-smooth primitive without a declared convention: its lecture
        if not p.smooth and p.lecture is not None and p.lecture.gate:
            return p.lecture.gate
    return ""


def _exists(name: str) -> bool:
    """Whether chainrule has ``name`` natively (``cr.name``, or ``cr.linalg.name``)."""
    cr = _load()
    if name.startswith("ndarray.") or name == "add.at":
        return True
    if name.startswith("linalg."):
        linalg = sys.modules.get("chainrule.linalg")
        return linalg is not None and callable(getattr(linalg, name[7:], None))
    return callable(getattr(cr, name, None))


def rows() -> list[Row]:
    """The table's rows, by NumPy name: primitives first-hand, then composed functions.

    Examples
    --------
    >>> from chainrule.testing.support import rows
    >>> next(r for r in rows() if r.numpy == "subtract").how
    'primitive `sub`'
    """
    _load()
    table: dict[str, Row] = {}
    for p in _builtin_primitives():
        for name in _numpy_names(p):
            if _exists(name):
                table[name] = Row(
                    name,
                    HOW.get(name, f"primitive `{p.name}`"),
                    _orders([p]),
                    _convention(name, [p]),
                )
    for name, parts in COMPOSED.items():
        if name in table or not _exists(name):
            continue  # a primitive already, or not (yet) in this version
        prims = [REGISTRY[n] for n in parts if n in REGISTRY]
        how = HOW.get(name, "composed: " + ", ".join(f"`{n}`" for n in parts))
        table[name] = Row(
            name, how, _orders(prims) if parts else "constant", _convention(name, prims)
        )
    return sorted(table.values(), key=lambda r: (r.numpy.startswith("linalg."), r.numpy))


def hips_coverage() -> tuple[list[str], list[str]]:
    """(covered, missing): the names of :data:`HIPS_AUTOGRAD` that chainrule has natively.

    Native: a chainrule function of that NumPy name (``cr.<name>``, or
    ``cr.linalg.<name>`` for ``np.linalg``), a primitive or composed.
    """
    _load()
    covered = [n for n in HIPS_AUTOGRAD if _exists(n)]
    return covered, [n for n in HIPS_AUTOGRAD if n not in covered]


def _chainrule_only() -> list[str]:
    return [p.name for p in _builtin_primitives() if not _numpy_names(p) and p.differentiable]


def support_table() -> str:
    """The Markdown support table (what ``docs/numpy.md`` holds between its markers)."""
    rs = rows()
    n_prim = sum(r.how.startswith("primitive") for r in rs)
    lines = [
        f"{len(rs)} NumPy functions run natively on tensors: {n_prim} primitives "
        f"(each checked against finite differences by the registry sweep, to the orders "
        f"shown) and {len(rs) - n_prim} composed from primitives (their derivatives are the "
        f"primitives'; those on HIPS autograd's list are also checked to second order, "
        f"tests/ops/test_composed_second_order.py). Names are NumPy's (`linalg.` for "
        f"`np.linalg`); "
        f"the chainrule function has the same name (`cr.var`, `cr.linalg.solve`).",
        "",
        "| NumPy function | in chainrule | orders | gradient where not smooth |",
        "|---|---|---|---|",
    ]
    for r in rs:
        cells = (f"`{r.numpy}`", r.how, r.orders, r.convention)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    covered, missing = hips_coverage()
    pct = 100.0 * len(covered) / len(HIPS_AUTOGRAD)
    lines += [
        "",
        f"Primitives with no NumPy counterpart: {', '.join(f'`{n}`' for n in _chainrule_only())}.",
        "",
        f"**Coverage of HIPS autograd's NumPy functions**: {len(covered)} of "
        f"{len(HIPS_AUTOGRAD)} ({pct:.0f}%) are native in chainrule (a function of that "
        f"name, primitive or composed). Not native:",
        "",
    ]
    for name in missing:
        lines.append(f"* `{name}`" + (f": {NOT_NATIVE[name]}" if name in NOT_NATIVE else ""))
    return "\n".join(lines) + "\n"


def replace_between_markers(text: str, table: str) -> str:
    """``text`` with the part between the support-table markers replaced by ``table``."""
    if START not in text or END not in text:
        raise ValueError(
            f"the page has no support-table markers; add the two lines\n{START}"
            f"\n{END}\nwhere the table goes"
        )
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """``python -m chainrule.testing.support [--write PAGE | --check PAGE]``."""
    ap = argparse.ArgumentParser(
        prog="python -m chainrule.testing.support",
        description="Print (or write into a page) the NumPy support table.",
    )
    ap.add_argument("--write", metavar="PAGE", help="replace the table in PAGE")
    ap.add_argument("--check", metavar="PAGE", help="exit 1 if PAGE's table is out of date")
    args = ap.parse_args(argv)
    table = support_table()
    page = args.write or args.check
    if page is None:
        sys.stdout.write(table)
        return 0
    text = Path(page).read_text(encoding="utf-8")
    new = replace_between_markers(text, table)
    if args.check:
        if new != text:
            sys.stderr.write(
                f"{page}: the support table is out of date; run python -m "
                f"chainrule.testing.support --write {page}\n"
            )
            return 1
        return 0
    Path(page).write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
