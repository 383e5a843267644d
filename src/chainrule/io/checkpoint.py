"""Safe, pickle-free checkpoints.

A checkpoint is a single zip archive written with :func:`numpy.savez`. Every array leaf of the
saved state lives in its own ``.npy`` entry under a generated name (``array_0``, ``array_1``,
...), and one more entry, ``__chainrule_checkpoint__``, holds a UTF-8 JSON document (stored as
a 1-d ``uint8`` array) that records

* the format name (``"chainrule-checkpoint"``) and format version (``1``),
* the tree structure (dicts, lists, tuples) and the type of every non-array leaf,
* each array's dtype, shape and the SHA-256 of its bytes.

Loading never unpickles anything and never trusts a size it has not checked: the zip
directory (entry names, sizes, compression), the JSON document and every entry's ``.npy``
header are checked against each other *before* any array data is decompressed, so a hostile
file cannot make :func:`load` allocate more than ``max_bytes`` (a compressed "zip bomb" is
refused from its directory alone). Only then are the arrays read, hashed and the result
built, so a damaged file raises :class:`CheckpointError` instead of returning a partly loaded
state.

Why not pickle? Unpickling runs arbitrary code chosen by whoever wrote the file, so a
checkpoint downloaded from elsewhere would be a program, not data.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import json
import math
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import IO, Any, NamedTuple

import numpy as np
import numpy.lib.format as npy_format

from chainrule.core.errors import ChainruleError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RATIO",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CheckpointError",
    "StateDictMismatchError",
    "StateDictReport",
    "check_state_dict_compatible",
    "load",
    "save",
]

FORMAT_NAME = "chainrule-checkpoint"
FORMAT_VERSION = 1

# Entry holding the JSON document; array entries are named ``array_<n>`` so they cannot clash.
_META_KEY = "__chainrule_checkpoint__"
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"

#: Default ``max_bytes`` of :func:`load`: the most a checkpoint may decompress to (4 GiB).
DEFAULT_MAX_BYTES = 4 * 2**30
#: Default ``max_ratio`` of :func:`load`: the most compressed entries may expand, overall.
DEFAULT_MAX_RATIO = 100.0
# Compressed entries may expand freely up to this many bytes in total (tiny entries compress
# badly or extremely well, and cannot hurt).
_RATIO_FLOOR = 2**20
# Nesting depth of dicts/lists/tuples a checkpoint may hold. Real states are a few levels
# deep; the bound keeps encoding, JSON and decoding far from Python's recursion limit, so
# deep nesting is a CheckpointError rather than a RecursionError (or a crash).
MAX_DEPTH = 100
# Bytes an .npy header may take: numpy's own limit on the header text (10000 characters,
# latin-1 or at most 4 bytes each in UTF-8) plus the magic and length fields.
_MAX_HEADER_CHARS = 10000
_MAX_HEADER_BYTES = 4 * _MAX_HEADER_CHARS + 16
_MAX_NDIM = 64  # numpy's NPY_MAXDIMS
_READ_CHUNK = 16 * 2**20  # array data is read in chunks of this size, into its final buffer
# Temporary files of save(): ".<target name>.<8 random chars from mkstemp>.tmp".
_TMP_SUFFIX = ".tmp"
_TMP_RANDOM = r"[a-z0-9_]{8}"
# A leftover temporary is removed only if it is this much older than the current save's
# temporary, so a concurrent save of the same target that is still writing is never hit.
_STALE_AFTER_S = 60.0

_PathLike = str | os.PathLike


class CheckpointError(ChainruleError):
    """Raised when a checkpoint cannot be saved or loaded safely.

    Covers missing or unreadable files, archives that are not checkpoints, truncated or
    corrupted data, unsupported format versions, files that would decompress to more than
    the allowed size, state nested more than ``MAX_DEPTH`` levels, and state that cannot be
    stored without pickle (for example object-dtype arrays). A
    :class:`chainrule.ChainruleError`, so ``except chainrule.ChainruleError`` catches it.
    """


class StateDictMismatchError(CheckpointError, KeyError):
    """A state dict does not fit the parameters it should be loaded into.

    Also a :class:`KeyError`, so callers used to ``load_state_dict`` raising ``KeyError`` can
    catch it either way. The attributes list what was wrong.

    Attributes
    ----------
    missing_keys : list of str
        Names expected but absent from the given state dict.
    unexpected_keys : list of str
        Names present in the state dict but not expected.
    shape_mismatches : list of tuple
        ``(name, expected_shape, found_shape)`` for names present on both sides.
    """

    def __init__(
        self,
        message: str,
        missing_keys: list[str],
        unexpected_keys: list[str],
        shape_mismatches: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        super().__init__(message)
        self.message = message
        self.missing_keys = missing_keys
        self.unexpected_keys = unexpected_keys
        self.shape_mismatches = shape_mismatches

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message, quoting it and escaping the newlines.
        return self.message


class StateDictReport(NamedTuple):
    """Keys that did not match in a non-strict :func:`check_state_dict_compatible` call."""

    missing_keys: list[str]
    unexpected_keys: list[str]


# --------------------------------------------------------------------------------------------
# saving
# --------------------------------------------------------------------------------------------


def _digest(arr: np.ndarray) -> str:
    """SHA-256 of the array's bytes in C order (the order ``.npy`` stores them)."""
    contiguous = np.ascontiguousarray(arr)
    try:
        # A uint8 view hashes without copying; it fails only for exotic zero-size itemsizes.
        buf: Any = contiguous.reshape(-1).view(np.uint8)
    except (TypeError, ValueError):
        buf = contiguous.tobytes()
    return hashlib.sha256(buf).hexdigest()


