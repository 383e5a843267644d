"""Safe, pickle-free checkpoints.

A checkpoint is a single zip archive written with :func:`numpy.savez`. Every array leaf of the
saved state lives in its own ``.npy`` entry under a generated name (``array_0``, ``array_1``,
...), and one more entry, ``__chainrule_checkpoint__``, holds a UTF-8 JSON document (stored as
a 1-d ``uint8`` array) that records

* the format name (``"chainrule-checkpoint"``) and format version (``1``),
* the tree structure (dicts, lists, tuples) and the type of every non-array leaf,
* each array's dtype, shape and the SHA-256 of its bytes.

Loading never unpickles anything (``np.load(..., allow_pickle=False)``), checks the whole
archive against the JSON document and only then builds the result, so a damaged file raises
:class:`CheckpointError` instead of returning a partly loaded state.

Why not pickle? Unpickling runs arbitrary code chosen by whoever wrote the file, so a
checkpoint downloaded from elsewhere would be a program, not data.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = [
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

_PathLike = str | os.PathLike


class CheckpointError(Exception):
    """Raised when a checkpoint cannot be saved or loaded safely.

    Covers missing or unreadable files, archives that are not checkpoints, truncated or
    corrupted data, unsupported format versions and state that cannot be stored without
    pickle (for example object-dtype arrays).
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

    def encode(self, obj: Any, where: str) -> dict[str, Any]:
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
            return self._encode_container(obj, where)
        raise CheckpointError(
            f"cannot save {where}: unsupported type {type(obj).__module__}."
            f"{type(obj).__qualname__}; leaves must be arrays (or objects with __array__), "
            "int, float, bool, str or None, inside dicts, lists and tuples"
        )

    def _encode_container(self, obj: Any, where: str) -> dict[str, Any]:
        if id(obj) in self._active:
            raise CheckpointError(f"cannot save {where}: the state contains itself (a cycle)")
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
                    items.append([k, self.encode(v, _child_path(where, k))])
                return {"type": "dict", "items": items}
            kind = "tuple" if isinstance(obj, tuple) else "list"
            children = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
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


