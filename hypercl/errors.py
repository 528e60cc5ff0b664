"""The errors a user can cause, each printed as one line ``hypercl: <kind>: <message>``.

Every message says what is wrong and how to fix it; the command exits with ``exit_code``.
"""

from __future__ import annotations


class HyperclError(Exception):
    """Base class: a problem with the user's input, not a bug."""

    kind = "error"
    exit_code = 2


class ConfigError(HyperclError, ValueError):
    """A config value that cannot work; the message names the key and the fix."""

    kind = "config error"


class DataError(HyperclError):
    """Data files missing, unreadable or corrupt; the message says where they were looked for."""

    kind = "data error"


class RunDirError(HyperclError):
    """The run directory cannot be used (not writable, or it holds another config's run)."""

    kind = "run directory error"


class CheckpointError(HyperclError):
    """A checkpoint could not be written (disk full, permissions); the previous one is kept."""

    kind = "checkpoint error"
    exit_code = 4


class NonFiniteLossError(HyperclError):
    """The training loss became NaN or infinite; the message names task and step."""

    kind = "training stopped"
    exit_code = 3
