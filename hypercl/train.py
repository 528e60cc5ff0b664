"""Command-line entry point: ``python -m hypercl.train [overrides]`` / ``hypercl-train``.

Data flows one way: config -> benchmark -> method -> the experiment loop
(:mod:`hypercl.experiment`) -> metrics -> logger and results files. This module is the
Hydra job around it: validate the config and the overrides typed, run, or report that the
run already finished.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from hypercl.config import Config, validate
from hypercl.environment import (
    git_commit,
    keep_freed_memory,
    seed_everything,
    silence_known_warnings,
)
from hypercl.errors import HyperclError
from hypercl.experiment import run
from hypercl.launch.sweeps import objective, sweep_job
from hypercl.overrides import check_overrides

__all__ = ["CONF_DIR", "git_commit", "keep_freed_memory", "main", "run", "seed_everything"]

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")  # absolute: console script too


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@sweep_job  # in a sweep, a failed job is a failed trial / a recorded job, not the sweep's end
def main(cfg: DictConfig) -> float | None:
    """Hydra job: validate the config, then run, resume from a checkpoint, or report that
    the run already finished; return the final mean *validation* accuracy.

    The return value is what a sweeper optimizes (:func:`hypercl.launch.sweeps.objective`): None
    without a validation split, never the test accuracy. A user error
    (:class:`HyperclError`) prints one line and exits with its code.
    """
    silence_known_warnings()  # e.g. Avalanche's "no loggers" (the loop logs)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        config: Config = OmegaConf.to_object(cfg)
        validate(config)
        check_overrides(config, HydraConfig.get().overrides.task)
        finished = run_dir / "results.json"
        if finished.exists():  # the same config: RunDirGuard refused any other
            print(f"hypercl: this run already finished; its results are in {finished}")
            return objective(json.loads(finished.read_text()))
        resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(resolved))
        results = run(config, run_dir, resolved)
    except HyperclError as err:
        print(f"hypercl: {err.kind}: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    return objective(results)  # validation accuracy, never test (hypercl.launch.sweeps)


if __name__ == "__main__":
    main()
