"""Hydra callbacks: checks of the output directory before Hydra writes anything into it.

* The run (or sweep) directory must be creatable and writable; else one line says so.
* A job directory that already holds a run (a checkpoint or results) may only be reused by
  the same config: that resumes it, or reports it finished. Another config would mix two
  runs' files, so it is refused: for a single run before Hydra writes anything; for a job
  of a multirun when the job starts (Hydra has then already rewritten its ``.hydra/``).

Both print ``hypercl: run directory error: ...`` and exit with code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from hypercl.checkpoint import CHECKPOINT, config_differences
from hypercl.errors import RunDirError


def _fail(err: RunDirError) -> None:
    print(f"hypercl: {err.kind}: {err}", file=sys.stderr)
    sys.exit(err.exit_code)


def writable_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be created and written as a directory, or None if it can."""
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def job_config(config: DictConfig) -> dict:
    """The job's resolved config without Hydra's own node, as ``config.yaml`` stores it."""
    plain = OmegaConf.to_container(config, resolve=False, enum_to_str=True)
    plain.pop("hydra", None)
    return OmegaConf.to_container(OmegaConf.create(plain), resolve=True)


def check_reuse(run_dir: Path, config: DictConfig) -> None:
    """Refuse ``run_dir`` if it holds a run (checkpoint or results) of another config."""
    saved = run_dir / "config.yaml"
    holds_run = (run_dir / CHECKPOINT).exists() or (run_dir / "results.json").exists()
    if not (holds_run and saved.exists()):
        return
    diffs = config_differences(yaml.safe_load(saved.read_text()), job_config(config))
    if diffs:
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        _fail(
            RunDirError(
                f"{run_dir} holds a run with another config ({shown}). Re-run with its "
                "original settings to resume it, or choose a new hydra.run.dir."
            )
        )


def _resolve_dir(config: DictConfig, key: str) -> Path | None:
    try:
        return Path(str(OmegaConf.select(config, key)))
    except Exception:  # an interpolation only Hydra can resolve later: checked then
        return None


def _check_writable(path: Path | None, key: str, what: str) -> None:
    problem = writable_dir_problem(path) if path is not None else None
    if problem:
        _fail(
            RunDirError(
                f"cannot write the {what} {path}: {problem}. Choose another one with {key}=..."
            )
        )


class RunDirGuard(Callback):
    """Refuses an unusable output directory before Hydra creates or writes it."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = _resolve_dir(config, "hydra.run.dir")
        _check_writable(run_dir, "hydra.run.dir", "run directory")
        if run_dir is not None:
            check_reuse(run_dir, config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_writable(
            _resolve_dir(config, "hydra.sweep.dir"), "hydra.sweep.dir", "sweep directory"
        )

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_reuse(Path(config.hydra.runtime.output_dir), config)
