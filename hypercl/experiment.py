"""The experiment loop, the one every method goes through.

    build: seed, device, benchmark, method (:mod:`hypercl.methods.base`), logger
    for each task t:  train (checkpoints, losses to train.log and W&B)
                      -> evaluate on tasks 1..t -> log
    write results.json, accuracy_matrix.csv/png

Progress is one explicit triple :class:`Progress` (task, step, phase) that the loop and
the checkpoint share. A run can die anywhere; re-running the same command goes on from
the newest checkpoint and ends with the accuracy matrix of the uninterrupted run:

* ``train`` phase, step 0: the task has not started (the checkpoint after the previous
  task, with its evaluation done);
* ``train`` phase, step s > 0: s steps of the task are done (mid-task checkpoint; only
  methods with ``resumes_mid_task``, the others resume from the task's start);
* ``evaluate`` phase: the task is trained, its evaluation is not done.

SIGTERM and SIGINT (SLURM preemption, Ctrl-C) write a checkpoint at the current step
(between tasks for methods that cannot resume mid-task) and exit with 128 + the signal
number and a line saying how to resume. ``HYPERCL_KILL_AT=<point>`` makes the process
send itself ``HYPERCL_KILL_SIGNAL`` (default KILL) at a named point (:func:`kill_point`):
the resume tests use it to die at exact places.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from tqdm import tqdm

from hypercl.checkpoint import (
    CHECKPOINT,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from hypercl.config import HNET_METHODS, REPLAY_METHODS, Config, EvalEvery, uses_replay
from hypercl.data.benchmarks import build_benchmark
from hypercl.data.tasks import Benchmark, with_validation
from hypercl.environment import (
    environment_fields,
    git_commit,
    keep_freed_memory,
    resolve_device,
    seed_everything,
)
from hypercl.errors import NonFiniteLossError, RunDirError
from hypercl.fingerprint import code_fingerprint
from hypercl.methods.base import Method
from hypercl.methods.hnet import HNetMethod
from hypercl.metrics import accuracy_fields, task_cost_fields, validation_summary
from hypercl.progress import (
    EVALUATE,
    TRAIN,
    Interrupted,
    Progress,
    StopSignals,
    kill_point,
)
from hypercl.report.loggers import build_logger, check_logger
from hypercl.report.results import write_run_outputs

log = logging.getLogger("hypercl")

CHECKPOINT_FORMAT = 2  # 1: before Progress (task and the learner's step only)


def build_method(
    cfg: Config, benchmark: Benchmark, generator: torch.Generator, device: torch.device
) -> Method:
    """The hypernetwork learner, or an Avalanche baseline (imported only for those)."""
    if uses_replay(cfg):  # HNET+TIR (CL2/CL3), HNET+R, DGR: docs/replay.md
        if cfg.method.name in REPLAY_METHODS:
            from hypercl.methods.replay_classifier import ReplayClassifierMethod

            return ReplayClassifierMethod(cfg, benchmark, generator, device)
        from hypercl.methods.hnet_tir import HNetTIRMethod

        return HNetTIRMethod(cfg, benchmark, generator, device)
    if cfg.method.name in HNET_METHODS:
        return HNetMethod(cfg, benchmark, generator, device)
    from hypercl.methods.baselines import Baseline

    return Baseline(cfg, benchmark, device)


def data_path(cfg: Config) -> Path:
    """``data_dir``, relative to where the command ran (Hydra may change the cwd)."""
    return Path(to_absolute_path(cfg.data_dir)) if HydraConfig.initialized() else Path(cfg.data_dir)


def run(cfg: Config, run_dir: Path, config_dict: dict | None = None) -> dict:
    """Train ``cfg.method`` on every task of the benchmark in order, evaluate after each,
    and write the run's outputs to ``run_dir``; go on from ``run_dir/checkpoint.pt`` if
    there is one. Returns the contents of ``results.json``."""
    check_logger(cfg.logger)  # before any work: a logger that cannot start fails now
    keep_freed_memory()
    started = time.perf_counter()
    ckpt_path = run_dir / CHECKPOINT
    state = load_checkpoint(ckpt_path)
    if state is not None and state.get("format") != CHECKPOINT_FORMAT:
        raise RunDirError(
            f"{ckpt_path} was written by an older hypercl whose checkpoints do not say "
            "whether a task had finished, so it cannot be resumed safely; start the run in "
            "a new directory (another hydra.run.dir) or delete the old one."
        )
    # The code that started the run; a run resumed by other code carries both fingerprints
    # ("start+resume"), which no current code matches: its results show as stale.
    commit = state["git_commit"] if state else git_commit()
    fingerprint = code_fingerprint()
    if state is not None and state["code_fingerprint"] != fingerprint:
        fingerprint = f"{state['code_fingerprint']}+{fingerprint}"
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA starts
        torch.use_deterministic_algorithms(True)
    device = resolve_device(cfg.device)
    generator = seed_everything(cfg.seed)
    benchmark = build_benchmark(cfg.benchmark, data_path(cfg), cfg.data_download)
    benchmark = with_validation(benchmark, cfg.train.val_fraction, cfg.benchmark.data_seed)
    method = build_method(cfg, benchmark, generator, device)
    benchmark = benchmark.to(device)
    tasks, num_tasks = benchmark.tasks, benchmark.num_tasks
    task_iters = [method.num_iters(t) for t in range(num_tasks)]
    log.info("%s: %d tasks, %s, device %s", cfg.name, num_tasks, method.describe(), device)

    if state is None:
        progress = Progress()
        has_val = tasks[0].x_val is not None
        metrics = {
            "acc": [[None] * num_tasks for _ in range(num_tasks)],
            "val_acc": [[None] * num_tasks for _ in range(num_tasks)] if has_val else None,
            "task_infer": [None] * num_tasks,
            "train_time": 0.0,
            "wall_time": 0.0,
        }
    else:
        progress, metrics = Progress(**state["progress"]), state["metrics"]
        mid_task = progress.phase == TRAIN and progress.step > 0
        method.load_state_dict(state["method"], progress.task, mid_task)
        set_rng_state(state["rng"], generator)
        log.info("resuming from %s: %s", ckpt_path, progress)
    # Per-task cost (checkpoints written before it was recorded lack it: None there).
    metrics.setdefault("task_train_time", [None] * num_tasks)
    metrics.setdefault("task_steps", [0] * num_tasks)
    metrics.setdefault("task_reg_bytes", [None] * num_tasks)
    metrics.setdefault("task_started", None)  # [task, train_time when its step 0 began]
    acc, val_acc, task_infer = metrics["acc"], metrics["val_acc"], metrics["task_infer"]
    wall_before = metrics["wall_time"]

    run_name = f"{cfg.name}-{cfg.method.name.value}-seed{cfg.seed}-{run_dir.name}"
    resume_id = state["wandb_run_id"] if state else None
    resume_step = sum(task_iters[: progress.task]) + progress.step if state else None
    logger = build_logger(cfg.logger, config_dict or {}, run_dir, run_name, resume_id, resume_step)

    def checkpoint(where: Progress, train_time: float) -> None:
        nonlocal progress
        progress = where
        metrics["train_time"] = train_time
        metrics["wall_time"] = wall_before + time.perf_counter() - started
        save_checkpoint(
            ckpt_path,
            {
                "format": CHECKPOINT_FORMAT,
                "progress": asdict(where),
                "metrics": metrics,
                "method": method.state_dict(),
                "rng": rng_state(generator),
                "wandb_run_id": logger.run_id,
                "git_commit": commit,
                "code_fingerprint": fingerprint,
            },
        )
        log.info("checkpoint saved: %s", where)

    def stop_if_signalled(stop: StopSignals, train_time: float, where: Progress | None) -> None:
        """After a SIGTERM/SIGINT: checkpoint at ``where`` (None: keep the newest one), exit."""
        if stop.received is None:
            return
        if where is not None:
            checkpoint(where, train_time)
        name = signal.Signals(stop.received).name
        if ckpt_path.exists():
            where_to = f"stopped at {progress} with its checkpoint in {ckpt_path}. To resume"
        else:
            where_to = "stopped before its first checkpoint. To start it again"
        err = Interrupted(
            f"{name} received; the run {where_to}, run the same command again with the "
            f"same run directory ({run_dir})."
        )
        err.exit_code = 128 + stop.received
        raise err

    ok = False
    try:
        with StopSignals() as stop:
            for t in range(progress.task, num_tasks):
                iters, offset = task_iters[t], sum(task_iters[:t])
                if method.trains_once and t < num_tasks - 1:
                    continue  # joint training: one training after the last task
                if progress.phase == TRAIN:
                    train_time = partial(time_since, metrics["train_time"], time.perf_counter())

                    start_step = progress.step if progress.task == t else 0
                    if start_step == 0:
                        metrics["task_started"] = [t, metrics["train_time"]]
                    budget = sum(task_iters) if method.trains_once else iters
                    bar = tqdm(total=budget, desc=f"task {t + 1}/{num_tasks}", disable=None)
                    bar.update(start_step)

                    def on_step(
                        step: int,
                        losses: dict,
                        t=t,
                        bar=bar,
                        budget=budget,
                        offset=offset,
                        train_time=train_time,
                    ) -> None:
                        bar.update(1)
                        save = (
                            method.resumes_mid_task
                            and step < budget
                            and step % cfg.train.checkpoint_every == 0
                        )
                        if save or step % cfg.train.log_every == 0 or step == budget:
                            values = {k: v.item() for k, v in losses.items()}
                            if not math.isfinite(values["loss"]):  # never checkpoint NaNs
                                raise non_finite(t, step, cfg, run_dir)
                        if step % cfg.train.log_every == 0 or step == budget:
                            bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
                            losses_text = " ".join(f"{k} {v:.4f}" for k, v in values.items())
                            log.info("task %d step %d/%d: %s", t + 1, step, budget, losses_text)
                            logger.log_losses(offset + step, t, values)
                        kill_point(f"task{t + 1}:step{step}")
                        if step == budget:
                            return
                        here = Progress(t, step, TRAIN)
                        if save:
                            checkpoint(here, train_time())
                            kill_point(f"task{t + 1}:checkpoint{step}")
                        # methods that cannot resume mid-task keep the start-of-task one
                        where = here if method.resumes_mid_task else None
                        stop_if_signalled(stop, train_time(), where)

                    method.train_task(t, on_step, start_step)
                    bar.close()
                    record_task_cost(metrics, method, t, budget, train_time())
                    checkpoint(Progress(t, budget, EVALUATE), train_time())
                    kill_point(f"task{t + 1}:trained")
                    stop_if_signalled(stop, metrics["train_time"], None)
                rows = range(num_tasks) if method.trains_once else [t]  # joint: one model
                evaluated = tasks_to_evaluate(t, num_tasks, cfg.train.eval_every_task)
                if not evaluated:
                    kill_point(f"task{t + 1}:evaluate")
                for j in evaluated:
                    a, task_infer[j] = method.evaluate(j, tasks[j], t + 1)
                    v = None
                    if val_acc is not None:
                        v = method.evaluate(j, tasks[j].validation(), t + 1)[0]
                    for i in rows:
                        if i >= j:
                            acc[i][j] = a
                            if val_acc is not None:
                                val_acc[i][j] = v
                    if j == evaluated[0]:
                        kill_point(f"task{t + 1}:evaluate")
                logger.log_task(offset + iters, t, log_task_accuracies(t, num_tasks, acc[t]))
                checkpoint(Progress(t + 1, 0, TRAIN), metrics["train_time"])
                kill_point(f"task{t + 1}:done")
                stop_if_signalled(stop, metrics["train_time"], None)

            results = {
                **accuracy_fields(
                    cfg,
                    benchmark.name,
                    task_iters,
                    acc,
                    task_infer if any(a is not None for a in task_infer) else None,
                ),
                **method.results_fields(),
                "train_time_s": metrics["train_time"],
                **task_cost_fields(
                    metrics["task_train_time"],
                    metrics["task_steps"],
                    None if regularizer_bytes(method) is None else metrics["task_reg_bytes"],
                ),
                "wall_time_s": wall_before + time.perf_counter() - started,
                "resumed": state is not None,
                **environment_fields(device, commit, fingerprint),
                **validation_summary(val_acc),
            }
            paths = write_run_outputs(run_dir, results, f"{cfg.name} (seed {cfg.seed})")
            logger.log_results(results, paths["matrix_png"])
            ok = True
    finally:
        logger.finish(ok)
    kill_point("results")
    announce(run_dir, results)
    return results


def tasks_to_evaluate(t: int, num_tasks: int, mode: EvalEvery) -> list[int]:
    """The tasks tested after training task ``t`` (0-based) under
    ``train.eval_every_task``: ``all`` every learned task, ``diagonal`` task t alone,
    ``none`` nothing; after the last task every mode tests all of them."""
    if t == num_tasks - 1 or mode == EvalEvery.all:
        return list(range(t + 1))
    return [t] if mode == EvalEvery.diagonal else []


def regularizer_bytes(method: Method) -> int | None:
    """Bytes a method's output regularizer holds now (``HNetMethod.regularizer_bytes``);
    None for methods without one (the baselines)."""
    measure = getattr(method, "regularizer_bytes", None)
    return None if measure is None else measure()


def record_task_cost(metrics: dict, method: Method, t: int, steps: int, now: float) -> None:
    """After task ``t``'s training: its training seconds (``now`` minus the run's training
    time when its step 0 began; after a resume, the time kept by checkpoints: steps
    redone after a kill count once, the lost ones not at all), steps, and the regularizer's
    memory in bytes."""
    started = metrics["task_started"]
    metrics["task_train_time"][t] = now - started[1] if started and started[0] == t else None
    metrics["task_steps"][t] = steps
    metrics["task_reg_bytes"][t] = regularizer_bytes(method)


def time_since(before: float, started: float) -> float:
    """``before`` seconds plus those since ``perf_counter()`` read ``started``."""
    return before + time.perf_counter() - started


def non_finite(t: int, step: int, cfg: Config, run_dir: Path) -> NonFiniteLossError:
    """The error for a NaN or infinite loss, with a recovery that works."""
    return NonFiniteLossError(
        f"the loss became NaN or infinite in task {t + 1} by step {step}. Lower "
        f"train.lr (now {cfg.train.lr}) or the method's regularization strength and "
        f"start a new run directory (another hydra.run.dir, or hydra.sweep.dir for a sweep; "
        f"{run_dir} keeps the last good "
        "checkpoint, but resuming it with the same config fails the same way)."
    )


def log_task_accuracies(t: int, num_tasks: int, row: list[float | None]) -> list[float | None]:
    """Log row ``t`` of the accuracy matrix (its measured entries); returns the row."""
    accs = {j: a for j, a in enumerate(row) if a is not None}
    if not accs:
        log.info("after task %d/%d: not evaluated (train.eval_every_task)", t + 1, num_tasks)
        return row
    log.info(
        "after task %d/%d: accuracy %s (mean %.2f)",
        t + 1,
        num_tasks,
        " ".join(f"T{j + 1} {a:.2f}" for j, a in accs.items()),
        sum(accs.values()) / len(accs),
    )
    return row


def announce(run_dir: Path, results: dict) -> None:
    """The last lines of a run: its final accuracy and where its outputs are."""
    during = results["during_acc_mean"]
    log.info(
        "final accuracy %.2f (during %s) in %.0f s",
        results["final_acc_mean"],
        "not measured" if during is None else f"{during:.2f}",
        results["wall_time_s"],
    )
    print(f"Results written to {run_dir}: results.json, accuracy_matrix.csv/png, config.yaml")
