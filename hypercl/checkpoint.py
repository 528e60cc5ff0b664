"""Checkpoints: everything a run needs to go on exactly where it stopped.

A checkpoint is one ``torch.save`` file, written to a temporary name and renamed into place,
so a crash while writing leaves the previous checkpoint intact. It holds the learner's state
(hypernetwork, optimizer, regularizer snapshot, batch-norm statistics, batch order), the
random states of python, numpy and torch, the progress (task, step) and the metrics so far.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hypercl.errors import CheckpointError

CHECKPOINT = "checkpoint.pt"

# Keys that may change between a run and its resumption without changing what it computes.
RESUMABLE_KEYS = (
    "logger",
    "num_threads",
    "device",
    "data_dir",
    "data_download",
    "train.log_every",
    "train.checkpoint_every",
    "train.cuda_graphs",
)


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """The random states of python, numpy, torch (CPU and CUDA) and ``generator``."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "generator": generator.get_state(),
    }


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["generator"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename).

    If writing fails (disk full, quota, permissions), the temporary file is removed, the
    previous checkpoint stays as it was, and :class:`CheckpointError` says so.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        tmp.unlink(missing_ok=True)
        kept = f"the previous checkpoint {path} is intact" if path.exists() else "none kept"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"could not write the checkpoint {path} ({reason}); {kept}. Free disk space "
            "(df -h) or fix the directory's permissions, then re-run the same command to "
            "resume."
        ) from err


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The state saved at ``path`` (tensors on the CPU), or None if there is none."""
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)  # our own file


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_differences(old: dict, new: dict) -> list[str]:
    """``key: old -> new`` for every setting that differs, except :data:`RESUMABLE_KEYS`."""
    a, b = _flatten(old), _flatten(new)

    def resumable(key: str) -> bool:
        return any(key == k or key.startswith(k + ".") for k in RESUMABLE_KEYS)

    return [
        f"{key}: {a.get(key)!r} -> {b.get(key)!r}"
        for key in sorted(a.keys() | b.keys())
        if not resumable(key) and a.get(key) != b.get(key)
    ]
