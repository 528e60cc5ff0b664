"""Hydra callbacks: checks of the output directory before Hydra writes anything into it.

* The run (or sweep) directory must be creatable and writable; else one line says so.
* A job directory that already holds a run (a checkpoint or results) may only be reused by
  the same config: that resumes it, or reports it finished. Another config would mix two
  runs' files, so it is refused (:func:`reuse_refusal`): for a single run before Hydra
  writes anything; for a job of a multirun when the job starts, as that job's failure
  (:func:`hypercl.launch.sweeps.sweep_job`), and the sweep's other jobs go on.
* Only one process at a time may run a job in a directory: it holds an exclusive lock on
  ``<dir>/.lock`` (``flock``, released when the job ends or the process dies, so never
  stale). A second process, e.g. the same command started twice, is refused
  (:func:`lock_run_dir`) instead of writing the same checkpoint and results files.
* Hydra's own copies of the config (``.hydra/*.yaml``) keep describing the run beside them:
  a re-run of a finished run (``results.json``), which may differ in the settings that do
  not change results (:data:`hypercl.checkpoint.RESUMABLE_KEYS`), and a refused re-run
  leave them byte-identical. Hydra writes them before any job callback, so for a single
  run :class:`RunDirGuard` switches them off (``hydra.output_subdir``) before the job; for
  a multirun it copies those of every job directory that holds a run into
  ``<sweep dir>/.hydra_kept/`` when the sweep starts and puts them back when the job starts.

The errors print ``hypercl: run directory error: ...`` and exit with code 2.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from pathlib import Path
from typing import IO, Any

import yaml
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from hypercl.checkpoint import CHECKPOINT, config_differences
from hypercl.errors import RunDirError

RESULTS = "results.json"  # a run dir holding it is finished
KEPT = ".hydra_kept"  # in a sweep dir: job dirs' .hydra/ copied when the sweep started
LOCK = ".lock"  # in a job dir: locked by the process that runs the job
_held: dict[Path, IO] = {}  # this process's locks, by directory
# Config keys added after runs had started, each with the value that gives the code before
# it: a saved config.yaml without the key is read as holding that value, so a run begun
# before the key existed still resumes.
ADDED_KEYS: dict[str, object] = {"method.lookahead_adam": "torch"}


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


def holds_run(run_dir: Path) -> bool:
    return (run_dir / CHECKPOINT).exists() or (run_dir / RESULTS).exists()


def with_added_keys(saved: dict) -> dict:
    """``saved`` (a config.yaml's tree) with each :data:`ADDED_KEYS` entry it lacks set to
    the value that the code before the key had."""
    for dotted, value in ADDED_KEYS.items():
        *parents, leaf = dotted.split(".")
        node = saved
        for key in parents:
            node = node.setdefault(key, {})
        node.setdefault(leaf, value)
    return saved


def reuse_refusal(run_dir: Path, config: DictConfig, multirun: bool = False) -> RunDirError | None:
    """The error for ``run_dir`` if it holds a run (checkpoint or results) of another config."""
    saved = run_dir / "config.yaml"
    if not (holds_run(run_dir) and saved.exists()):
        return None
    diffs = config_differences(
        with_added_keys(yaml.safe_load(saved.read_text())), job_config(config)
    )
    if not diffs:
        return None
    shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
    fix = (
        "Re-run the sweep with its original settings (the same values in the same order) to "
        "resume it, or choose a new hydra.sweep.dir."
        if multirun
        else "Re-run with its original settings to resume it, or choose a new hydra.run.dir."
    )
    return RunDirError(f"{run_dir} holds a run with another config ({shown}). {fix}")


def check_reuse(run_dir: Path, config: DictConfig) -> None:
    """Refuse ``run_dir`` (one line, exit 2) if it holds a run of another config."""
    err = reuse_refusal(run_dir, config)
    if err is not None:
        _fail(err)


def lock_run_dir(run_dir: Path, multirun: bool = False) -> RunDirError | None:
    """Lock ``run_dir`` for this process until :func:`unlock_run_dir` or its exit; the
    error if another process holds the lock. The lock file stays empty, so a refused or
    finished run leaves every byte in the directory as it was. On a file system without
    locks (some network mounts) the job runs unlocked."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / LOCK, "a")  # noqa: SIM115 (held until the job ends)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
        return RunDirError(
            f"{run_dir} is in use: another process is running a job in it. Wait for that "
            f"one to end (the same command then resumes it or reports it finished), or "
            f"choose a new {key}."
        )
    except OSError:
        handle.close()
        return None
    _held[run_dir] = handle
    return None


def unlock_run_dir(run_dir: Path) -> None:
    """Release this process's lock on ``run_dir`` (if it holds one)."""
    handle = _held.pop(run_dir, None)
    if handle is not None:
        handle.close()


def keep_hydra_outputs(sweep_dir: Path, subdir: str | None) -> None:
    """Copy ``<job>/<subdir>/`` of every job dir under ``sweep_dir`` that holds a run to
    ``<sweep_dir>/.hydra_kept/<job>/`` (file times kept), before Hydra rewrites them."""
    kept = sweep_dir / KEPT
    shutil.rmtree(kept, ignore_errors=True)  # left by a sweep that died: the jobs did not start
    if subdir is None or not sweep_dir.is_dir():
        return
    job_dirs = {p.parent for name in (CHECKPOINT, RESULTS) for p in sweep_dir.rglob(name)}
    for job_dir in sorted(job_dirs):
        if (job_dir / subdir).is_dir():
            shutil.copytree(job_dir / subdir, kept / job_dir.relative_to(sweep_dir))


def restore_hydra_outputs(config: DictConfig) -> None:
    """At a multirun job's start: put back the ``.hydra/`` files Hydra has just rewritten if
    the job dir holds a finished run or another config's run (a resumed run keeps the new)."""
    job_dir = Path(config.hydra.runtime.output_dir)
    subdir = config.hydra.output_subdir
    try:
        kept = Path(os.path.abspath(config.hydra.sweep.dir)) / KEPT
        kept = kept / job_dir.relative_to(kept.parent)
    except ValueError:  # a job dir outside the sweep dir: nothing was kept
        return
    if subdir is None or not kept.is_dir():
        return
    if (job_dir / RESULTS).exists() or reuse_refusal(job_dir, config) is not None:
        target = job_dir / subdir
        for path in target.iterdir():
            if path.is_file() and not (kept / path.name).exists():
                path.unlink()  # written by Hydra, absent before
        for path in kept.iterdir():
            os.replace(path, target / path.name)
    shutil.rmtree(kept)


def discard_kept_hydra_outputs(config: DictConfig) -> None:
    """After a sweep: the copies of job dirs that this sweep did not run."""
    sweep_dir = _resolve_dir(config, "hydra.sweep.dir")
    if sweep_dir is not None:
        shutil.rmtree(sweep_dir / KEPT, ignore_errors=True)


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
    """Refuses an unusable output directory before Hydra creates or writes it, and keeps
    the ``.hydra/`` files of a finished or refused run as they were."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = _resolve_dir(config, "hydra.run.dir")
        _check_writable(run_dir, "hydra.run.dir", "run directory")
        if run_dir is not None:
            check_reuse(run_dir, config)
            err = lock_run_dir(run_dir)
            if err is not None:
                _fail(err)
            if (run_dir / RESULTS).exists():  # finished: Hydra writes no new .hydra/ into it
                with read_write(config.hydra), open_dict(config.hydra):
                    config.hydra.output_subdir = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = _resolve_dir(config, "hydra.sweep.dir")
        _check_writable(sweep_dir, "hydra.sweep.dir", "sweep directory")
        if sweep_dir is not None:
            keep_hydra_outputs(sweep_dir, config.hydra.output_subdir)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        # A refused job fails in hypercl.launch.sweeps.sweep_job, so that the sweep goes on.
        if config.hydra.mode == RunMode.MULTIRUN:
            restore_hydra_outputs(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        discard_kept_hydra_outputs(config)