def _child_path(parent: str, key: Any) -> str:
    return f"{parent}[{key!r}]"


class _Encoder:
    """Turns a state tree into a JSON-able node tree plus a table of arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.specs: dict[str, dict[str, Any]] = {}
        self._active: set[int] = set()  # containers on the current path, to catch cycles

    def _add_array(self, arr: np.ndarray, where: str) -> str:
        if arr.dtype.hasobject:
            raise CheckpointError(
                f"cannot save {where}: it is an array of dtype {arr.dtype} holding Python "
                "objects, which could only be stored with pickle; checkpoints never use "
                "pickle. Convert it to a numeric, bool or string dtype, or store its "
                "elements as separate leaves."
            )
        key = f"array_{len(self.arrays)}"
        self.arrays[key] = arr
        self.specs[key] = {
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "sha256": _digest(arr),
        }
        return key

    def encode(self, obj: Any, where: str, depth: int = 0) -> dict[str, Any]:
        # Order matters: bool before int (bool is an int subclass) and NumPy scalars before
        # float (np.float64 is a float subclass) so each comes back as the type it was.
        if obj is None:
            return {"type": "none"}
        if isinstance(obj, bool):
            return {"type": "bool", "value": obj}
        if isinstance(obj, np.generic):
            return {"type": "numpy_scalar", "key": self._add_array(np.asarray(obj), where)}
        if isinstance(obj, np.ndarray) or hasattr(type(obj), "__array__"):
            arr = np.asarray(obj)
            if not isinstance(arr, np.ndarray):
                raise CheckpointError(
                    f"cannot save {where}: __array__ of {type(obj).__name__} did not return "
                    "a NumPy array"
                )
            return {"type": "array", "key": self._add_array(arr, where)}
        if isinstance(obj, int):
            return {"type": "int", "value": int(obj)}
        if isinstance(obj, float):
            value = float(obj)
            # Strict JSON has no NaN/Infinity literals, so spell non-finite floats as strings.
            return {"type": "float", "value": value if math.isfinite(value) else repr(value)}
        if isinstance(obj, str):
            return {"type": "str", "value": str(obj)}
        if isinstance(obj, (Mapping, list, tuple)):
            return self._encode_container(obj, where, depth + 1)
        raise CheckpointError(
            f"cannot save {where}: unsupported type {type(obj).__module__}."
            f"{type(obj).__qualname__}; leaves must be arrays (or objects with __array__), "
            "int, float, bool, str or None, inside dicts, lists and tuples"
        )

    def _encode_container(self, obj: Any, where: str, depth: int) -> dict[str, Any]:
        if id(obj) in self._active:
            raise CheckpointError(f"cannot save {where}: the state contains itself (a cycle)")
        if depth > MAX_DEPTH:
            # Checked here, not left to RecursionError: that would depend on how deep the
            # caller's stack already is, and the loader must accept whatever save writes.
            raise CheckpointError(
                f"cannot save {where[:200]}...: the state is nested more than {MAX_DEPTH} "
                "levels deep (dicts, lists and tuples); flatten it"
            )
        self._active.add(id(obj))
        try:
            if isinstance(obj, Mapping):
                items = []
                for k, v in obj.items():
                    if not isinstance(k, str):
                        raise CheckpointError(
                            f"cannot save {where}: dict key {k!r} is a "
                            f"{type(k).__name__}; only str keys are supported"
                        )
                    items.append([k, self.encode(v, _child_path(where, k), depth)])
                return {"type": "dict", "items": items}
            kind = "tuple" if isinstance(obj, tuple) else "list"
            children = [self.encode(v, f"{where}[{i}]", depth) for i, v in enumerate(obj)]
            return {"type": kind, "items": children}
        finally:
            self._active.discard(id(obj))


def _default_file_mode() -> int:
    """Mode a plain ``open(path, "w")`` would give a new file (0o666 minus the umask)."""
    umask = 0o022
    try:
        # Reading the umask via os.umask() briefly changes it, which races with other
        # threads; Linux exposes it read-only here.
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError):
        pass
    return 0o666 & ~umask


def _fsync_dir(folder: str) -> None:
    """Make the rename itself durable; best effort (not possible on every platform)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _resolve_target(target: str) -> str:
    """The regular file that saving to ``target`` should replace (symlinks followed).

    Like ``open(target, "wb")`` (what :func:`numpy.save` and ``torch.save`` do), saving
    through a symlink writes the file it points to and keeps the link; a plain
    ``os.replace`` onto the link would instead turn the link into a regular file and leave
    its target stale.
    """
    real = os.path.realpath(target)
    if os.path.islink(real):  # realpath stops at a symlink loop
        raise OSError(errno.ELOOP, "too many levels of symbolic links", target)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return real  # a new file (or a dangling link's target, created like open() would)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", target)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file; refusing to replace it", target)
    # os.replace only needs write access to the folder, so it would silently replace a
    # file the user made read-only; refuse like open(target, "wb") does. No write bit at
    # all also counts, so even root (whom os.access never refuses) cannot clobber it.
    if not os.access(real, os.W_OK) or not st.st_mode & 0o222:
        raise PermissionError(
            errno.EACCES, "checkpoint file is read-only; make it writable to overwrite it", target
        )
    return real