def save(state: Any, path: _PathLike) -> None:
    """Save a nested state to ``path`` as a pickle-free checkpoint, atomically.

    Parameters
    ----------
    state : object
        Nested dicts (str keys), lists and tuples whose leaves are NumPy arrays, NumPy
        scalars, objects with ``__array__`` (such as chainrule Tensors, which are stored as
        their array value), ``int``, ``float``, ``bool``, ``str`` or ``None``.
    path : str or os.PathLike
        Target file. Written exactly as given: no ``.npz`` suffix is added.

    Raises
    ------
    CheckpointError
        If the state holds something that cannot be stored without pickle: object-dtype
        arrays, unsupported leaf types, non-str dict keys or a reference cycle. Nothing is
        written in that case.
    OSError
        If the file cannot be written (for example the folder does not exist). A previous
        file at ``path`` is then left untouched and no temporary file remains.

    Notes
    -----
    The archive is first written to a temporary file in the same folder, flushed and
    fsync'ed, then renamed over ``path`` with :func:`os.replace`, so readers see either the
    old checkpoint or the complete new one, never a partial file. Dict subclasses come back
    as ``dict`` and tuple subclasses (named tuples) as ``tuple``.

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
    meta_bytes = json.dumps(meta, allow_nan=False, separators=(",", ":")).encode("utf-8")
    entries: dict[str, np.ndarray] = dict(encoder.arrays)
    entries[_META_KEY] = np.frombuffer(meta_bytes, dtype=np.uint8)

    folder = os.path.dirname(os.path.abspath(target))
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)  # keep an existing file's permissions
    except OSError:
        mode = _default_file_mode()

    # Same folder as the target, so os.replace is a rename within one file system (atomic).
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            # Passing a file object stops numpy from appending ".npz" to the name.
            np.savez(fh, **entries)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0o600
        os.replace(tmp, target)
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


class _Decoder:
    """Validates a node tree from the JSON document and rebuilds the state from it."""

    def __init__(self, specs: dict[str, Any], origin: str) -> None:
        self.specs = specs
        self.origin = origin
        self.used: dict[str, str] = {}  # array entry -> tree path, filled by check()

    def _bad(self, where: str, why: str) -> CheckpointError:
        return CheckpointError(f"{self.origin}: malformed checkpoint metadata at {where}: {why}")

    def check(self, node: Any, where: str) -> None:
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
            if not ok:
                raise self._bad(where, "float leaf without a float value")
        elif kind == "str":
            if not isinstance(value, str):
                raise self._bad(where, "str leaf without a string value")
        elif kind in ("array", "numpy_scalar"):
            key = node.get("key")
            if not isinstance(key, str) or key not in self.specs:
                raise self._bad(where, f"array leaf refers to unknown entry {key!r}")
            if key in self.used:
                raise self._bad(where, f"entry {key!r} is used twice")
            if kind == "numpy_scalar" and self.specs[key]["shape"] != []:
                raise self._bad(where, f"NumPy scalar entry {key!r} is not 0-d")
            self.used[key] = where
        elif kind == "dict":
            items = node.get("items")
            if not isinstance(items, list):
                raise self._bad(where, "dict without an 'items' list")
            seen: set[str] = set()
            for item in items:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise self._bad(where, "dict item is not a [str key, node] pair")
                if item[0] in seen:
                    raise self._bad(where, f"duplicate dict key {item[0]!r}")
                seen.add(item[0])
                self.check(item[1], _child_path(where, item[0]))
        elif kind in ("list", "tuple"):
            items = node.get("items")
            if not isinstance(items, list):
                raise self._bad(where, f"{kind} without an 'items' list")
            for i, child in enumerate(items):
                self.check(child, f"{where}[{i}]")
        else:
            raise self._bad(where, f"unknown node type {kind!r}")

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


def _check_specs(specs: Any, origin: str) -> dict[str, dict[str, Any]]:
    if not isinstance(specs, dict):
        raise CheckpointError(f"{origin}: malformed checkpoint metadata: 'arrays' is not a table")
    for key, spec in specs.items():
        ok = (
            isinstance(spec, dict)
            and isinstance(spec.get("dtype"), str)
            and isinstance(spec.get("shape"), list)
            and all(_is_int(d) and d >= 0 for d in spec["shape"])
            and isinstance(spec.get("sha256"), str)
        )
        if not ok or key == _META_KEY:
            raise CheckpointError(
                f"{origin}: malformed checkpoint metadata: bad description of entry {key!r}"
            )
    return specs


def _read_meta(npz: Any, origin: str) -> dict[str, Any]:
    if _META_KEY not in npz.files:
        raise CheckpointError(
            f"{origin}: not a chainrule checkpoint (an .npz archive without the "
            f"'{_META_KEY}' metadata entry)"
        )
    try:
        raw = npz[_META_KEY]
    except Exception as exc:  # zipfile / numpy raise many types for damaged entries
        raise CheckpointError(
            f"{origin}: checkpoint metadata entry is corrupted or truncated "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{origin}: checkpoint metadata entry is not a 1-d uint8 array")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{origin}: checkpoint metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{origin}: checkpoint metadata is not a JSON object")
    return meta


def _check_header(meta: dict[str, Any], origin: str) -> None:
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{origin}: wrong format name {meta.get('format')!r}; expected {FORMAT_NAME!r}"
        )
    version = meta.get("version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{origin}: invalid checkpoint format version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{origin}: checkpoint format version {version} is newer than this library "
            f"supports; this version of chainrule reads format version {FORMAT_VERSION}. "
            "Upgrade chainrule to load it."
        )


def _read_array(npz: Any, key: str, where: str, spec: dict[str, Any], origin: str) -> np.ndarray:
    label = f"entry {key!r} ({where})"
    try:
        arr = npz[key]
    except Exception as exc:  # e.g. zipfile.BadZipFile("Bad CRC-32 ..."), ValueError, EOFError
        raise CheckpointError(
            f"{origin}: array {label} is corrupted or truncated ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(arr, np.ndarray):
        raise CheckpointError(f"{origin}: array {label} is not a .npy array")
    if arr.dtype.str != spec["dtype"] or list(arr.shape) != spec["shape"]:
        raise CheckpointError(
            f"{origin}: array {label} has dtype {arr.dtype.str} and shape {arr.shape}; the "
            f"metadata records dtype {spec['dtype']} and shape {tuple(spec['shape'])}"
        )
    if _digest(arr) != spec["sha256"]:
        raise CheckpointError(f"{origin}: array {label} is corrupted (SHA-256 checksum mismatch)")
    return arr


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


def load(
    path: _PathLike,
    as_tensor: Callable[[np.ndarray], Any] | None = None,
) -> Any:
    """Load a checkpoint written by :func:`save`, verifying it completely first.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.
    as_tensor : callable, optional
        Applied to every array leaf (not to NumPy scalars) after verification, for example a
        Tensor constructor. By default array leaves are returned as NumPy arrays.

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
        wrong format name or a newer format version, or has missing or extra entries.
        Nothing is returned unless every check passed.

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
    """
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
            npz = np.load(fh, allow_pickle=False)
        except Exception as exc:  # BadZipFile, EOFError, OSError, ValueError, ...
            raise CheckpointError(
                f"{origin}: cannot read the zip archive; the file is truncated or corrupted "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        with npz:
            return _load_archive(npz, origin, as_tensor)


def _load_archive(npz: Any, origin: str, as_tensor: Callable[[np.ndarray], Any] | None) -> Any:
    meta = _read_meta(npz, origin)
    # Format and version first: a newer version may lay out everything else differently.
    _check_header(meta, origin)
    specs = _check_specs(meta.get("arrays"), origin)
    decoder = _Decoder(specs, origin)
    try:
        decoder.check(meta.get("tree"), "state")
    except RecursionError as exc:
        raise CheckpointError(f"{origin}: checkpoint metadata is nested too deeply") from exc

    unused = sorted(set(specs) - set(decoder.used))
    if unused:
        raise CheckpointError(
            f"{origin}: malformed checkpoint metadata: entries {unused} described but unused"
        )
    present = set(npz.files) - {_META_KEY}
    missing = sorted(set(specs) - present)
    extra = sorted(present - set(specs))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing entries {missing}")
        if extra:
            parts.append(f"unexpected extra entries {extra}")
        raise CheckpointError(f"{origin}: archive does not match its metadata: {'; '.join(parts)}")

    # Read and verify every array before building anything, so nothing half-loads.
    arrays = {
        key: _read_array(npz, key, where, specs[key], origin) for key, where in decoder.used.items()
    }
    return decoder.build(meta["tree"], arrays, as_tensor)


# --------------------------------------------------------------------------------------------
# state-dict compatibility
# --------------------------------------------------------------------------------------------


def _shape_of(value: Any) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)  # Tensors and arrays: no conversion needed
    if shape is None:
        shape = np.shape(value)
    return tuple(int(d) for d in shape)


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
    for name, shape in expected.items():
        if name in got:
            want = tuple(int(d) for d in shape)
            found = _shape_of(got[name])
            if want != found:
                mismatches.append((name, want, found))

    report_missing = missing if strict else []
    report_unexpected = unexpected if strict else []
    if report_missing or report_unexpected or mismatches:
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
        raise StateDictMismatchError("\n".join(lines), missing, unexpected, mismatches)
    return StateDictReport(missing_keys=missing, unexpected_keys=unexpected)
