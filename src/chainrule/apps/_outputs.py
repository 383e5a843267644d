"""Writing output folders and files all at once, or not at all.

A training job writes several files that only make sense together (a model folder's
weights, vocabulary and configuration carry each other's checksums). Writing them one by
one into the destination means that a failure half-way (a full disk, Ctrl-C, a bug) leaves
a folder that mixes new and old files and cannot be loaded. :func:`atomic_folder` instead
hands out a fresh temporary folder *next to* the destination (same file system, so a
rename moves it), and only when the block finished without an exception is the old folder
moved aside and the new one renamed into place. On any failure the temporary folder is
removed, together with parent folders created for it, and the destination is untouched.

Entering the block is also the up-front check that the destination is writable: callers
run their (long) training inside it, so a bad ``--out`` fails in milliseconds, not after
the training.

Examples
--------
>>> import os, tempfile
>>> root = tempfile.mkdtemp()
>>> target = os.path.join(root, "runs", "model")
>>> with atomic_folder(target, {"a.txt"}) as tmp:
...     with open(os.path.join(tmp, "a.txt"), "w") as f:
...         _ = f.write("new")
...     os.path.exists(target)          # nothing visible until the block succeeds
False
>>> sorted(os.listdir(target))
['a.txt']
>>> try:
...     with atomic_folder(target, {"a.txt"}) as tmp:
...         raise RuntimeError("disk full")
... except RuntimeError:
...     pass
>>> open(os.path.join(target, "a.txt")).read(), sorted(os.listdir(os.path.dirname(target)))
('new', ['model'])
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Collection, Iterator

from chainrule.core.errors import ChainruleError

__all__ = ["OutputError", "atomic_file", "atomic_folder", "check_output_file"]


class OutputError(ChainruleError, OSError):
    """An output folder or file cannot be written where it was asked for."""


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _resolve(path: str | os.PathLike) -> str:
    path = os.path.abspath(os.fspath(path))
    # A symlink to a folder: replace the folder it points to, not the link.
    return os.path.realpath(path) if os.path.islink(path) else path


def _make_parents(folder: str, what: str) -> list[str]:
    """Create ``folder`` and missing ancestors; returns those created (deepest last)."""
    missing: list[str] = []
    cur = folder
    while not os.path.exists(cur):
        missing.append(cur)
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    if os.path.exists(cur) and not os.path.isdir(cur):
        raise OutputError(f"cannot write {what}: {cur!r} is a file, not a folder")
    created: list[str] = []
    try:
        for d in reversed(missing):
            os.mkdir(d)
            created.append(d)
    except OSError as exc:
        _remove_dirs(created)
        raise OutputError(f"cannot create the folder {d!r} for {what}: {_describe(exc)}") from None
    return created


def _remove_dirs(created: list[str]) -> None:
    for d in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(d)  # only if still empty


def _fresh_name(parent: str, base: str, kind: str) -> str:
    return os.path.join(parent, f".{base}.{kind}-{secrets.token_hex(4)}")


def _fsync_tree(folder: str) -> None:
    # Flush file contents before the rename publishes them: after a power cut the folder
    # is then either the old one or the complete new one.
    for name in os.listdir(folder):
        p = os.path.join(folder, name)
        if os.path.isfile(p):
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_existing(target: str, allowed: Collection[str], what: str) -> None:
    if not os.path.lexists(target):
        return
    if not os.path.isdir(target):
        raise OutputError(f"cannot write {what} to {target!r}: it exists and is not a folder")
    try:
        entries = os.listdir(target)
    except OSError as exc:
        raise OutputError(f"cannot write {what} to {target!r}: {_describe(exc)}") from None
    foreign = sorted(e for e in entries if e not in allowed)
    if foreign:
        # Replacing the folder would delete these: refuse rather than lose someone's files.
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise OutputError(
            f"cannot write {what} to {target!r}: the folder exists and holds "
            f"files that are not part of {what} ({shown}); choose another "
            f"folder or remove them"
        )


@contextlib.contextmanager
def atomic_folder(
    path: str | os.PathLike, allowed: Collection[str], what: str = "the output folder"
) -> Iterator[str]:
    """Yield a temporary folder that replaces ``path`` when the block succeeds.

    Parameters
    ----------
    path : path
        The destination folder. It may exist if it holds only names in ``allowed`` (a
        previous run's output, or nothing); missing parent folders are created.
    allowed : collection of str
        The file names such a folder holds. An existing folder with anything else in it is
        refused instead of being replaced.
    what : str
        How error messages name the folder ("the model folder").

    Raises
    ------
    OutputError
        On entry, when the destination cannot be written (a file in the way, no
        permission, a foreign folder); on exit, when the rename fails. The destination is
        unchanged in both cases, and on any exception raised inside the block.
    """
    target = _resolve(path)
    _check_existing(target, allowed, what)
    parent, base = os.path.split(target)
    created = _make_parents(parent, what)
    tmp = ""
    try:
        for _ in range(100):
            tmp = _fresh_name(parent, base, "tmp")
            try:
                os.mkdir(tmp)
                break
            except FileExistsError:
                continue
    except OSError as exc:
        _remove_dirs(created)
        raise OutputError(f"cannot write {what} in {parent!r}: {_describe(exc)}") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_dirs(created)
        raise
    try:
        _fsync_tree(tmp)
        _check_existing(target, allowed, what)  # it may have changed while we worked
        backup = None
        if os.path.lexists(target):
            backup = _fresh_name(parent, base, "old")
            os.rename(target, backup)
        try:
            os.rename(tmp, target)
        except OSError:
            if backup is not None:
                os.rename(backup, target)
            raise
        _fsync_dir(parent)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_dirs(created)
        if isinstance(exc, OSError) and not isinstance(exc, ChainruleError):
            raise OutputError(f"cannot write {what} to {target!r}: {_describe(exc)}") from exc
        raise


def check_output_file(path: str | os.PathLike, what: str = "the output file") -> str:
    """Raise :class:`OutputError` unless a file can be created at ``path``; returns it.

    Examples
    --------
    >>> import tempfile
    >>> check_output_file(tempfile.mkdtemp(), "--output")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.apps._outputs.OutputError: cannot write --output to '...': it is a folder
    """
    target = os.path.abspath(os.fspath(path))
    if os.path.isdir(target):
        raise OutputError(f"cannot write {what} to {target!r}: it is a folder")
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise OutputError(
            f"cannot write {what} to {target!r}: the folder {parent!r} does not exist"
        )
    return target


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, what: str = "the output file") -> Iterator[str]:
    """Yield a temporary path that replaces the file ``path`` when the block succeeds.

    The temporary file is created on entry (so an unwritable destination fails before the
    work), in the destination's folder (so :func:`os.replace` is atomic), and removed on
    any failure; an existing ``path`` is untouched until the end.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "pred.txt")
    >>> with atomic_file(p) as tmp:
    ...     with open(tmp, "w") as f:
    ...         _ = f.write("EU B-ORG B-ORG\\n")
    >>> open(p).read()
    'EU B-ORG B-ORG\\n'
    """
    target = check_output_file(path, what)
    parent, base = os.path.split(target)
    tmp = _fresh_name(parent, base, "tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {what} to {target!r}: {_describe(exc)}") from None
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise OutputError(f"cannot write {what} to {target!r}: {_describe(exc)}") from exc