def _remove_stale_temporaries(folder: str, name: str, current: str, now: float) -> None:
    """Delete temporaries of earlier, interrupted saves of ``name`` (best effort).

    Only files named exactly like :func:`save`'s own temporaries for this target, that are
    regular files (not links) owned by this user and older than the current save's
    temporary by ``_STALE_AFTER_S``, so a concurrent save still writing is never touched.
    """
    pattern = re.compile(re.escape(f".{name}.") + _TMP_RANDOM + re.escape(_TMP_SUFFIX))
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name == current or not pattern.fullmatch(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid):
                continue
            if st.st_mtime < now - _STALE_AFTER_S:
                os.unlink(entry.path)
        except OSError:
            continue  # gone already, or not ours to remove


def save(state: Any, path: _PathLike) -> None:
    """Save a nested state to ``path`` as a pickle-free checkpoint, atomically.

    Parameters
    ----------
    state : object
        Nested dicts (str keys), lists and tuples whose leaves are NumPy arrays, NumPy
        scalars, objects with ``__array__`` (such as chainrule Tensors, which are stored as
        their array value), ``int``, ``float``, ``bool``, ``str`` or ``None``; at most
        ``MAX_DEPTH`` (100) containers deep.
    path : str or os.PathLike
        Target file. Written exactly as given: no ``.npz`` suffix is added.

    Raises
    ------
    CheckpointError
        If the state holds something that cannot be stored without pickle: object-dtype
        arrays, unsupported leaf types, non-str dict keys, a reference cycle or nesting
        deeper than ``MAX_DEPTH``. Nothing is written in that case.
    OSError
        If the file cannot be written: the folder does not exist, ``path`` is a directory
        or another non-regular file, a symlink loop, or an existing file that is read-only
        (:class:`PermissionError`; see Notes). A previous file at ``path`` is then left
        untouched and no temporary file remains.

    Notes
    -----
    The archive is first written to a temporary file in the same folder, flushed and
    fsync'ed, then renamed over ``path`` with :func:`os.replace`, so readers see either the
    old checkpoint or the complete new one, never a partial file. Temporaries left behind
    by an earlier save of the same target that was killed (named ``.<name>.<random>.tmp``,
    owned by you and over a minute older than this save) are deleted.

    What is replaced follows ``open(path, "wb")``, as :func:`numpy.save` and
    ``torch.save`` do, while staying atomic:

    * a **symlink** is followed: the file it points to gets the new content (renamed into
      place in *its* folder) and the link itself stays; a dangling link's target is
      created;
    * a **read-only** file (no write permission for you, or no write bit at all) is not
      replaced: :class:`PermissionError`, the file unchanged. The atomic rename would
      otherwise overwrite it silently, since renaming only needs a writable folder;
    * an existing file keeps its permission bits. A file with several **hard links** gets
      a new inode: the other names keep the old content.

    Dict subclasses come back as ``dict`` and tuple subclasses (named tuples) as ``tuple``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from chainrule.io import load, save
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "model.ckpt")
    >>> save({"w": np.eye(2, dtype=np.float32), "step": 3, "betas": (0.9, 0.999)}, path)
    >>> state = load(path)
    >>> state["w"].dtype, state["step"], state["betas"]
    (dtype('float32'), 3, (0.9, 0.999))

    Saving through a symlink updates the file it points to:

    >>> os.symlink(path, os.path.join(folder, "latest"))
    >>> save({"step": 4}, os.path.join(folder, "latest"))
    >>> load(path), os.path.islink(os.path.join(folder, "latest"))
    ({'step': 4}, True)
    """
    target = os.fspath(path)
    if isinstance(target, bytes):
        target = os.fsdecode(target)

    # Validate and convert everything before touching the file system.
    encoder = _Encoder()
    tree = encoder.encode(state, "state")
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "tree": tree,
        "arrays": encoder.specs,
    }
    try:
        meta_bytes = json.dumps(meta, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except RecursionError as exc:  # only if the caller's own stack is already very deep
        raise CheckpointError("cannot save state: it is nested too deeply to encode") from exc
    entries: dict[str, np.ndarray] = dict(encoder.arrays)
    entries[_META_KEY] = np.frombuffer(meta_bytes, dtype=np.uint8)

    real = _resolve_target(target)
    folder = os.path.dirname(real)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)  # keep an existing file's permissions
    except OSError:
        mode = _default_file_mode()

    # Same folder as the target, so os.replace is a rename within one file system (atomic).
    name = os.path.basename(real)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=_TMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            # Our temporary's mtime is "now" on the folder's clock (no NFS clock skew).
            now = os.fstat(fh.fileno()).st_mtime
            _remove_stale_temporaries(folder, name, os.path.basename(tmp), now)
            # Passing a file object stops numpy from appending ".npz" to the name.
            np.savez(fh, **entries)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0o600
        os.replace(tmp, real)
    except BaseException:
        # Also on KeyboardInterrupt: never leave a stray temporary behind.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut short: values from a hostile file can be megabytes long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_list(keys: list[str], limit: int = 10) -> str:
    shown = ", ".join(_short(k, 40) for k in keys[:limit])
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return f"[{shown}{more}]"


