"""Sweeps: what a job returns to a sweeper, failed trials, and sweep-level checks.

Hydra's sweepers launch one job per point. The basic sweeper (``-m a=1,2``) ignores the
job's return value; an *optimizing* sweeper (Optuna, ``hparams_search=...``) maximizes it.
hypercl's rule for that value (:func:`objective`): it is the final mean accuracy on the
**validation** split (``train.val_fraction > 0``), never a test accuracy. A search without
a validation split is refused before any job starts (:class:`SweepCallback`) and, should a
job get there anyway (``train.val_fraction`` itself swept), by the job (:func:`sweep_job`).

Failed trials. hydra-optuna-sweeper 1.3.0 (with optuna 2.10) records a trial as FAIL when
the job *raised an exception*, and then stops the whole search unless
``hydra.sweeper.max_failure_rate`` allows the failure (the presets set 1.0: never stop).
A job that *returns* NaN is worse: the sweeper's ``study.tell(FAIL, values=[nan])`` raises
and the search dies. And ``sys.exit`` (how hypercl ends on a config error) is not an
``Exception``, so Hydra does not catch it and the search process exits. So under an
optimizing sweeper :func:`sweep_job` turns every failure (exception, non-zero exit, NaN or
missing objective) into a logged :class:`TrialFailed` exception.

Failed jobs of a basic sweep (``-m a=1,2``, any launcher). A job that fails (an error such
as a non-finite loss, a config error, a crash) must not end the sweep: :func:`sweep_job`
logs its one-line message into the job's ``train.log`` (a crash: with the traceback),
records ``job_status.json`` in the job dir (job number, overrides, status, exit code,
message) and returns normally, so the launcher runs the other jobs. When all are done,
:class:`SweepCallback` gathers the records into ``<sweep dir>/sweep_summary.json`` and, if a
job failed, prints one line per failed job and exits with the first failed job's code. A
job stopped by a signal (exit code 128 + N: Ctrl-C, SIGTERM, after its checkpoint) stops
the sweep at once. A single run (no ``-m``) stops with the error's exit code, as before.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from hypercl.errors import ConfigError, HyperclError
from hypercl.launch.callbacks import (
    discard_kept_hydra_outputs,
    lock_run_dir,
    reuse_refusal,
    unlock_run_dir,
)

log = logging.getLogger("hypercl")

OBJECTIVE_KEY = "val_final_acc_mean"  # the results.json entry a sweeper optimizes
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
JOB_STATUS = "job_status.json"  # in each job dir of a basic sweep
SUMMARY = "sweep_summary.json"  # in the sweep dir: every job's status


class TrialFailed(RuntimeError):
    """A job of an optimizing sweep failed; the sweeper records its trial as failed."""


class JobExit(SystemExit):
    """The exit of a job stopped by a :class:`HyperclError`, with its one-line message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code)
        self.message = message


def stop(err: HyperclError) -> NoReturn:
    """Print ``hypercl: <kind>: <message>`` to stderr and exit with the error's code."""
    message = f"hypercl: {err.kind}: {err}"
    print(message, file=sys.stderr)
    raise JobExit(err.exit_code, message)


def exit_status(exit_: SystemExit) -> tuple[int, str]:
    """(exit code, message) of a ``SystemExit``, as the process would end with it.

    The message of ``sys.exit(err.exit_code)`` called while handling a :class:`HyperclError`
    ``err`` (as ``hypercl.train.main`` does) is the line printed for ``err``.
    """
    code = exit_.code
    if code is None:
        return 0, ""
    if not isinstance(code, int):
        return 1, str(code)  # sys.exit("text"): Python prints the text and exits with 1
    message = getattr(exit_, "message", None)
    if message is None and isinstance(exit_.__context__, HyperclError):
        message = f"hypercl: {exit_.__context__.kind}: {exit_.__context__}"
    return code, message or f"exit code {code}"


def objective(results: dict) -> float | None:
    """The value ``main()`` returns to Hydra: the final mean **validation** accuracy.

    None when the run has no validation split (``train.val_fraction=0``). The test
    accuracy (``final_acc_mean``) is never returned, so no sweeper can select on it.
    """
    return results.get(OBJECTIVE_KEY)


def is_optimizing(sweeper_cfg: Any) -> bool:
    """True when the sweeper uses the jobs' return values (anything but the basic sweeper)."""
    target = OmegaConf.select(sweeper_cfg, "_target_") if sweeper_cfg is not None else None
    return target is not None and target != BASIC_SWEEPER


