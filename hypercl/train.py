"""Command-line entry point: ``python -m hypercl.train [overrides]`` / ``hypercl-train``.

Data flows one way: config -> benchmark -> learner -> metrics -> logger and results files.
"""

from __future__ import annotations

import logging
import os
import platform
import random
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from hypercl.benchmarks import build_benchmark, with_validation
from hypercl.config import HNET_METHODS, Config, ConfigError, Device, Scenario, validate
from hypercl.learner import Heads, build_learner
from hypercl.loggers import build_logger
from hypercl.metrics import hnet_stored_params, param_counts, summarize
from hypercl.results import write_run_outputs

log = logging.getLogger("hypercl")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")  # absolute: console script too


def resolve_device(device: Device) -> torch.device:
    """``auto`` picks CUDA when available, else the CPU."""
    if device == Device.auto:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == Device.cuda and not torch.cuda.is_available():
        raise ConfigError("device='cuda' is invalid: no CUDA device is visible; use device=cpu.")
    return torch.device(device.value)


def package_versions() -> dict[str, str | None]:
    """Versions of python and of the libraries a result depends on."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name, dist in [
        ("torch", "torch"),
        ("avalanche", "avalanche-lib"),
        ("hydra", "hydra-core"),
        ("wandb", "wandb"),
        ("hypercl", "hypercl"),
    ]:
        try:
            found[name] = version(dist)
        except PackageNotFoundError:
            found[name] = None
    return found


CODE_PATHS = ("hypercl", "conf", "scripts", "pyproject.toml")


def git_commit() -> str | None:
    """The commit of the hypercl checkout, or None.

    The suffix ``-dirty`` means uncommitted changes to code or configs (results files that a
    benchmark is writing do not count). ``$HYPERCL_GIT_COMMIT``, if set, is returned as it
    is: for a copy of the checkout that has no git history of its own (a remote machine).
    """
    if os.environ.get("HYPERCL_GIT_COMMIT"):
        return os.environ["HYPERCL_GIT_COMMIT"]
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; returns the CPU generator for data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def run(cfg: Config, run_dir: Path, config_dict: dict | None = None) -> dict:
    """Train on every task of the benchmark in order and write the run's outputs.

    Returns:
        The contents of ``results.json``.
    """
    if cfg.method.name not in HNET_METHODS:  # the baselines, on avalanche-lib
        from hypercl.avalanche_methods import run_avalanche

        return run_avalanche(cfg, run_dir, config_dict)
    started = time.perf_counter()
    commit = git_commit()  # now, not at the end: the checkout may change while we train
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    device = resolve_device(cfg.device)
    generator = seed_everything(cfg.seed)

    data_dir = (
        Path(to_absolute_path(cfg.data_dir)) if HydraConfig.initialized() else Path(cfg.data_dir)
    )
    benchmark = build_benchmark(cfg.benchmark, data_dir)
    benchmark = with_validation(benchmark, cfg.train.val_fraction, cfg.benchmark.data_seed)
    benchmark = benchmark.to(device)
    tasks, num_tasks = benchmark.tasks, benchmark.num_tasks
    # CL2 shares one head; CL1 and CL3 have one head per task (CL3 infers which at test time).
    heads = Heads(1 if cfg.scenario == Scenario.cl2 else num_tasks, benchmark.head_size)
    infer_task = cfg.scenario != Scenario.cl1

    learner = build_learner(
        cfg, benchmark.in_features, heads, num_tasks, generator, device, benchmark.input_shape
    )
    counts = param_counts(learner.hnet, learner.target.num_params)
    log.info(
        "%s: %d tasks, target %d weights, hypernetwork %d (ratio %.3f), device %s",
        cfg.name,
        num_tasks,
        counts["num_params_target"],
        counts["num_params_hnet"],
        counts["compression_ratio"],
        device,
    )

    run_name = f"{cfg.name}-seed{cfg.seed}-{run_dir.name}"
    logger = build_logger(cfg.logger, config_dict or {}, run_dir, run_name)
    acc: list[list[float | None]] = [[None] * num_tasks for _ in range(num_tasks)]
    val_acc = validation_matrix(benchmark)
    task_iters = [learner.num_iters(task) for task in tasks]
    task_infer: list[float | None] = [None] * num_tasks
    train_time = 0.0
    ok = False
    try:
        for t, task in enumerate(tasks):
            iters, offset = task_iters[t], sum(task_iters[:t])
            bar = tqdm(total=iters, desc=f"task {t + 1}/{num_tasks}", disable=None, leave=False)

            def on_step(
                step: int,
                losses: dict[str, torch.Tensor],
                t: int = t,
                bar=bar,
                iters: int = iters,
                offset: int = offset,
            ) -> None:
                bar.update(1)
                if step % cfg.train.log_every == 0 or step == iters:
                    values = {k: v.item() for k, v in losses.items()}
                    bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
                    logger.log_losses(offset + step, t, values)

            tic = time.perf_counter()
            learner.train_task(t, task, on_step)
            train_time += time.perf_counter() - tic
            bar.close()
            for j in range(t + 1):
                acc[t][j], task_infer[j] = learner.evaluate(j, tasks[j], t + 1, infer_task)
                if val_acc is not None:
                    val_acc[t][j] = learner.evaluate(j, tasks[j].validation(), t + 1, infer_task)[0]
            accs = [a for a in acc[t] if a is not None]
            log.info(
                "after task %d/%d: accuracy %s (mean %.2f)",
                t + 1,
                num_tasks,
                " ".join(f"{a:.2f}" for a in accs),
                sum(accs) / len(accs),
            )
            logger.log_task(offset + iters, t, accs)

        results = {
            "benchmark": benchmark.name,
            "scenario": cfg.scenario.value,
            "method": cfg.method.name.value,
            "seed": cfg.seed,
            "iters_per_task": cfg.train.iters_per_task,
            "task_iters": task_iters,
            "acc_matrix": acc,
            **summarize(acc),
            "task_infer_acc": task_infer if infer_task else None,
            "task_infer_acc_mean": sum(task_infer) / num_tasks if infer_task else None,
            **counts,
            **hnet_stored_params(learner.hnet, learner.target.buffer_numel, cfg.target.per_task_bn),
            "train_time_s": train_time,
            "wall_time_s": time.perf_counter() - started,
            "device": str(device),
            "num_threads": torch.get_num_threads(),
            "versions": package_versions(),
            "git_commit": commit,
            **validation_summary(val_acc),
        }
        paths = write_run_outputs(run_dir, results, f"{cfg.name} (seed {cfg.seed})")
        logger.log_results(results, paths["matrix_png"])
        ok = True
    finally:
        logger.finish(ok)
    log.info(
        "final accuracy %.2f (during %.2f) in %.0f s",
        results["final_acc_mean"],
        results["during_acc_mean"],
        results["wall_time_s"],
    )
    print(f"Results written to {run_dir}: results.json, accuracy_matrix.csv/png, config.yaml")
    return results


def validation_matrix(benchmark) -> list[list[float | None]] | None:
    """An empty T x T validation accuracy matrix, or None without validation sets."""
    if benchmark.tasks[0].x_val is None:
        return None
    return [[None] * benchmark.num_tasks for _ in range(benchmark.num_tasks)]


def validation_summary(val_acc: list[list[float | None]] | None) -> dict:
    """``val_acc_matrix`` and the final mean validation accuracy (empty without validation)."""
    if val_acc is None:
        return {}
    final = [a for a in val_acc[-1] if a is not None]
    return {"val_acc_matrix": val_acc, "val_final_acc_mean": sum(final) / len(final)}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    """Hydra job: validate the config, run, return the final mean accuracy (for sweepers)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        config: Config = OmegaConf.to_object(cfg)
        validate(config)
        resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(resolved))
        results = run(config, run_dir, resolved)
    except ConfigError as err:
        print(f"hypercl: config error: {err}", file=sys.stderr)
        sys.exit(2)
    return results["final_acc_mean"]


if __name__ == "__main__":
    main()