class _Spec(NamedTuple):
    """One array entry as the JSON document describes it, checked."""

    dtype: np.dtype
    shape: tuple[int, ...]
    sha256: str
    nbytes: int  # data bytes in the entry (without the .npy header)


class _Decoder:
    """Validates a node tree from the JSON document and rebuilds the state from it."""

    def __init__(self, specs: dict[str, _Spec], origin: str) -> None:
        self.specs = specs
        self.origin = origin
        self.used: dict[str, str] = {}  # array entry -> tree path, filled by check()

    def _bad(self, where: str, why: str) -> CheckpointError:
        return CheckpointError(
            f"{self.origin}: malformed checkpoint metadata at {_short(where, 200)[1:-1]}: {why}"
        )

    def check(self, node: Any, where: str, depth: int = 0) -> None:
        """Check the structure of ``node`` and record which array entries it uses."""
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise self._bad(where, "expected an object with a 'type'")
        kind = node["type"]
        value = node.get("value")
        if kind == "none":
            return
        if kind == "bool":
            if not isinstance(value, bool):
                raise self._bad(where, "bool leaf without a bool value")
        elif kind == "int":
            if not _is_int(value):
                raise self._bad(where, "int leaf without an integer value")
        elif kind == "float":
            ok = _is_int(value) or isinstance(value, float) or value in ("nan", "inf", "-inf")
            if ok and _is_int(value):
                try:
                    float(value)  # an integer beyond float range has no float value
                except OverflowError:
                    ok = False
            if not ok:
                raise self._bad(where, "float leaf without a float value")
        elif kind == "str":
            if not isinstance(value, str):
                raise self._bad(where, "str leaf without a string value")
        elif kind in ("array", "numpy_scalar"):
            key = node.get("key")
            if not isinstance(key, str) or key not in self.specs:
                raise self._bad(where, f"array leaf refers to unknown entry {_short(key)}")
            if key in self.used:
                raise self._bad(where, f"entry {_short(key)} is used twice")
            if kind == "numpy_scalar" and self.specs[key].shape != ():
                raise self._bad(where, f"NumPy scalar entry {_short(key)} is not 0-d")
            self.used[key] = where
        elif kind in ("dict", "list", "tuple"):
            # An explicit bound, so build() (also recursive) is safe once check() passed.
            if depth >= MAX_DEPTH:
                raise self._bad(where, f"nested more than {MAX_DEPTH} levels deep")
            items = node.get("items")
            if not isinstance(items, list):
                raise self._bad(where, f"{kind} without an 'items' list")
            if kind == "dict":
                seen: set[str] = set()
                for item in items:
                    ok = isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    if not ok:
                        raise self._bad(where, "dict item is not a [str key, node] pair")
                    if item[0] in seen:
                        raise self._bad(where, f"duplicate dict key {_short(item[0])}")
                    seen.add(item[0])
                    self.check(item[1], _child_path(where, item[0]), depth + 1)
            else:
                for i, child in enumerate(items):
                    self.check(child, f"{where}[{i}]", depth + 1)
        else:
            raise self._bad(where, f"unknown node type {_short(kind)}")

    def build(
        self,
        node: dict[str, Any],
        arrays: dict[str, np.ndarray],
        as_tensor: Callable[[np.ndarray], Any] | None,
    ) -> Any:
        """Rebuild the state; ``node`` must have passed :meth:`check`."""
        kind = node["type"]
        if kind == "none":
            return None
        if kind == "bool":
            return node["value"]
        if kind == "int":
            return node["value"]
        if kind == "float":
            return float(node["value"])  # float("nan") / float("inf") parse the spelled forms
        if kind == "str":
            return node["value"]
        if kind == "numpy_scalar":
            return arrays[node["key"]][()]
        if kind == "array":
            arr = arrays[node["key"]]
            return arr if as_tensor is None else as_tensor(arr)
        if kind == "dict":
            return {k: self.build(v, arrays, as_tensor) for k, v in node["items"]}
        children = [self.build(v, arrays, as_tensor) for v in node["items"]]
        return tuple(children) if kind == "tuple" else children


_INTP_MAX = int(np.iinfo(np.intp).max)


