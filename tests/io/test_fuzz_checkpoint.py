"""Bounded-time fuzzing of the checkpoint loader with Hypothesis.

Whatever is done to a valid checkpoint (bytes flipped, cut, inserted; the JSON metadata or
an entry's .npy header rewritten with hostile values; the zip rebuilt so its CRCs still
pass), :func:`chainrule.io.load` must either raise :class:`CheckpointError` or return a
state that round-trips exactly, and never allocate much. Derandomized, so failures
reproduce; each test runs a fixed number of examples (about 10 s in all).
"""

from __future__ import annotations

import io
import json
import math
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.io import CheckpointError, load, save

META = "__chainrule_checkpoint__.npy"
# Far below the sizes the hostile inputs declare (up to exabytes), far above what loading
# the small checkpoint needs (a few kB) plus Python's own bookkeeping.
ALLOCATION_LIMIT = 4 * 2**20

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def original_state() -> dict[str, Any]:
    return {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "f": np.asfortranarray(np.arange(6, dtype=">i2").reshape(2, 3)),
        "s": np.float64(2.5),
        "e": np.zeros((0, 3)),
        "u": np.array(["ab", "c"]),
        "nested": {"list": [1, -2.5, None, True, "x"], "t": (np.int8(3), [])},
        "nan": math.nan,
    }


def same(a: Any, b: Any) -> bool:
    """Exact equality of states: types, dtypes, shapes, values (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray | np.generic):
        return (
            a.dtype.str == b.dtype.str
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    path = tmp_path_factory.mktemp("fuzz") / "base.ckpt"
    save(original_state(), path)
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


@pytest.fixture(scope="module")
def base_bytes(members: dict[str, bytes]) -> bytes:
    return build(members)


def build(members: dict[str, bytes]) -> bytes:
    """A stored zip of the given members, with valid CRCs."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def npy_bytes(header: dict[str, Any], data: bytes) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    out.write(data)
    return out.getvalue()


def check_load(path: Path, data: bytes) -> Any:
    """Load ``data`` from ``path``; only CheckpointError may escape, allocations stay small.

    Returns the loaded state, or None if it was refused.
    """
    path.write_bytes(data)
    tracemalloc.start()
    try:
        try:
            result = load(path)
        except CheckpointError:
            result = None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < ALLOCATION_LIMIT, f"load allocated {peak:,} bytes"
    return result


# ------------------------------------------------------------------------------------------
# raw byte damage: anything that loads must be the original state, exactly
# ------------------------------------------------------------------------------------------

edit = st.tuples(
    st.sampled_from(["flip", "truncate", "insert", "delete", "zero"]),
    st.floats(0, 1, exclude_max=True),
    st.binary(min_size=1, max_size=8),
)


@FUZZ
@given(edits=st.lists(edit, min_size=1, max_size=4))
def test_damaged_bytes_raise_checkpoint_error_or_load_exactly(
    tmp_path: Path, base_bytes: bytes, edits: list[tuple[str, float, bytes]]
) -> None:
    data = bytearray(base_bytes)
    for op, where, blob in edits:
        pos = int(where * len(data)) if data else 0
        if op == "flip" and data:
            data[pos] ^= blob[0] or 0xFF
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = blob
        elif op == "delete":
            del data[pos : pos + len(blob)]
        elif op == "zero" and data:
            data[pos : pos + len(blob)] = bytes(len(data[pos : pos + len(blob)]))
    loaded = check_load(tmp_path / "c", bytes(data))
    if loaded is not None:
        assert same(loaded, original_state())