def no_validation_message(val_fraction: float) -> str:
    return (
        f"train.val_fraction={val_fraction!r} is invalid for an optimizing sweep: the sweeper "
        "would select on the test accuracy. Hold out a validation split, e.g. "
        "train.val_fraction=0.1 (the hparams_search presets do)."
    )


def refuse(message: str) -> NoReturn:
    """Stop with a one-line config error and exit code 2 (the same as other config errors)."""
    stop(ConfigError(message))


def optimizing_sweep_overrides() -> str | None:
    """The job's overrides when it runs under an optimizing sweeper, else None."""
    if HydraConfig.initialized() and is_optimizing(HydraConfig.get().sweeper):
        return " ".join(HydraConfig.get().overrides.task)
    return None


def basic_multirun() -> bool:
    """True in a job of a multirun whose sweeper ignores the jobs' return values."""
    if not HydraConfig.initialized():
        return False
    hydra_cfg = HydraConfig.get()
    return hydra_cfg.mode == RunMode.MULTIRUN and not is_optimizing(hydra_cfg.sweeper)


def stopped_by_signal(code: int) -> bool:
    """128 + N: the job stopped on signal N (Ctrl-C, SIGTERM); the whole sweep stops too."""
    return code > 128


def unless_refused(main: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """``main(cfg)`` with the job dir locked, unless it holds a run of another config or
    another process runs a job in it (then it stops)."""
    if not HydraConfig.initialized():
        return main(cfg)
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    err = reuse_refusal(job_dir, cfg, multirun=True) or lock_run_dir(job_dir, multirun=True)
    if err is not None:
        stop(err)
    try:
        return main(cfg)
    finally:
        unlock_run_dir(job_dir)


def record_job(status: str, code: int, message: str | None) -> None:
    """Write the job's ``job_status.json``, which :func:`summarize_sweep` gathers."""
    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    record = {
        "job": hydra_cfg.job.num,
        "dir": str(job_dir),
        "overrides": list(hydra_cfg.overrides.task),
        "status": status,
        "exit_code": code,
        "message": message,
    }
    (job_dir / JOB_STATUS).write_text(json.dumps(record, indent=2) + "\n")


def sweep_job(main: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap the Hydra task function so that a failed job does not stop a sweep.

    Under an optimizing sweeper, a failure of ``main`` (an exception, a non-zero
    ``sys.exit``, a NaN or missing objective) is logged into the job's ``train.log``, with the
    traceback, and raised as an ``Exception``, which Hydra's launchers return to the sweeper
    and the Optuna sweeper records as a FAIL trial. Under the basic sweeper, a failure is
    logged, recorded in ``job_status.json`` and the job returns None (a job stopped by a
    signal still exits). In a single run ``main`` runs unchanged.
    """

    @functools.wraps(main)  # Hydra unwraps __wrapped__ to name the job ("train")
    def job(cfg: DictConfig) -> Any:
        overrides = optimizing_sweep_overrides()
        if overrides is not None:
            return trial(main, cfg, overrides)
        if basic_multirun():
            return basic_job(main, cfg)
        return main(cfg)

    return job


def trial(main: Callable[[DictConfig], Any], cfg: DictConfig, overrides: str) -> float:
    """A job of an optimizing sweep: every failure raises an ``Exception``."""
    val_fraction = OmegaConf.select(cfg, "train.val_fraction", default=0.0)
    if not val_fraction or val_fraction <= 0:
        refuse(no_validation_message(val_fraction))
    try:
        value = unless_refused(main, cfg)
    except SystemExit as err:
        code, message = exit_status(err)
        if code == 0 or stopped_by_signal(code):
            raise
        log.error(
            "trial failed (exit code %s), recorded as failed: %s; %s", code, overrides, message
        )
        raise TrialFailed(f"exit code {code}: {overrides}") from None
    except Exception:
        log.exception("trial failed, recorded as failed: %s", overrides)
        raise
    if value is None or not math.isfinite(value):
        log.error("trial returned %r, recorded as failed: %s", value, overrides)
        raise TrialFailed(f"objective {value!r}: {overrides}")
    return value


def basic_job(main: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """A job of a basic sweep: a failure is logged and recorded, and the job returns None."""
    try:
        value = unless_refused(main, cfg)
    except SystemExit as err:
        code, message = exit_status(err)
        if stopped_by_signal(code):
            record_job("stopped", code, message)
            raise
        if code == 0:
            record_job("completed", 0, None)
            return None
        log.error("job failed (exit code %s): %s", code, message)
        record_job("failed", code, message)
        return None
    except Exception as err:
        log.exception("job failed (exit code 1), crashed:")
        record_job("failed", 1, f"{type(err).__name__}: {err}")
        return None
    record_job("completed", 0, None)
    return value


def sqlite_path(storage: Any) -> Path | None:
    """The database file of an ``sqlite:///...`` storage URL, else None."""
    if isinstance(storage, str) and storage.startswith("sqlite:///"):
        return Path(storage[len("sqlite:///") :])
    return None


def summarize_sweep(sweep_dir: Path) -> None:
    """Gather the jobs' ``job_status.json`` into ``sweep_summary.json``; if a job failed,
    print one line per failed job and exit with the first failed job's code."""
    records = sorted(
        (json.loads(path.read_text()) for path in sweep_dir.rglob(JOB_STATUS)),
        key=lambda record: record["job"],
    )
    failed = [record for record in records if record["status"] != "completed"]
    summary = {"jobs": len(records), "failed": len(failed), "job_status": records}
    path = sweep_dir / SUMMARY
    path.write_text(json.dumps(summary, indent=2) + "\n")
    if not failed:
        log.info("sweep: all %d jobs completed; summary in %s", len(records), path)
        return
    for record in failed:
        print(
            f"hypercl: sweep: job {record['job']} ({' '.join(record['overrides'])}) failed "
            f"with exit code {record['exit_code']}: {record['message']}",
            file=sys.stderr,
        )
    print(
        f"hypercl: sweep: {len(failed)} of {len(records)} jobs failed, the others ran to "
        f"the end; summary in {path}",
        file=sys.stderr,
    )
    sys.exit(failed[0]["exit_code"])


class SweepCallback(Callback):
    """Checks before a multirun starts, and its summary after (``conf/config.yaml``).

    An optimizing sweep needs a validation split (else it would tune on test data), and an
    sqlite storage needs its directory to exist before Optuna opens it. A basic sweep ends
    with ``sweep_summary.json`` and a non-zero exit code if a job failed.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweeper = config.hydra.sweeper
        if not is_optimizing(sweeper):
            sweep_dir = Path(str(config.hydra.sweep.dir))
            for path in sweep_dir.rglob(JOB_STATUS):  # of an earlier invocation
                path.unlink()
            return
        val_fraction = OmegaConf.select(config, "train.val_fraction", default=0.0)
        params = OmegaConf.select(sweeper, "params") or {}
        if (not val_fraction or val_fraction <= 0) and "train.val_fraction" not in params:
            refuse(no_validation_message(val_fraction))
        db = sqlite_path(OmegaConf.select(sweeper, "storage"))
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
            log.info("Optuna study %r in %s", OmegaConf.select(sweeper, "study_name"), db)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        discard_kept_hydra_outputs(config)  # RunDirGuard's, as this may exit before it ends
        if not is_optimizing(config.hydra.sweeper):
            summarize_sweep(Path(str(config.hydra.sweep.dir)))


def sweep_group(name: str) -> str:
    """Default W&B group: the experiment name, plus the sweep directory's name in a multirun.

    So the jobs of one sweep share a group and two sweeps of one experiment do not.
    """
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode == RunMode.MULTIRUN:
            return f"{name}-{Path(hydra_cfg.sweep.dir).name}"
    return name


def job_context() -> dict:
    """The Hydra job's command-line overrides and sweep position, for the W&B run config."""
    if not HydraConfig.initialized():
        return {}
    hydra_cfg = HydraConfig.get()
    context: dict[str, Any] = {"overrides": list(hydra_cfg.overrides.task)}
    if hydra_cfg.mode == RunMode.MULTIRUN:
        context["sweep"] = {
            "dir": str(Path(hydra_cfg.sweep.dir).resolve()),
            "job_num": hydra_cfg.job.num,
            "sweeper": OmegaConf.select(hydra_cfg.sweeper, "_target_"),
        }
    return context


if not OmegaConf.has_resolver("sweep_group"):
    OmegaConf.register_new_resolver("sweep_group", sweep_group)
