"""Tests for chainrule.io.checkpoint: round trips, file format, damage detection, atomicity."""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule.io import (
    FORMAT_NAME,
    FORMAT_VERSION,
    CheckpointError,
    StateDictMismatchError,
    StateDictReport,
    check_state_dict_compatible,
    load,
    save,
)
from chainrule.io import checkpoint as ckpt_module

META = "__chainrule_checkpoint__"


class FakeTensor:
    """Stands in for chainrule.Tensor: exposes ``__array__`` and a ``.data`` ndarray."""

    def __init__(self, data: Any) -> None:
        self.data = np.asarray(data)
        self.requires_grad = True

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)


def assert_same(a: Any, b: Any, where: str = "state") -> None:
    """Exact structural equality: same container/leaf types, dtypes, shapes and values."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.dtype.str == b.dtype.str, f"{where}: dtype"
        assert a.shape == b.shape, f"{where}: shape"
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def nested_state() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "model": {
            "fc1.weight": rng.standard_normal((4, 3)).astype(np.float32),
            "fc1.bias": np.zeros(4, dtype=np.float32),
            "fc2.weight": rng.standard_normal((2, 4)),  # float64
            "counts": np.arange(7, dtype=np.int64),
            "mask": np.array([True, False, True]),
        },
        "scalar_array": np.array(3.5),  # 0-d
        "int_scalar_array": np.array(7, dtype=np.int64),
        "empty": np.empty((0,), dtype=np.float32),
        "empty_2d": np.empty((3, 0), dtype=np.int64),
        "history": [0.5, 0.25, {"epoch": 1}, [np.ones(2, dtype=np.float64)]],
        "betas": (0.9, 0.999),
        "nested_tuple": (1, ("a", None), [True, False]),
        "step": 1000,
        "lr": 1e-3,
        "flag": True,
        "name": "mlp",
        "nothing": None,
        "empties": {"d": {}, "l": [], "t": ()},
    }


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "model.ckpt"
    save(nested_state(), path)
    return path


def read_entries(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as npz:
        entries = {k: npz[k] for k in npz.files}
    meta = json.loads(entries.pop(META).tobytes().decode("utf-8"))
    return meta, entries


def write_entries(path: Path, meta: dict[str, Any] | None, entries: dict[str, np.ndarray]) -> None:
    """Write an archive by hand (valid zip CRCs) to simulate tampered or foreign files."""
    out = dict(entries)
    if meta is not None:
        out[META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **out)


def key_of(meta: dict[str, Any], name: str) -> str:
    """Entry key of the top-level dict item ``name``."""
    for k, node in meta["tree"]["items"]:
        if k == name:
            return node["key"]
    raise AssertionError(name)


# ------------------------------------------------------------------------------------------
# round trips
# ------------------------------------------------------------------------------------------


def test_round_trip_nested_state(ckpt: Path) -> None:
    loaded = load(ckpt)
    assert_same(nested_state(), loaded)
    assert isinstance(loaded["betas"], tuple)
    assert isinstance(loaded["nested_tuple"][1], tuple)
    assert loaded["scalar_array"].shape == ()
    assert loaded["empty_2d"].shape == (3, 0)


@pytest.mark.parametrize(
    "value",
    [
        np.float32(1.5),
        np.int8(-3),
        np.bool_(True),
        np.complex128(1 + 2j),
        np.datetime64("2020-01-02"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_numpy_scalars_come_back_as_numpy_scalars(tmp_path: Path, value: Any) -> None:
    save({"v": value}, tmp_path / "c")
    assert_same({"v": value}, load(tmp_path / "c"))


def test_python_leaves_round_trip_exactly(tmp_path: Path) -> None:
    state = [
        2**80,
        -0.0,
        0.1,
        float("inf"),
        float("-inf"),
        float("nan"),
        "ünïcödé ✓",
        "",
        False,
        None,
    ]
    save(state, tmp_path / "c")
    loaded = load(tmp_path / "c")
    assert_same(state, loaded)
    assert math.copysign(1.0, loaded[1]) == -1.0


def test_more_array_kinds_round_trip(tmp_path: Path) -> None:
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    state = {
        "transposed": base.T,  # non-contiguous
        "strided": base[::2, ::3],
        "big_endian": np.arange(5, dtype=">i4"),
        "float16": np.linspace(0, 1, 5, dtype=np.float16),
        "complex": np.array([1 + 2j, 3 - 4j]),
        "unicode": np.array(["a", "bcd"]),
        "bytes": np.array([b"x", b"yz"]),
        "structured": np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
        "uint8_3d": np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    }
    save(state, tmp_path / "c")
    loaded = load(tmp_path / "c")
    assert_same(state, loaded)
    assert loaded["big_endian"].dtype.str == ">i4"


def test_root_may_be_any_supported_value(tmp_path: Path) -> None:
    for i, state in enumerate([np.arange(3), 5, "x", None, (1, 2), []]):
        save(state, tmp_path / f"c{i}")
        assert_same(state, load(tmp_path / f"c{i}"))


def test_objects_with_array_are_saved_as_arrays(tmp_path: Path) -> None:
    t = FakeTensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    save({"w": t, "ws": [t, FakeTensor(np.float64(2.0))]}, tmp_path / "c")
    loaded = load(tmp_path / "c")
    assert_same(loaded["w"], t.data)
    assert_same(loaded["ws"][1], np.array(2.0))


def test_loaded_arrays_are_independent_and_writable(ckpt: Path) -> None:
    a = load(ckpt)
    b = load(ckpt)
    a["model"]["counts"][0] = 99
    assert b["model"]["counts"][0] == 0


def test_as_tensor_converts_array_leaves(ckpt: Path) -> None:
    seen: list[np.ndarray] = []

    def convert(arr: np.ndarray) -> FakeTensor:
        seen.append(arr)
        return FakeTensor(arr)

    loaded = load(ckpt, as_tensor=convert)
    assert isinstance(loaded["model"]["fc1.weight"], FakeTensor)
    assert isinstance(loaded["history"][3][0], FakeTensor)
    assert loaded["model"]["fc1.weight"].data.dtype == np.float32
    assert loaded["step"] == 1000  # non-array leaves untouched
    assert len(seen) == 10


def test_mappings_and_named_tuples_come_back_as_plain_types(tmp_path: Path) -> None:
    from collections import OrderedDict, namedtuple

    Pair = namedtuple("Pair", "a b")
    save(OrderedDict(x=Pair(1, 2)), tmp_path / "c")
    assert_same({"x": (1, 2)}, load(tmp_path / "c"))


# ------------------------------------------------------------------------------------------
# file format and paths
# ------------------------------------------------------------------------------------------


def test_file_is_a_plain_npz_zip(ckpt: Path) -> None:
    assert zipfile.is_zipfile(ckpt)
    with zipfile.ZipFile(ckpt) as zf:
        assert zf.testzip() is None
        assert all(name.endswith(".npy") for name in zf.namelist())
    meta, entries = read_entries(ckpt)
    assert meta["format"] == FORMAT_NAME == "chainrule-checkpoint"
    assert meta["version"] == FORMAT_VERSION == 1
    assert set(meta["arrays"]) == set(entries)
    assert len(entries) == 10
    w = entries[key_of(meta, "scalar_array")]
    spec = meta["arrays"][key_of(meta, "scalar_array")]
    assert spec["dtype"] == w.dtype.str and spec["shape"] == []
    assert len(spec["sha256"]) == 64


def test_path_is_written_exactly_without_npz_suffix(tmp_path: Path) -> None:
    target = tmp_path / "weights"
    save({"a": np.ones(2)}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights"]
    save({"a": np.ones(2)}, str(tmp_path / "w2.npz"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w2.npz", "weights"]
    assert_same(load(str(target)), {"a": np.ones(2)})


def test_overwrite_replaces_previous_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "c"
    save({"v": 1}, target)
    save({"v": 2, "a": np.zeros(3)}, target)
    assert_same(load(target), {"v": 2, "a": np.zeros(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_permissions_are_not_the_temporary_files_0600(tmp_path: Path) -> None:
    target = tmp_path / "c"
    save({"v": 1}, target)
    assert stat.S_IMODE(target.stat().st_mode) == ckpt_module._default_file_mode()
    os.chmod(target, 0o640)
    save({"v": 2}, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


# ------------------------------------------------------------------------------------------
# damaged and foreign files
# ------------------------------------------------------------------------------------------


def test_truncated_files_raise(ckpt: Path, tmp_path: Path) -> None:
    data = ckpt.read_bytes()
    n = len(data)
    cuts = sorted({0, 1, 2, 3, 4, 10, 30, 64, 200, n // 3, n // 2, n - 100, n - 22, n - 2, n - 1})
    bad = tmp_path / "truncated"
    for cut in cuts:
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            load(bad)


def _flip(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :]


def test_flipped_byte_in_array_data_names_the_entry(tmp_path: Path) -> None:
    weights = np.arange(256, dtype=np.int64) * 7919
    path = tmp_path / "c"
    save({"bias": np.zeros(2), "weights": weights}, path)
    data = path.read_bytes()
    pos = data.find(weights.tobytes())
    assert pos > 0
    (tmp_path / "bad").write_bytes(_flip(data, pos + 100))
    meta, _ = read_entries(path)
    key = key_of(meta, "weights")
    with pytest.raises(CheckpointError, match=rf"'{key}' \(state\['weights'\]\).*corrupted"):
        load(tmp_path / "bad")


def test_checksum_mismatch_with_valid_zip_crc_names_the_entry(ckpt: Path) -> None:
    # Rewritten archive: the zip CRCs are fine, only the recorded SHA-256 disagrees.
    meta, entries = read_entries(ckpt)
    key = key_of(meta, "scalar_array")
    entries[key] = np.array(4.5)
    write_entries(ckpt, meta, entries)
    with pytest.raises(CheckpointError, match=rf"'{key}'.*SHA-256 checksum mismatch"):
        load(ckpt)


def test_dtype_or_shape_disagreeing_with_metadata_raises(ckpt: Path) -> None:
    meta, entries = read_entries(ckpt)
    key = key_of(meta, "empty")
    entries[key] = np.empty((0,), dtype=np.float64)
    write_entries(ckpt, meta, entries)
    with pytest.raises(CheckpointError, match=rf"'{key}'.*dtype <f8"):
        load(ckpt)
    entries[key] = np.empty((0, 1), dtype=np.float32)
    write_entries(ckpt, meta, entries)
    with pytest.raises(CheckpointError, match="shape"):
        load(ckpt)


def test_every_single_byte_flip_is_detected_or_harmless(tmp_path: Path) -> None:
    # No flip anywhere may return different data or raise anything but CheckpointError; some
    # zip fields (timestamps, "version made by") are unchecked, and those loads must be exact.
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, (2.5, "x")]}
    path = tmp_path / "c"
    save(state, path)
    data = path.read_bytes()
    bad = tmp_path / "bad"
    detected = 0
    for pos in range(len(data)):
        bad.write_bytes(_flip(data, pos))
        try:
            loaded = load(bad)
        except CheckpointError:
            detected += 1
        else:
            assert_same(state, loaded, f"flip at byte {pos}")
    assert detected > len(data) // 2


def test_future_version_raises_and_says_what_is_supported(ckpt: Path) -> None:
    meta, entries = read_entries(ckpt)
    meta["version"] = FORMAT_VERSION + 1
    meta["tree"] = {"type": "something-new"}  # a newer layout must not be misread as v1
    write_entries(ckpt, meta, entries)
    with pytest.raises(CheckpointError, match=r"version 2 is newer.*reads format version 1"):
        load(ckpt)


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True, None])
def test_invalid_version_raises(ckpt: Path, version: Any) -> None:
    meta, entries = read_entries(ckpt)
    meta["version"] = version
    write_entries(ckpt, meta, entries)
    with pytest.raises(CheckpointError, match="version"):
        load(ckpt)


def test_wrong_format_name_raises(ckpt: Path) -> None:
    meta, entries = read_entries(ckpt)
    meta["format"] = "someone-elses-format"
    write_entries(ckpt, meta, entries)
    with pytest.raises(CheckpointError, match="wrong format name 'someone-elses-format'"):
        load(ckpt)


def test_missing_and_extra_entries_raise(ckpt: Path) -> None:
    meta, entries = read_entries(ckpt)
    key = key_of(meta, "empty")
    removed = entries.pop(key)
    write_entries(ckpt, meta, entries)
    with pytest.raises(CheckpointError, match=rf"missing entries \['{key}'\]"):
        load(ckpt)
    entries[key] = removed
    entries["sneaky"] = np.zeros(1)
    write_entries(ckpt, meta, entries)
    with pytest.raises(CheckpointError, match=r"unexpected extra entries \['sneaky'\]"):
        load(ckpt)


@pytest.mark.parametrize(
    "tree",
    [
        None,
        {"type": "frozenset", "items": []},
        {"type": "dict", "items": [["a", {"type": "int", "value": "1"}]]},
        {"type": "dict", "items": [["a", {"type": "none"}], ["a", {"type": "none"}]]},
        {"type": "list", "items": [{"type": "array", "key": "nope"}]},
        {"type": "bool", "value": 1},
    ],
)
def test_malformed_tree_raises(tmp_path: Path, tree: Any) -> None:
    path = tmp_path / "c"
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "tree": tree, "arrays": {}}
    write_entries(path, meta, {})
    with pytest.raises(CheckpointError, match="malformed"):
        load(path)


def test_metadata_that_is_not_json_raises(tmp_path: Path) -> None:
    path = tmp_path / "c"
    with open(path, "wb") as fh:
        np.savez(fh, **{META: np.frombuffer(b"{not json", dtype=np.uint8)})
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load(path)


def test_plain_npz_without_metadata_raises(tmp_path: Path) -> None:
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.ones(3))
    with pytest.raises(CheckpointError, match="not a chainrule checkpoint"):
        load(path)


def test_npy_text_and_pickle_files_raise(tmp_path: Path) -> None:
    npy = tmp_path / "a.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(CheckpointError, match=r"\.npy file"):
        load(npy)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a zip"):
        load(text)
    import pickle

    pkl = tmp_path / "x.pkl"
    pkl.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="not a zip"):
        load(pkl)


def test_object_array_entry_in_archive_is_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil"
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "tree": {"type": "array", "key": "array_0"},
        "arrays": {"array_0": {"dtype": "|O", "shape": [1], "sha256": "0" * 64}},
    }
    with open(path, "wb") as fh:
        obj = np.array([{"x": 1}], dtype=object)
        np.savez(fh, array_0=obj, **{META: np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    with pytest.raises(CheckpointError, match="'array_0'"):
        load(path)


def test_missing_file_and_directory_raise(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="cannot open"):
        load(tmp_path)


# ------------------------------------------------------------------------------------------
# refusing unsavable state
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        np.array([1, "a", None], dtype=object),
        np.array([(1, None)], dtype=[("a", "<i4"), ("b", "O")]),
        FakeTensor(np.array([{}], dtype=object)),
    ],
    ids=["object", "structured-with-object", "tensor-of-objects"],
)
def test_object_arrays_are_refused_at_save(tmp_path: Path, bad: Any) -> None:
    target = tmp_path / "c"
    with pytest.raises(CheckpointError, match=r"state\['layer'\]\[1\].*pickle"):
        save({"layer": [np.ones(2), bad]}, target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"a": {1, 2}}, r"state\['a'\]: unsupported type builtins\.set"),
        ({"a": 1 + 2j}, "unsupported type builtins.complex"),
        ({"a": b"bytes"}, "unsupported type builtins.bytes"),
        ({"a": {1: 2}}, r"dict key 1 is a int; only str keys"),
    ],
)
def test_unsupported_values_are_refused_at_save(tmp_path: Path, state: Any, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        save(state, tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


def test_cycles_are_refused_but_shared_subtrees_are_fine(tmp_path: Path) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(CheckpointError, match="cycle"):
        save({"x": loop}, tmp_path / "c")
    shared = [np.ones(2)]
    save({"a": shared, "b": shared}, tmp_path / "c")
    assert_same(load(tmp_path / "c"), {"a": [np.ones(2)], "b": [np.ones(2)]})


# ------------------------------------------------------------------------------------------
# atomic writes
# ------------------------------------------------------------------------------------------


class Boom(RuntimeError):
    pass


def _fail_savez(file: Any, *args: Any, **kwargs: Any) -> None:
    file.write(b"PK\x03\x04 partial garbage")  # something reached the temporary already
    raise Boom("disk full")


def _fail(*args: Any, **kwargs: Any) -> None:
    raise Boom("simulated failure")


@pytest.mark.parametrize(
    ("target", "attr", "replacement"),
    [
        (np, "savez", _fail_savez),
        (os, "fsync", _fail),
        (os, "chmod", _fail),
        (os, "replace", _fail),
    ],
    ids=["savez", "fsync", "chmod", "replace"],
)
def test_failed_write_leaves_old_file_intact_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: Any, attr: str, replacement: Any
) -> None:
    path = tmp_path / "model.ckpt"
    save({"version": "old", "w": np.ones(3)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(target, attr, replacement)
    with pytest.raises(Boom):
        save({"version": "new", "w": np.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.ckpt"]
    assert load(path)["version"] == "old"


def test_failed_first_write_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(np, "savez", _fail_savez)
    with pytest.raises(Boom):
        save({"w": np.zeros(3)}, tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


def test_interrupt_during_write_also_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save({"w": np.zeros(3)}, tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


def test_save_into_missing_folder_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        save({"w": np.zeros(3)}, tmp_path / "no" / "such" / "dir" / "c")


# ------------------------------------------------------------------------------------------
# check_state_dict_compatible
# ------------------------------------------------------------------------------------------


EXPECTED = {"fc.weight": (2, 3), "fc.bias": (2,), "out.weight": (1, 2)}


def test_checker_accepts_matching_state() -> None:
    got = {
        "fc.weight": np.zeros((2, 3)),
        "fc.bias": FakeTensor(np.zeros(2)),
        "out.weight": [[1, 2]],
    }
    assert check_state_dict_compatible(EXPECTED, got) == StateDictReport([], [])


def test_checker_message_lists_everything() -> None:
    got = {"fc.weight": np.zeros((3, 2)), "out.weight": np.zeros((1, 2)), "head.w": np.zeros(1)}
    with pytest.raises(StateDictMismatchError) as info:
        check_state_dict_compatible(EXPECTED, got)
    assert str(info.value) == (
        "state dict does not match the expected parameters:\n"
        "  missing keys (1): 'fc.bias'\n"
        "  unexpected keys (1): 'head.w'\n"
        "  shape mismatches (1):\n"
        "    'fc.weight': expected shape (2, 3), found (3, 2)"
    )
    err = info.value
    assert isinstance(err, CheckpointError) and isinstance(err, KeyError)
    assert err.missing_keys == ["fc.bias"]
    assert err.unexpected_keys == ["head.w"]
    assert err.shape_mismatches == [("fc.weight", (2, 3), (3, 2))]


def test_checker_reports_only_what_is_wrong() -> None:
    got = {"fc.weight": np.zeros((2, 3)), "out.weight": np.zeros((1, 2))}
    with pytest.raises(KeyError) as info:
        check_state_dict_compatible(EXPECTED, got)
    msg = str(info.value)
    assert "missing keys (1): 'fc.bias'" in msg
    assert "unexpected" not in msg and "shape" not in msg


def test_checker_non_strict_reports_keys_but_still_rejects_shapes() -> None:
    got = {"fc.weight": np.zeros((2, 3)), "extra": np.zeros(1)}
    report = check_state_dict_compatible(EXPECTED, got, strict=False)
    assert report.missing_keys == ["fc.bias", "out.weight"]
    assert report.unexpected_keys == ["extra"]
    got["fc.weight"] = np.zeros(6)
    with pytest.raises(StateDictMismatchError) as info:
        check_state_dict_compatible(EXPECTED, got, strict=False)
    assert str(info.value) == (
        "state dict does not match the expected parameters:\n"
        "  shape mismatches (1):\n"
        "    'fc.weight': expected shape (2, 3), found (6,)"
    )


def test_checker_works_on_a_loaded_checkpoint(tmp_path: Path) -> None:
    save({"fc.weight": np.zeros((2, 3), np.float32), "fc.bias": np.zeros(2)}, tmp_path / "c")
    state = load(tmp_path / "c")
    with pytest.raises(CheckpointError, match=r"'out.weight'"):
        check_state_dict_compatible(EXPECTED, state)
    expected = {k: v for k, v in EXPECTED.items() if k != "out.weight"}
    check_state_dict_compatible(expected, state)