# ------------------------------------------------------------------------------------------
# hostile metadata, rewritten with valid zip CRCs
# ------------------------------------------------------------------------------------------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.sampled_from([10**400, -1, 0, 2**63, 2**64 + 1]),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
hostile_dtype = st.sampled_from(
    [
        "<f4",
        "<f8",
        ">i2",
        "|O",
        "<U2",
        "<U99999999999",
        "|V12",
        "|V0",
        "f8",
        "<M8[D]",
        "i4,f8",
        "(1000000,1000000)f8",
        "|S0",
        "<c16",
        "|b1",
        "nonsense",
        "",
    ]
)
hostile_shape = st.one_of(
    st.lists(st.integers(0, 2**66), max_size=4),
    st.lists(st.sampled_from([0, 1, 2, 3, 4, 12, -1, 2**31, 2**62, 2**63]), max_size=70),
    json_value,
)
hostile_node = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["array", "numpy_scalar"]),
            "key": st.sampled_from(["array_0", "array_1", "array_9", ""]),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["float", "int", "bool", "str", "none"]), "value": json_leaf}
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["dict", "list", "tuple"]),
            "items": st.lists(json_value, max_size=3),
        }
    ),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def get_at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def replace_at(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[head] = replace_at(doc[head], rest, value)
    return copy


@st.composite
def hostile_metadata(draw: st.DrawFn, meta: dict[str, Any]) -> str:
    doc: Any = meta
    for _ in range(draw(st.integers(1, 3))):
        everywhere = paths(doc)
        # Aim at the parts the loader interprets, not only at random places.
        aim = draw(st.sampled_from(["value", "dtype", "shape", "type", "node", "any"]))
        aimed = [
            p
            for p in everywhere
            if p
            and (
                p[-1] == aim
                or (aim == "node" and isinstance(get_at(doc, p), dict) and "type" in get_at(doc, p))
            )
        ]
        path = draw(st.sampled_from(aimed or everywhere))
        last = path[-1] if path else None
        target = get_at(doc, path)
        if last == "dtype":
            value = draw(hostile_dtype)
        elif last == "shape":
            value = draw(hostile_shape)
        elif last == "value":
            value = draw(
                st.sampled_from([10**400, -(10**400), 2**1000, "inf", "-nan", 1e308]) | json_leaf
            )
        elif last == "type":
            value = draw(
                st.sampled_from(
                    [
                        "float",
                        "int",
                        "dict",
                        "list",
                        "tuple",
                        "array",
                        "numpy_scalar",
                        "set",
                        "none",
                    ]
                )
            )
        elif last == "key":
            value = draw(st.sampled_from(["array_0", "array_5", "array_6", "", "w"]))
        elif isinstance(target, dict) and "type" in target:
            value = draw(hostile_node)
        else:
            value = draw(json_value)
        doc = replace_at(doc, path, value)
    text = json.dumps(doc)
    depth = draw(st.sampled_from([0, 0, 0, 50, 101, 2_000, 50_000]))
    if depth:  # deep nesting, spelled out by hand (json.dumps itself would overflow)
        deep = '{"type":"list","items":[' * depth + '{"type":"none"}' + "]}" * depth
        text = text.replace('"tree": {', '"tree": ' + deep + ', "old": {', 1)
    return text


@FUZZ
@given(data=st.data())
def test_hostile_metadata_raises_checkpoint_error_or_round_trips(
    tmp_path: Path, members: dict[str, bytes], data: st.DataObject
) -> None:
    meta = json.loads(np.load(io.BytesIO(members[META])).tobytes())
    text = data.draw(hostile_metadata(meta))
    raw = np.frombuffer(text.encode("utf-8"), np.uint8)
    out = io.BytesIO()
    np.lib.format.write_array(out, raw)
    loaded = check_load(tmp_path / "c", build({**members, META: out.getvalue()}))
    if loaded is not None:
        # Whatever the metadata said, what came back is a state that saves and loads as is.
        save(loaded, tmp_path / "again")
        assert same(load(tmp_path / "again"), loaded)


# ------------------------------------------------------------------------------------------
# hostile .npy headers, rewritten with valid zip CRCs
# ------------------------------------------------------------------------------------------

header_descr = st.sampled_from(
    [
        "<f4",
        "<f8",
        ">i2",
        "|u1",
        "<U2",
        "|O",
        "|V12",
        "<U9999999",
        [("a", "<i4")],
        [("a", "<f8"), ("b", "|O")],
        "<M8[D]",
    ]
)
header_shape = st.lists(st.integers(0, 2**62), max_size=4).map(tuple) | st.sampled_from(
    [(), (0,), (3, 4), (4, 3), (12,), (2**40,), (2**31, 2**31), (1,) * 40]
)


@FUZZ
@given(
    entry=st.sampled_from(["array_0", "array_1", "array_3", "__chainrule_checkpoint__"]),
    descr=header_descr,
    shape=header_shape,
    fortran=st.booleans(),
    cut=st.integers(-16, 16),
)
def test_hostile_npy_headers_raise_checkpoint_error_or_load_exactly(
    tmp_path: Path,
    members: dict[str, bytes],
    entry: str,
    descr: Any,
    shape: tuple[int, ...],
    fortran: bool,
    cut: int,
) -> None:
    name = f"{entry}.npy"
    fh = io.BytesIO(members[name])
    np.lib.format.read_magic(fh)
    np.lib.format.read_array_header_1_0(fh)
    payload = fh.read()
    payload = payload[:cut] if cut < 0 else payload + bytes(cut)  # shorter or longer data
    header = {"descr": descr, "fortran_order": fortran, "shape": shape}
    loaded = check_load(tmp_path / "c", build({**members, name: npy_bytes(header, payload)}))
    if loaded is not None:
        assert same(loaded, original_state())