def _parse_spec(spec: Any) -> _Spec | None:
    """The checked form of one ``arrays`` entry, or None if it is malformed or hostile."""
    if not isinstance(spec, dict):
        return None
    dtype_str, shape, sha = spec.get("dtype"), spec.get("shape"), spec.get("sha256")
    if not (isinstance(dtype_str, str) and isinstance(shape, list) and isinstance(sha, str)):
        return None
    if len(shape) > _MAX_NDIM or not all(_is_int(d) and 0 <= d <= _INTP_MAX for d in shape):
        return None
    try:
        dtype = np.dtype(dtype_str)
    except Exception:  # TypeError, ValueError, OverflowError, ... for arbitrary strings
        return None
    # Only the exact spelling save() writes (``dtype.str``), and never Python objects.
    if dtype.hasobject or dtype.str != dtype_str:
        return None
    return _Spec(dtype, tuple(shape), sha, dtype.itemsize * math.prod(shape))


def _check_specs(specs: Any, origin: str) -> dict[str, _Spec]:
    if not isinstance(specs, dict):
        raise CheckpointError(f"{origin}: malformed checkpoint metadata: 'arrays' is not a table")
    checked: dict[str, _Spec] = {}
    for key, spec in specs.items():
        parsed = _parse_spec(spec)
        if parsed is None or key == _META_KEY:
            raise CheckpointError(
                f"{origin}: malformed checkpoint metadata: bad description of entry "
                f"{_short(key)}: {_short(spec)}"
            )
        checked[key] = parsed
    return checked


def _check_header(meta: dict[str, Any], origin: str) -> None:
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{origin}: wrong format name {_short(meta.get('format'))}; expected {FORMAT_NAME!r}"
        )
    version = meta.get("version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{origin}: invalid checkpoint format version {_short(version)}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{origin}: checkpoint format version {_short(version)} is newer than this library "
            f"supports; this version of chainrule reads format version {FORMAT_VERSION}. "
            "Upgrade chainrule to load it."
        )


def _open_checks(fh: Any, origin: str) -> None:
    """Cheap checks on the first bytes, so the errors say what the file is instead."""
    head = fh.read(len(_NPY_MAGIC))
    fh.seek(0)
    if not head:
        raise CheckpointError(f"{origin}: file is empty (truncated checkpoint?)")
    if head.startswith(_NPY_MAGIC):
        raise CheckpointError(f"{origin}: is a single-array .npy file, not a checkpoint archive")
    if not head.startswith(_ZIP_MAGIC):
        raise CheckpointError(f"{origin}: not a checkpoint (not a zip/.npz archive)")


