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
missing objective) into a logged :class:`TrialFailed` exception. Outside such a sweep
nothing is changed: a single run or a basic multirun still stops with a non-zero exit code.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("hypercl")

OBJECTIVE_KEY = "val_final_acc_mean"  # the results.json entry a sweeper optimizes
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class TrialFailed(RuntimeError):
    """A job of an optimizing sweep failed; the sweeper records its trial as failed."""


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


def refuse(message: str) -> None:
    """Stop with a one-line config error and exit code 2 (the same as other config errors)."""
    print(f"hypercl: config error: {message}", file=sys.stderr)
    sys.exit(2)


def optimizing_sweep_overrides() -> str | None:
    """The job's overrides when it runs under an optimizing sweeper, else None."""
    if HydraConfig.initialized() and is_optimizing(HydraConfig.get().sweeper):
        return " ".join(HydraConfig.get().overrides.task)
    return None


def sweep_job(main: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap the Hydra task function so that a failed trial does not stop a search.

    Under an optimizing sweeper, a failure of ``main`` (an exception, a non-zero
    ``sys.exit``, a NaN or missing objective) is logged into the job's ``train.log``, with the
    traceback, and raised as an ``Exception``, which Hydra's launchers return to the sweeper
    and the Optuna sweeper records as a FAIL trial. Elsewhere ``main`` runs unchanged.
    """

    @functools.wraps(main)  # Hydra unwraps __wrapped__ to name the job ("train")
    def job(cfg: DictConfig) -> Any:
        overrides = optimizing_sweep_overrides()
        if overrides is None:
            return main(cfg)
        val_fraction = OmegaConf.select(cfg, "train.val_fraction", default=0.0)
        if not val_fraction or val_fraction <= 0:
            refuse(no_validation_message(val_fraction))
        try:
            value = main(cfg)
        except SystemExit as err:
            if err.code in (0, None):
                raise
            log.error("trial failed (exit code %s), recorded as failed: %s", err.code, overrides)
            raise TrialFailed(f"exit code {err.code}: {overrides}") from None
        except Exception:
            log.exception("trial failed, recorded as failed: %s", overrides)
            raise
        if value is None or not math.isfinite(value):
            log.error("trial returned %r, recorded as failed: %s", value, overrides)
            raise TrialFailed(f"objective {value!r}: {overrides}")
        return value

    return job


def sqlite_path(storage: Any) -> Path | None:
    """The database file of an ``sqlite:///...`` storage URL, else None."""
    if isinstance(storage, str) and storage.startswith("sqlite:///"):
        return Path(storage[len("sqlite:///") :])
    return None


class SweepCallback(Callback):
    """Checks before a multirun starts (configured in ``conf/config.yaml``).

    An optimizing sweep needs a validation split (else it would tune on test data), and an
    sqlite storage needs its directory to exist before Optuna opens it.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweeper = config.hydra.sweeper
        if not is_optimizing(sweeper):
            return
        val_fraction = OmegaConf.select(config, "train.val_fraction", default=0.0)
        params = OmegaConf.select(sweeper, "params") or {}
        if (not val_fraction or val_fraction <= 0) and "train.val_fraction" not in params:
            refuse(no_validation_message(val_fraction))
        db = sqlite_path(OmegaConf.select(sweeper, "storage"))
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
            log.info("Optuna study %r in %s", OmegaConf.select(sweeper, "study_name"), db)


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
