"""Hostile and unusual checkpoints: size guards, lying headers, nesting, paths, error family."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.io import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_RATIO,
    FORMAT_NAME,
    FORMAT_VERSION,
    CheckpointError,
    StateDictMismatchError,
    load,
    save,
)
from chainrule.io import checkpoint as ckpt_module

META = "__chainrule_checkpoint__"


def meta_for(arrays: dict[str, tuple[str, list[int], str]], tree: Any) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "tree": tree,
        "arrays": {k: {"dtype": d, "shape": s, "sha256": h} for k, (d, s, h) in arrays.items()},
    }


def write_zip(
    path: Path,
    meta: dict[str, Any],
    members: dict[str, tuple[dict[str, Any], bytes]],
    compression: int = zipfile.ZIP_STORED,
) -> None:
    """Archive with hand-made .npy members: (header dict, data bytes) each, any sizes."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for key, (header, data) in members.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array_header_1_0(fh, header)
                fh.write(data)
        with zf.open(f"{META}.npy", "w") as fh:
            np.lib.format.write_array(fh, np.frombuffer(json.dumps(meta).encode(), np.uint8))


def traced_peak(fn: Any) -> int:
    """Peak bytes allocated (NumPy buffers included) while ``fn`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def expect_error(fn: Any, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        fn()


# ------------------------------------------------------------------------------------------
# decompression bombs and sizes that disagree
# ------------------------------------------------------------------------------------------


def zeros_bomb(path: Path, n: int) -> None:
    """A deflated archive whose metadata honestly describes ``n`` float64 zeros."""
    digest = hashlib.sha256(bytes(8 * n)).hexdigest()
    meta = meta_for({"array_0": ("<f8", [n], digest)}, {"type": "array", "key": "array_0"})
    header = {"descr": "<f8", "fortran_order": False, "shape": (n,)}
    write_zip(path, meta, {"array_0": (header, bytes(8 * n))}, zipfile.ZIP_DEFLATED)


def test_compression_bomb_is_refused_before_decompressing(tmp_path: Path) -> None:
    path = tmp_path / "bomb"
    n = 2**23  # 64 MiB of zeros in a ~65 kB file
    zeros_bomb(path, n)
    assert path.stat().st_size < 8 * n / 500
    start = time.perf_counter()
    peak = traced_peak(lambda: expect_error(lambda: load(path), r"max_ratio=100 .*bomb"))
    assert time.perf_counter() - start < 1.0
    assert peak < 2**20  # nothing near the 64 MiB was allocated
    # A user who trusts the file can lift the guard; it then loads exactly.
    loaded = load(path, max_ratio=None)
    assert loaded.shape == (n,) and not loaded.any()


def test_small_compressed_checkpoints_still_load(tmp_path: Path) -> None:
    # numpy.savez_compressed output: zeros compress ~1000:1, but below the 1 MiB floor.
    state = {"w": np.zeros((64, 64)), "b": np.arange(5.0)}
    save(state, tmp_path / "c")
    with np.load(tmp_path / "c") as npz:
        entries = {k: npz[k] for k in npz.files}
    with open(tmp_path / "z", "wb") as fh:
        np.savez_compressed(fh, **entries)
    loaded = load(tmp_path / "z")
    np.testing.assert_array_equal(loaded["w"], state["w"])
    np.testing.assert_array_equal(loaded["b"], state["b"])


def test_max_bytes_caps_the_total_and_can_be_raised(tmp_path: Path) -> None:
    path = tmp_path / "c"
    save({"a": np.ones(1000), "b": np.ones(1000)}, path)  # 16 kB of data
    expect_error(lambda: load(path, max_bytes=10_000), r"more than max_bytes=10,000")
    assert load(path, max_bytes=20_000)["a"].sum() == 1000
    assert load(path, max_bytes=None)["b"].sum() == 1000
    assert DEFAULT_MAX_BYTES == 4 * 2**30 and DEFAULT_MAX_RATIO == 100.0
    for bad in (-1, "10", True, float("nan")):
        expect_error(lambda bad=bad: load(path, max_bytes=bad), "max_bytes must be")
    expect_error(lambda: load(path, max_ratio=0.5), "max_ratio must be")


def test_header_declaring_more_than_the_entry_holds_is_refused_unread(tmp_path: Path) -> None:
    # Metadata and .npy header agree on 1 TiB; the entry holds 64 bytes. Reading it the
    # usual way allocates the declared size first.
    n = 2**37
    path = tmp_path / "liar"
    meta = meta_for({"array_0": ("<f8", [n], "0" * 64)}, {"type": "array", "key": "array_0"})
    write_zip(
        path,
        meta,
        {"array_0": ({"descr": "<f8", "fortran_order": False, "shape": (n,)}, bytes(64))},
    )
    peak = traced_peak(lambda: expect_error(lambda: load(path), r"needs 1,099,511,627,776"))
    assert peak < 2**20


def test_header_disagreeing_with_metadata_is_refused(tmp_path: Path) -> None:
    data = np.arange(6, dtype="<f4").tobytes()
    digest = hashlib.sha256(data).hexdigest()
    tree = {"type": "array", "key": "array_0"}
    cases = [
        ({"descr": "<f4", "fortran_order": False, "shape": (3, 2)}, r"shape \(3, 2\).*\(2, 3\)"),
        ({"descr": "<i4", "fortran_order": False, "shape": (2, 3)}, r"dtype <i4"),
        ({"descr": "<f4", "fortran_order": False, "shape": (6,)}, r"shape \(6,\)"),
    ]
    for header, match in cases:
        path = tmp_path / "c"
        write_zip(
            path, meta_for({"array_0": ("<f4", [2, 3], digest)}, tree), {"array_0": (header, data)}
        )
        expect_error(lambda path=path: load(path), match)
    # Right header, but the zip entry holds extra bytes after the data.
    write_zip(
        path,
        meta_for({"array_0": ("<f4", [2, 3], digest)}, tree),
        {"array_0": ({"descr": "<f4", "fortran_order": False, "shape": (2, 3)}, data + bytes(8))},
    )
    expect_error(lambda: load(path), r"header describes")
    # And the same archive without the padding loads (the checks are not too strict).
    write_zip(
        path,
        meta_for({"array_0": ("<f4", [2, 3], digest)}, tree),
        {"array_0": ({"descr": "<f4", "fortran_order": False, "shape": (2, 3)}, data)},
    )
    np.testing.assert_array_equal(load(path), np.arange(6, dtype="<f4").reshape(2, 3))


def test_fortran_order_entries_round_trip(tmp_path: Path) -> None:
    a = np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))
    save({"a": a, "t": a.T}, tmp_path / "c")
    with zipfile.ZipFile(tmp_path / "c") as zf, zf.open("array_0.npy") as fh:
        np.lib.format.read_magic(fh)
        assert np.lib.format.read_array_header_1_0(fh)[1] is True  # really stored as F
    loaded = load(tmp_path / "c")
    np.testing.assert_array_equal(loaded["a"], a)
    np.testing.assert_array_equal(loaded["t"], a.T)
    loaded["a"][0, 0] = 7  # writable


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        (("|O", [1]), "object dtype"),
        (("<f8", [-1]), "negative dim"),
        (("<f8", [True]), "bool dim"),
        (("<f8", [2**70]), "dim beyond intp"),
        (("<f8", [1] * 65), "too many dims"),
        (("f8", [1]), "non-canonical dtype spelling"),
        (("i4,f8", [1]), "structured spelling"),
        (("not a dtype", [1]), "garbage dtype"),
        (("<U99999999999999999999", [1]), "absurd itemsize"),
    ],
)
def test_hostile_array_descriptions_are_refused(tmp_path: Path, spec: Any, why: str) -> None:
    path = tmp_path / "c"
    meta = meta_for({"array_0": (*spec, "0" * 64)}, {"type": "array", "key": "array_0"})
    write_zip(
        path, meta, {"array_0": ({"descr": "<f8", "fortran_order": False, "shape": (1,)}, bytes(8))}
    )
    expect_error(lambda: load(path), "bad description of entry 'array_0'")


def test_zip_oddities_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c"
    save({"w": np.arange(3.0)}, path)
    with zipfile.ZipFile(path) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}

    def rewrite(extra: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> None:
        with pytest.warns(UserWarning) if "dup" in extra else contextlib.nullcontext():
            with zipfile.ZipFile(path, "w", compression=compression) as zf:
                for name, data in {**members, **extra}.items():
                    zf.writestr(name.replace("dup", "array_0.npy"), data)

    rewrite({"notes.txt": b"hello"})
    expect_error(lambda: load(path), r"'notes.txt' is not a .npy array")
    rewrite({"dup": members["array_0.npy"]})
    expect_error(lambda: load(path), r"holds entry 'array_0' twice")
    rewrite({}, zipfile.ZIP_BZIP2)
    expect_error(lambda: load(path), "compression method 12")
    # The encryption flag (zipfile would raise RuntimeError asking for a password).
    rewrite({})
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")  # first central-directory record; flags at offset 8
    data[pos + 8] |= 0x1
    path.write_bytes(bytes(data))
    expect_error(lambda: load(path), "encrypted")


def test_float_leaf_beyond_float_range_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "c"
    write_zip(path, meta_for({}, {"type": "float", "value": 10**400}), {})
    expect_error(lambda: load(path), "float leaf without a float value")


def test_huge_values_in_metadata_give_short_messages(tmp_path: Path) -> None:
    path = tmp_path / "c"
    meta = meta_for({}, {"type": "none"})
    meta["format"] = "x" * 10**6
    write_zip(path, meta, {})
    with pytest.raises(CheckpointError) as info:
        load(path)
    assert len(str(info.value)) < 400


# ------------------------------------------------------------------------------------------
# deep nesting
# ------------------------------------------------------------------------------------------


def nested(depth: int, leaf: Any = 1) -> Any:
    state: Any = leaf
    for i in range(depth):
        state = {"k": state} if i % 2 else [state]
    return state


def test_deep_state_is_refused_at_save_without_recursion_error(tmp_path: Path) -> None:
    for depth in (ckpt_module.MAX_DEPTH + 1, 5_000, 100_000):
        with pytest.raises(CheckpointError, match="nested more than 100 levels"):
            save(nested(depth), tmp_path / "c")
    assert list(tmp_path.iterdir()) == []
    save(nested(ckpt_module.MAX_DEPTH, np.ones(2)), tmp_path / "c")  # the limit itself is fine
    loaded = load(tmp_path / "c")
    for _ in range(ckpt_module.MAX_DEPTH):
        loaded = loaded["k"] if isinstance(loaded, dict) else loaded[0]
    np.testing.assert_array_equal(loaded, np.ones(2))


def deep_tree(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "none"}
    for _ in range(depth):
        node = {"type": "list", "items": [node]}
    return node


@pytest.mark.parametrize("depth", [ckpt_module.MAX_DEPTH + 1, 400, 3_000, 200_000])
def test_deep_metadata_is_refused_without_recursion_error(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "c"
    # Written by hand: json.dumps itself would overflow the stack for the deepest ones.
    text = '{"type":"list","items":[' * depth + '{"type":"none"}' + "]}" * depth
    meta_text = json.dumps(meta_for({}, None)).replace("null", text)
    with zipfile.ZipFile(path, "w") as zf, zf.open(f"{META}.npy", "w") as fh:
        np.lib.format.write_array(fh, np.frombuffer(meta_text.encode(), np.uint8))
    with pytest.raises(CheckpointError, match="nested|not valid JSON"):
        load(path)


# ------------------------------------------------------------------------------------------
# symlinks, read-only files, stale temporaries
# ------------------------------------------------------------------------------------------


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX links and permissions")


@posix_only
def test_saving_through_a_symlink_updates_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    real_dir = tmp_path / "store"
    real_dir.mkdir()
    target = real_dir / "model.ckpt"
    save({"v": 1}, target)
    link = tmp_path / "latest"
    link.symlink_to(target)
    save({"v": 2}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert load(target) == {"v": 2} and load(link) == {"v": 2}
    # The temporary lived beside the target (atomic rename there) and is gone.
    assert sorted(p.name for p in real_dir.iterdir()) == ["model.ckpt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "store"]


@posix_only
def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "latest"
    link.symlink_to(tmp_path / "new.ckpt")
    save({"v": 3}, link)
    assert link.is_symlink() and load(tmp_path / "new.ckpt") == {"v": 3}


@posix_only
def test_symlink_loop_and_directories_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError, match="symbolic links"):
        save({"v": 1}, tmp_path / "a")
    with pytest.raises(IsADirectoryError):
        save({"v": 1}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


@posix_only
def test_read_only_checkpoint_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "final.ckpt"
    save({"v": "keep"}, target)
    before = target.read_bytes()
    os.chmod(target, 0o444)
    try:
        with pytest.raises(PermissionError, match="read-only"):
            save({"v": "new"}, target)
        # Through a link too: the protection is the file's, not the name's.
        (tmp_path / "link").symlink_to(target)
        with pytest.raises(PermissionError):
            save({"v": "new"}, tmp_path / "link")
        assert target.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["final.ckpt", "link"]
    finally:
        os.chmod(target, 0o644)
    save({"v": "new"}, target)  # writable again: replaced, keeping its mode
    assert load(target) == {"v": "new"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def make_temp(folder: Path, name: str, age_s: float, body: bytes = b"PK partial") -> Path:
    path = folder / name
    path.write_bytes(body)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


@posix_only
def test_stale_temporaries_of_the_same_target_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "model.ckpt"
    stale = [
        make_temp(tmp_path, ".model.ckpt.abc_1234.tmp", 3600),
        make_temp(tmp_path, ".model.ckpt.zzzzzzzz.tmp", 120),
    ]
    keep = [
        make_temp(tmp_path, ".model.ckpt.fresh123.tmp", 0),  # a concurrent save, maybe
        make_temp(tmp_path, ".other.ckpt.abc_1234.tmp", 3600),  # another target's
        make_temp(tmp_path, ".model.ckpt.abc_12345.tmp", 3600),  # not mkstemp's pattern
        make_temp(tmp_path, ".model.ckpt.ABCDEFGH.tmp", 3600),
        make_temp(tmp_path, "model.ckpt.abc_1234.tmp", 3600),
        make_temp(tmp_path, ".model.ckpt.abc_1234.tmp.bak", 3600),
    ]
    victim = make_temp(tmp_path, "precious", 3600)
    link = tmp_path / ".model.ckpt.linklink.tmp"
    link.symlink_to(victim)  # a link with our name: neither it nor its target is touched
    os.utime(link, (time.time() - 3600,) * 2, follow_symlinks=False)
    save({"v": 1}, target)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep) and link.is_symlink() and victim.exists()
    assert load(target) == {"v": 1}


@posix_only
def test_stale_cleanup_failures_do_not_break_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = make_temp(tmp_path, ".c.abcdefgh.tmp", 3600)
    real_unlink = os.unlink

    def refuse(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(path) == str(stale):
            raise PermissionError("nope")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refuse)
    save({"v": 1}, tmp_path / "c")
    assert stale.exists() and load(tmp_path / "c") == {"v": 1}


# ------------------------------------------------------------------------------------------
# one exception family
# ------------------------------------------------------------------------------------------


def test_checkpoint_errors_are_chainrule_errors(tmp_path: Path) -> None:
    assert issubclass(CheckpointError, cr.ChainruleError)
    assert issubclass(StateDictMismatchError, cr.ChainruleError)
    assert issubclass(StateDictMismatchError, KeyError)  # kept for existing callers
    with pytest.raises(cr.ChainruleError):
        load(tmp_path / "missing")
    with pytest.raises(cr.ChainruleError):
        save({"x": {1, 2}}, tmp_path / "c")


def test_checker_reports_values_without_a_shape() -> None:
    from chainrule.io import check_state_dict_compatible

    with pytest.raises(StateDictMismatchError, match=r"not arrays \(1\): 'w'"):
        check_state_dict_compatible({"w": (2,)}, {"w": [[1, 2], [3]]})