def _entry_table(
    zf: zipfile.ZipFile, origin: str, max_bytes: int | None, max_ratio: float | None
) -> dict[str, zipfile.ZipInfo]:
    """Entry name -> zip directory record, checked before anything is decompressed.

    The sizes come from the zip's central directory, which zipfile also uses to bound what
    it reads (it never returns more than ``file_size`` bytes of an entry), so checking them
    here bounds the memory and time of the whole load.
    """
    table: dict[str, zipfile.ZipInfo] = {}
    total = inflated = deflated = 0
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy"):
            raise CheckpointError(
                f"{origin}: archive member {_short(name)} is not a .npy array; a checkpoint "
                "holds nothing else"
            )
        key = name[: -len(".npy")]
        if key in table:
            raise CheckpointError(f"{origin}: archive holds entry {_short(key)} twice")
        if info.flag_bits & 0x1:
            raise CheckpointError(f"{origin}: entry {_short(key)} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # save() stores; numpy.savez_compressed deflates. Other methods (bzip2, lzma)
            # are refused rather than trusted with hostile input.
            raise CheckpointError(
                f"{origin}: entry {_short(key)} uses zip compression method "
                f"{info.compress_type}; only stored and deflated entries are read"
            )
        table[key] = info
        total += info.file_size
        if info.compress_type != zipfile.ZIP_STORED:
            inflated += info.file_size
            deflated += info.compress_size
    if max_bytes is not None and total > max_bytes:
        raise CheckpointError(
            f"{origin}: the archive's entries add up to {total:,} bytes uncompressed, more "
            f"than max_bytes={max_bytes:,}. If you trust this file, pass a larger max_bytes "
            "(or None) to load()."
        )
    if max_ratio is not None and inflated > max(max_ratio * deflated, _RATIO_FLOOR):
        raise CheckpointError(
            f"{origin}: compressed entries would expand from {deflated:,} to {inflated:,} "
            f"bytes ({inflated / max(deflated, 1):,.0f}:1), more than max_ratio={max_ratio:g} "
            "(a decompression bomb?). If you trust this file, pass a larger max_ratio (or "
            "None) to load()."
        )
    return table


class _CountingReader:
    """Counts the bytes read from a zip member, to locate the end of its .npy header."""

    def __init__(self, fp: IO[bytes]) -> None:
        self.fp = fp
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fp.read(n)
        self.pos += len(data)
        return data


def _read_npy_header(fp: _CountingReader) -> tuple[np.dtype, tuple[int, ...], bool]:
    """``(dtype, shape, fortran_order)`` from the start of an .npy stream; no data read."""
    version = npy_format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(
            fp, max_header_size=_MAX_HEADER_CHARS
        )
    elif version == (2, 0):
        shape, fortran, dtype = npy_format.read_array_header_2_0(
            fp, max_header_size=_MAX_HEADER_CHARS
        )
    elif version == (3, 0) and _read_header_v3 is not None:
        shape, fortran, dtype = _read_header_v3(fp, (3, 0), max_header_size=_MAX_HEADER_CHARS)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    return dtype, tuple(shape), bool(fortran)


# numpy.savez writes .npy format 3.0 (a UTF-8 header) only for structured dtypes with
# non-latin-1 field names; numpy has no public reader for that header alone.
_read_header_v3: Callable[..., Any] | None = None
for _module_name in ("numpy.lib._format_impl", "numpy.lib.format"):
    try:
        _read_header_v3 = importlib.import_module(_module_name)._read_array_header
        break
    except (ImportError, AttributeError):
        continue


class _Checked(NamedTuple):
    """An entry whose zip record and .npy header agree with its metadata."""

    info: zipfile.ZipInfo
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran: bool
    nbytes: int
    label: str


def _check_entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, spec: _Spec | None, origin: str
) -> _Checked:
    """Check an entry's size and .npy header against ``spec`` (None: the metadata entry).

    Reads only the header: at most ``_MAX_HEADER_BYTES`` more than the data size the
    metadata allows, so nothing large is decompressed for a lying entry.
    """
    if spec is not None and not spec.nbytes <= info.file_size <= spec.nbytes + _MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{origin}: {label} holds {info.file_size:,} bytes (zip directory), but the "
            f"metadata (dtype {spec.dtype.str}, shape {spec.shape}) needs {spec.nbytes:,} "
            "plus a small header"
        )
    try:
        with zf.open(info) as raw:
            fp = _CountingReader(raw)
            dtype, shape, fortran = _read_npy_header(fp)
            header_end = fp.pos
    except Exception as exc:  # BadZipFile, ValueError, EOFError, zlib.error, ...
        raise CheckpointError(
            f"{origin}: {label} is corrupted or truncated ({type(exc).__name__}: "
            f"{_short(str(exc), 200)[1:-1]})"
        ) from exc
    if dtype.hasobject:  # what np.load(allow_pickle=False) refuses: it would need pickle
        raise CheckpointError(f"{origin}: {label} holds Python objects (pickle); refused")
    if spec is None:
        ok = dtype == np.uint8 and len(shape) == 1
        if not ok:
            raise CheckpointError(f"{origin}: {label} is not a 1-d uint8 array")
    elif dtype.str != spec.dtype.str or shape != spec.shape:
        raise CheckpointError(
            f"{origin}: {label} has dtype {dtype.str} and shape {shape}; the metadata "
            f"records dtype {spec.dtype.str} and shape {spec.shape}"
        )
    nbytes = dtype.itemsize * math.prod(shape)
    if info.file_size != header_end + nbytes:
        raise CheckpointError(
            f"{origin}: {label} holds {info.file_size:,} bytes (zip directory) but its .npy "
            f"header describes {header_end + nbytes:,} (dtype {dtype.str}, shape {shape})"
        )
    return _Checked(info, dtype, shape, fortran, nbytes, label)


def _read_entry(zf: zipfile.ZipFile, entry: _Checked, origin: str) -> np.ndarray:
    """Read an entry checked by :func:`_check_entry`, straight into one buffer."""
    try:
        with zf.open(entry.info) as raw:
            fp = _CountingReader(raw)
            if _read_npy_header(fp) != (entry.dtype, entry.shape, entry.fortran):
                raise CheckpointError(f"{origin}: {entry.label} changed while being read")
            order = "F" if entry.fortran else "C"
            if entry.nbytes == 0:
                return np.empty(entry.shape, dtype=entry.dtype, order=order)
            buf = bytearray(entry.nbytes)  # zero pages: no cost until written
            with memoryview(buf) as view:
                pos = 0
                while pos < entry.nbytes:
                    chunk = fp.read(min(_READ_CHUNK, entry.nbytes - pos))
                    if not chunk:
                        raise EOFError(f"data ends after {pos:,} of {entry.nbytes:,} bytes")
                    view[pos : pos + len(chunk)] = chunk
                    pos += len(chunk)
            if fp.read(1):  # also makes zipfile check the CRC at the end of the entry
                raise ValueError("data continues past the declared size")
    except CheckpointError:
        raise
    except Exception as exc:  # e.g. zipfile.BadZipFile("Bad CRC-32 ..."), EOFError, zlib.error
        raise CheckpointError(
            f"{origin}: {entry.label} is corrupted or truncated ({type(exc).__name__}: "
            f"{_short(str(exc), 200)[1:-1]})"
        ) from exc
    flat = np.frombuffer(buf, dtype=entry.dtype)  # writable: a bytearray is mutable
    if entry.fortran:
        return flat.reshape(entry.shape[::-1]).T
    return flat.reshape(entry.shape)


