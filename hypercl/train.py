"""Command-line entry point: ``python -m hypercl.train [overrides]`` / ``hypercl-train``.

Data flows one way: config -> benchmark -> learner -> metrics -> logger and results files.
"""

from __future__ import annotations

import ctypes
import json
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
from hypercl.checkpoint import (
    CHECKPOINT,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from hypercl.config import HNET_METHODS, Config, Device, Scenario, validate
from hypercl.errors import ConfigError, HyperclError
from hypercl.learner import Heads, build_learner
from hypercl.loggers import build_logger
from hypercl.metrics import hnet_stored_params, param_counts, summarize
from hypercl.results import write_run_outputs
from hypercl.sweeps import objective, sweep_job

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


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the OS.

    A training step allocates and frees temporaries of several MB (generated weights,
    gradients, Gram inputs). By default glibc serves such blocks with fresh ``mmap``s, so
    every step page-faults them in again (thousands of faults per step; ``scripts/bench.py``,
    "allocator", measures faults and step time with and without this). Blocks up to 32 MB now come
    from the heap, which is never trimmed. No-op off glibc or with HYPERCL_MALLOC_TUNING=0;
    returns whether it applied.
    """
    if os.environ.get("HYPERCL_MALLOC_TUNING", "1") == "0" or platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # <malloc.h>
    return bool(
        libc.mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's maximum
        and libc.mallopt(m_trim_threshold, 2**31 - 1)
        and libc.mallopt(m_top_pad, 64 * 2**20)
    )


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; returns the CPU generator for data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def run(cfg: Config, run_dir: Path, config_dict: dict | None = None) -> dict:
    """Train on every task of the benchmark in order and write the run's outputs.

    A checkpoint is written every ``train.checkpoint_every`` steps and after every task; if
    ``run_dir`` holds one, the run goes on from it and ends as the uninterrupted run would.

    Returns:
        The contents of ``results.json``.
    """
    keep_freed_memory()
    if cfg.method.name not in HNET_METHODS:  # the baselines, on avalanche-lib
        from hypercl.avalanche_methods import run_avalanche

        return run_avalanche(cfg, run_dir, config_dict)
    started = time.perf_counter()
    ckpt_path = run_dir / CHECKPOINT
    state = load_checkpoint(ckpt_path)
    commit = state["git_commit"] if state else git_commit()  # the code that started the run
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA starts
        torch.use_deterministic_algorithms(True)
    device = resolve_device(cfg.device)
    generator = seed_everything(cfg.seed)

    data_dir = (
        Path(to_absolute_path(cfg.data_dir)) if HydraConfig.initialized() else Path(cfg.data_dir)
    )
    benchmark = build_benchmark(cfg.benchmark, data_dir, cfg.data_download)
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
    task_iters = [learner.num_iters(task) for task in tasks]
    if state is None:
        progress = {
            "task": 0,  # the task being trained (num_tasks: all done)
            "acc": [[None] * num_tasks for _ in range(num_tasks)],
            "val_acc": validation_matrix(benchmark),
            "task_infer": [None] * num_tasks,
            "train_time": 0.0,
            "wall_time": 0.0,
        }
    else:
        progress = state["progress"]
        if progress["task"] < num_tasks:
            learner.load_state_dict(state["learner"], progress["task"], tasks[progress["task"]])
        set_rng_state(state["rng"], generator)
        log.info(
            "resuming from %s: task %d, step %d",
            ckpt_path,
            progress["task"] + 1,
            state["learner"]["step"],
        )
    acc, val_acc, task_infer = progress["acc"], progress["val_acc"], progress["task_infer"]

    run_name = f"{cfg.name}-seed{cfg.seed}-{run_dir.name}"
    logger = build_logger(
        cfg.logger, config_dict or {}, run_dir, run_name, state["wandb_run_id"] if state else None
    )

    # Training time: earlier tasks (and runs) plus the current task since it (re)started.
    clock = {"train_before": 0.0, "task_started": 0.0}

    def task_train_time() -> float:
        return clock["train_before"] + time.perf_counter() - clock["task_started"]

    def checkpoint(train_time: float, where: str) -> None:
        progress["train_time"] = train_time
        progress["wall_time"] = wall_before + time.perf_counter() - started
        save_checkpoint(
            ckpt_path,
            {
                "progress": progress,
                "learner": learner.state_dict(),
                "rng": rng_state(generator),
                "wandb_run_id": logger.run_id,
                "git_commit": commit,
            },
        )
        log.info("checkpoint saved: %s", where)

    wall_before = progress["wall_time"]
    resume_task = progress["task"] if state is not None else None  # goes on mid-task
    ok = False
    try:
        for t in range(progress["task"], num_tasks):
            task, iters, offset = tasks[t], task_iters[t], sum(task_iters[:t])
            resume = t == resume_task
            bar = tqdm(total=iters, desc=f"task {t + 1}/{num_tasks}", disable=None, leave=False)
            bar.update(learner.step if resume else 0)

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
                    # train/loss: the loss minimised, the key every method logs
                    values["loss"] = values["loss_task"] + cfg.method.beta * values["loss_reg"]
                    bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
                    logger.log_losses(offset + step, t, values)
                if step % cfg.train.checkpoint_every == 0 and step < iters:
                    learner.check_finite(t)  # never checkpoint a broken model
                    checkpoint(task_train_time(), f"task {t + 1}, step {step}")

            clock.update(train_before=progress["train_time"], task_started=time.perf_counter())
            learner.train_task(t, task, on_step, resume)
            progress["train_time"] = task_train_time()
            bar.close()
            for j in range(t + 1):
                acc[t][j], task_infer[j] = learner.evaluate(j, tasks[j], t + 1, infer_task)
                if val_acc is not None:
                    val_acc[t][j] = learner.evaluate(j, tasks[j].validation(), t + 1, infer_task)[0]
            logger.log_task(offset + iters, t, log_task_accuracies(t, num_tasks, acc[t]))
            progress["task"] = t + 1
            checkpoint(progress["train_time"], f"after task {t + 1}")

        results = {
            **accuracy_fields(
                cfg, benchmark.name, task_iters, acc, task_infer if infer_task else None
            ),
            **counts,
            "method_hparams": {"beta": cfg.method.beta},
            **hnet_stored_params(learner.hnet, learner.target.buffer_numel, cfg.target.per_task_bn),
            "train_time_s": progress["train_time"],
            "wall_time_s": wall_before + time.perf_counter() - started,
            "resumed": state is not None,
            **environment_fields(device, commit),
            **validation_summary(val_acc),
        }
        paths = write_run_outputs(run_dir, results, f"{cfg.name} (seed {cfg.seed})")
        logger.log_results(results, paths["matrix_png"])
        ok = True
    finally:
        logger.finish(ok)
    announce(run_dir, results)
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


def log_task_accuracies(t: int, num_tasks: int, row: list[float | None]) -> list[float]:
    """Log row ``t`` of the accuracy matrix; returns its filled entries."""
    accs = [a for a in row if a is not None]
    log.info(
        "after task %d/%d: accuracy %s (mean %.2f)",
        t + 1,
        num_tasks,
        " ".join(f"{a:.2f}" for a in accs),
        sum(accs) / len(accs),
    )
    return accs


def accuracy_fields(
    cfg: Config,
    benchmark_name: str,
    task_iters: list[int],
    acc: list[list[float | None]],
    task_infer: list[float | None] | None,
) -> dict:
    """The first fields of ``results.json``: what ran, and its accuracies (``task_infer``:
    task-inference accuracy per task, None without task inference)."""
    return {
        "experiment": cfg.name,
        "benchmark": benchmark_name,
        "scenario": cfg.scenario.value,
        "method": cfg.method.name.value,
        "target": cfg.target.name.value,
        "seed": cfg.seed,
        "iters_per_task": cfg.train.iters_per_task,
        "epochs_per_task": cfg.train.epochs_per_task,
        "train_subset": cfg.benchmark.train_subset,
        "test_subset": cfg.benchmark.test_subset,
        "task_iters": task_iters,
        "acc_matrix": acc,
        **summarize(acc),
        "task_infer_acc": task_infer,
        "task_infer_acc_mean": sum(task_infer) / len(task_infer) if task_infer else None,
    }


def environment_fields(device: torch.device, commit: str | None) -> dict:
    """Where and with what the run ran: device, threads, package versions, git commit."""
    return {
        "device": str(device),
        "num_threads": torch.get_num_threads(),
        "versions": package_versions(),
        "git_commit": commit,
    }


def announce(run_dir: Path, results: dict) -> None:
    """The last lines of a run: its final accuracy and where its outputs are."""
    log.info(
        "final accuracy %.2f (during %.2f) in %.0f s",
        results["final_acc_mean"],
        results["during_acc_mean"],
        results["wall_time_s"],
    )
    print(f"Results written to {run_dir}: results.json, accuracy_matrix.csv/png, config.yaml")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@sweep_job  # under Optuna & co., a failed job raises TrialFailed: a failed trial, not sweep
def main(cfg: DictConfig) -> float | None:
    """Hydra job: validate the config, then run, resume from a checkpoint, or report that
    the run already finished; return the final mean *validation* accuracy.

    The return value is what a sweeper optimizes (:func:`hypercl.sweeps.objective`): None
    without a validation split, never the test accuracy. A user error
    (:class:`HyperclError`) prints one line and exits with its code.
    """
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        config: Config = OmegaConf.to_object(cfg)
        validate(config)
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
    return objective(results)  # validation accuracy, never test (hypercl.sweeps)


if __name__ == "__main__":
    main()
