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
    """A training loss became NaN or infinite; :meth:`of` writes the message (one wording
    for the classifier, the replay VAE and the task-inference net)."""

    kind = "training stopped"
    exit_code = 3

    @classmethod
    def of(
        cls, model: str, task_id: int, step: int, lower: dict[str, object], exact: bool = True
    ) -> NonFiniteLossError:
        """The error for a NaN or infinite loss of ``model``, with a recovery that works.

        Args:
            model: whose loss: ``classifier``, ``VAE`` or ``task-inference net``.
            task_id: the task being trained (0-based; the message counts from 1).
            step: ``exact``: the first step whose loss was not finite; otherwise the step
                at which a check (every ``train.log_every`` steps) found it.
            lower: the config keys to lower, each with its current value (None: not known
                where the check runs).
        """
        when = f"at step {step}" if exact else f"by step {step}"
        keys = [key if value is None else f"{key} (now {value})" for key, value in lower.items()]
        choice = keys[-1] if len(keys) == 1 else f"{', '.join(keys[:-1])} or {keys[-1]}"
        return cls(
            f"the {model}'s loss became NaN or infinite in task {task_id + 1} {when}. Lower "
            f"{choice}, or check the data, and start a new run directory (another "
            "hydra.run.dir, or hydra.sweep.dir for a sweep): the old one keeps the last good "
            "checkpoint, but resuming it with the same config fails the same way."
        )