def _read_meta(
    zf: zipfile.ZipFile, table: dict[str, zipfile.ZipInfo], origin: str
) -> dict[str, Any]:
    if _META_KEY not in table:
        raise CheckpointError(
            f"{origin}: not a chainrule checkpoint (an .npz archive without the "
            f"'{_META_KEY}' metadata entry)"
        )
    entry = _check_entry(zf, table[_META_KEY], "checkpoint metadata entry", None, origin)
    raw = _read_entry(zf, entry, origin)
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(
            f"{origin}: checkpoint metadata is not valid JSON ({_short(str(exc), 200)[1:-1]})"
        ) from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{origin}: checkpoint metadata is not a JSON object")
    return meta


def _check_limit(value: Any, name: str, minimum: float) -> None:
    ok = value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value >= minimum
    )
    if not ok:
        raise CheckpointError(
            f"load: {name} must be None or a number >= {minimum}, got {_short(value)}"
        )


def load(
    path: _PathLike,
    as_tensor: Callable[[np.ndarray], Any] | None = None,
    *,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    max_ratio: float | None = DEFAULT_MAX_RATIO,
) -> Any:
    """Load a checkpoint written by :func:`save`, verifying it completely first.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.
    as_tensor : callable, optional
        Applied to every array leaf (not to NumPy scalars) after verification, for example a
        Tensor constructor. By default array leaves are returned as NumPy arrays.
    max_bytes : int or None, default ``DEFAULT_MAX_BYTES`` (4 GiB)
        The most the archive's entries may add up to once decompressed; refused (before
        anything is decompressed) if more. Raise it to load a larger checkpoint you
        trust; None removes the cap.
    max_ratio : float or None, default ``DEFAULT_MAX_RATIO`` (100)
        The most compressed entries may expand, overall (beyond 1 MiB in total).
        :func:`save` never compresses, so only archives made otherwise (for example with
        :func:`numpy.savez_compressed`) are affected. None removes the check.

    Returns
    -------
    object
        The saved state: dicts, lists and tuples as saved, arrays with their dtype and
        shape, NumPy scalars as NumPy scalars, and the Python leaves.

    Raises
    ------
    CheckpointError
        If the file is missing or unreadable, is not a zip/.npz archive, is truncated, has a
        corrupted array (the message names the entry and its place in the state), has the
        wrong format name or a newer format version, has missing or extra entries, or
        would exceed ``max_bytes`` or ``max_ratio``. Nothing is returned unless every check
        passed.

    Notes
    -----
    Before any array data is decompressed, every entry's size in the zip directory and its
    ``.npy`` header (dtype, shape, order) are checked against the JSON metadata, so
    memory use is bounded by what the metadata declares and ``max_bytes`` allows, whatever
    the file claims elsewhere.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from chainrule.io import load, save
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt")
    >>> save({"layers": [{"b": np.zeros(3)}], "name": "mlp", "extra": None}, path)
    >>> state = load(path)
    >>> state["layers"][0]["b"].shape, state["name"], state["extra"]
    ((3,), 'mlp', None)
    >>> load(path, as_tensor=lambda a: a.tolist())["layers"][0]["b"]
    [0.0, 0.0, 0.0]
    >>> from chainrule.io import CheckpointError
    >>> save({"big": np.zeros(1000)}, path)             # 8000 bytes of data
    >>> try:
    ...     load(path, max_bytes=4096)
    ... except CheckpointError as err:
    ...     print("refused:", "more than max_bytes=4,096" in str(err))
    refused: True
    >>> load(path, max_bytes=None)["big"].size
    1000
    """
    _check_limit(max_bytes, "max_bytes", 0)
    _check_limit(max_ratio, "max_ratio", 1)
    source = os.fspath(path)
    if isinstance(source, bytes):
        source = os.fsdecode(source)
    origin = f"checkpoint {source!r}"
    try:
        fh = open(source, "rb")
    except FileNotFoundError as exc:
        raise CheckpointError(f"{origin}: no such file") from exc
    except OSError as exc:
        raise CheckpointError(f"{origin}: cannot open ({exc})") from exc
    with fh:
        _open_checks(fh, origin)
        try:
            zf = zipfile.ZipFile(fh)
        except Exception as exc:  # BadZipFile, EOFError, OSError, ValueError, ...
            raise CheckpointError(
                f"{origin}: cannot read the zip archive; the file is truncated or corrupted "
                f"({type(exc).__name__}: {_short(str(exc), 200)[1:-1]})"
            ) from exc
        with zf:
            return _load_archive(zf, origin, as_tensor, max_bytes, max_ratio)


