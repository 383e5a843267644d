"""Input/output: safe, pickle-free checkpoints.

See :mod:`chainrule.io.checkpoint` for the file format.
"""

from chainrule.io.checkpoint import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_RATIO,
    FORMAT_NAME,
    FORMAT_VERSION,
    CheckpointError,
    StateDictMismatchError,
    StateDictReport,
    check_state_dict_compatible,
    load,
    save,
)

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