def _load_archive(
    zf: zipfile.ZipFile,
    origin: str,
    as_tensor: Callable[[np.ndarray], Any] | None,
    max_bytes: int | None,
    max_ratio: float | None,
) -> Any:
    table = _entry_table(zf, origin, max_bytes, max_ratio)
    meta = _read_meta(zf, table, origin)
    # Format and version first: a newer version may lay out everything else differently.
    _check_header(meta, origin)
    specs = _check_specs(meta.get("arrays"), origin)
    decoder = _Decoder(specs, origin)
    try:
        decoder.check(meta.get("tree"), "state")
    except RecursionError as exc:  # only if the caller's own stack is already very deep
        raise CheckpointError(f"{origin}: checkpoint metadata is nested too deeply") from exc

    unused = sorted(set(specs) - set(decoder.used))
    if unused:
        raise CheckpointError(
            f"{origin}: malformed checkpoint metadata: entries {_short_list(unused)} "
            "described but unused"
        )
    present = set(table) - {_META_KEY}
    missing = sorted(set(specs) - present)
    extra = sorted(present - set(specs))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing entries {_short_list(missing)}")
        if extra:
            parts.append(f"unexpected extra entries {_short_list(extra)}")
        raise CheckpointError(f"{origin}: archive does not match its metadata: {'; '.join(parts)}")

    # Every entry's size and header first, so a lying entry is refused before any large
    # read; then read and verify every array before building anything (nothing half-loads).
    checked = {
        key: _check_entry(zf, table[key], f"array entry {key!r} ({where})", specs[key], origin)
        for key, where in decoder.used.items()
    }
    arrays: dict[str, np.ndarray] = {}
    for key, entry in checked.items():
        arr = _read_entry(zf, entry, origin)
        if _digest(arr) != specs[key].sha256:
            raise CheckpointError(
                f"{origin}: {entry.label} is corrupted (SHA-256 checksum mismatch)"
            )
        arrays[key] = arr
    return decoder.build(meta["tree"], arrays, as_tensor)


# --------------------------------------------------------------------------------------------
# state-dict compatibility
# --------------------------------------------------------------------------------------------


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """The value's shape, or None if it has none (ragged lists, a malformed ``shape``)."""
    try:
        shape = getattr(value, "shape", None)  # Tensors and arrays: no conversion needed
        if shape is None:
            shape = np.shape(value)
        return tuple(int(d) for d in shape)
    except Exception:  # np.shape of ragged nested lists raises ValueError, for example
        return None


def _format_keys(keys: list[str]) -> str:
    return ", ".join(repr(k) for k in keys)


def check_state_dict_compatible(
    expected: Mapping[str, tuple[int, ...]],
    got: Mapping[str, Any],
    strict: bool = True,
) -> StateDictReport:
    """Check that a state dict fits the expected parameter names and shapes.

    Parameters
    ----------
    expected : mapping of str to tuple of int
        Parameter name to the shape the model needs.
    got : mapping of str to array-like
        The state dict to load (arrays, Tensors or anything with a ``shape``).
    strict : bool, default True
        If true, missing and unexpected keys are errors. If false, they are only reported
        in the return value; shape mismatches are errors either way, since loading them
        could never work.

    Returns
    -------
    StateDictReport
        ``(missing_keys, unexpected_keys)``, both empty when ``strict`` is true.

    Raises
    ------
    StateDictMismatchError
        A :class:`CheckpointError` and :class:`KeyError` whose message lists missing keys,
        unexpected keys and shape mismatches (name, expected shape, found shape).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.io import check_state_dict_compatible
    >>> expected = {"fc.weight": (2, 3), "fc.bias": (2,)}
    >>> check_state_dict_compatible(expected, {"fc.weight": np.zeros((2, 3)),
    ...                                        "fc.bias": np.zeros(2)})
    StateDictReport(missing_keys=[], unexpected_keys=[])
    >>> try:
    ...     check_state_dict_compatible(expected, {"fc.weight": np.zeros((3, 2)), "x": 1.0})
    ... except KeyError as err:
    ...     print(err)
    state dict does not match the expected parameters:
      missing keys (1): 'fc.bias'
      unexpected keys (1): 'x'
      shape mismatches (1):
        'fc.weight': expected shape (2, 3), found (3, 2)
    """
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    mismatches: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    shapeless: list[str] = []
    for name, shape in expected.items():
        if name in got:
            want = tuple(int(d) for d in shape)
            found = _shape_of(got[name])
            if found is None:
                shapeless.append(name)
            elif want != found:
                mismatches.append((name, want, found))

    report_missing = missing if strict else []
    report_unexpected = unexpected if strict else []
    if report_missing or report_unexpected or mismatches or shapeless:
        lines = ["state dict does not match the expected parameters:"]
        if report_missing:
            lines.append(f"  missing keys ({len(missing)}): {_format_keys(missing)}")
        if report_unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {_format_keys(unexpected)}")
        if mismatches:
            lines.append(f"  shape mismatches ({len(mismatches)}):")
            lines.extend(
                f"    {name!r}: expected shape {want}, found {found}"
                for name, want, found in mismatches
            )
        if shapeless:
            lines.append(
                f"  values that are not arrays ({len(shapeless)}): {_format_keys(shapeless)}"
            )
        raise StateDictMismatchError("\n".join(lines), missing, unexpected, mismatches)
    return StateDictReport(missing_keys=missing, unexpected_keys=unexpected)
