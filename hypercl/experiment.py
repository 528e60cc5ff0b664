"""The experiment loop, the one every method goes through.

    build: seed, device, benchmark, method (:mod:`hypercl.methods.base`), logger
    for each task t:  train (checkpoints, losses to train.log and W&B)
                      -> evaluate on tasks 1..t -> log
    write results.json, accuracy_matrix.csv/png

:func:`run` is that outline; :class:`Loop` holds the run between its steps (what it
trains, where it is, what it measured, where it writes) and does each of them.

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
from collections.abc import Callable
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
from hypercl.config import (
    HNET_METHODS,
    REPLAY_METHODS,
    Config,
    ConfigError,
    EvalEvery,
    TrainConfig,
    keys_to_lower,
    uses_replay,
)
from hypercl.data.benchmarks import build_benchmark
from hypercl.data.tasks import (
    Benchmark,
    check_batch_size,
    unreached_lr_milestone,
    with_validation,
)
from hypercl.environment import (
    environment_fields,
    git_commit,
    hardware_name,
    keep_freed_memory,
    resolve_device,
    seed_everything,
)
from hypercl.errors import NonFiniteLossError, RunDirError
from hypercl.fingerprint import code_fingerprint, resumed_record
from hypercl.methods.base import Method
from hypercl.methods.hnet import HNetMethod
from hypercl.metrics import accuracy_fields, validation_summary
from hypercl.overrides import override_key
from hypercl.progress import (
    EVALUATE,
    TRAIN,
    Interrupted,
    Progress,
    StopRequested,
    StopSignals,
    kill_point,
)
from hypercl.report.loggers import build_logger, check_logger
from hypercl.report.results import write_run_outputs
from hypercl.task_cost import add_cost_fields, cost_fields, record_task_cost, start_task

log = logging.getLogger("hypercl")

CHECKPOINT_FORMAT = 2  # 1: before Progress (task and the learner's step only)


def run(cfg: Config, run_dir: Path, config_dict: dict | None = None) -> dict:
    """Train ``cfg.method`` on every task of the benchmark in order, evaluate after each,
    and write the run's outputs to ``run_dir``; go on from ``run_dir/checkpoint.pt`` if
    there is one. Returns the contents of ``results.json``."""
    check_logger(cfg.logger)  # before any work: a logger that cannot start fails now
    keep_freed_memory()
    loop = Loop(cfg, run_dir, config_dict)
    ok = False
    try:
        with loop.stop:  # SIGTERM/SIGINT: checkpoint at the next safe point, then exit
            for t in loop.tasks_left():
                if loop.progress.phase == TRAIN:  # else resumed with task t trained
                    loop.train_task(t)
                loop.evaluate_after(t)
                loop.end_task(t)
            results = loop.write_results()
            ok = True
    finally:
        loop.logger.finish(ok)
    kill_point("results")
    announce(run_dir, results)
    return results


class Loop:
    """One run between the steps of :func:`run`: what it trains (``method``,
    ``benchmark``), where it is (``progress``, the newest checkpoint's), what it measured
    (``metrics``: accuracy matrices, times, per-task cost; saved in every checkpoint),
    and where it writes (``ckpt_path``, ``logger``)."""

    def __init__(self, cfg: Config, run_dir: Path, config_dict: dict | None) -> None:
        """build: read the checkpoint to go on from, set up torch, seed, device,
        benchmark and method, restore the progress, open the logger."""
        self.cfg, self.run_dir = cfg, run_dir
        self.started = time.perf_counter()
        self.ckpt_path = run_dir / CHECKPOINT
        saved = resumable_checkpoint(self.ckpt_path)
        self.resumed = saved is not None
        self.commit, self.fingerprint = code_identity(saved)
        configure_torch(cfg)
        self.device = resolve_device(cfg.device)
        self.hardware = run_hardware(saved, self.device)
        self.generator = seed_everything(cfg.seed)
        self.benchmark, self.method = build(cfg, self.generator, self.device)
        self.num_tasks = self.benchmark.num_tasks
        self.task_iters = [self.method.num_iters(t) for t in range(self.num_tasks)]
        what = self.method.describe()
        log.info("%s: %d tasks, %s, device %s", cfg.name, self.num_tasks, what, self.device)
        self.progress, self.metrics = self.restore(saved)
        add_cost_fields(self.metrics, self.num_tasks)
        self.wall_before = self.metrics["wall_time"]  # seconds of the runs before a resume
        self.logger = self.open_logger(saved, config_dict)
        self.stop = StopSignals()

    def restore(self, saved: dict | None) -> tuple[Progress, dict]:
        """Progress and metrics: fresh, or the checkpoint's (then the method's state and
        the generator's too)."""
        if saved is None:
            has_val = self.benchmark.tasks[0].x_val is not None
            return Progress(), new_metrics(self.num_tasks, has_val)
        progress = Progress(**saved["progress"])
        mid_task = progress.phase == TRAIN and progress.step > 0
        self.method.load_state_dict(saved["method"], progress.task, mid_task)
        set_rng_state(saved["rng"], self.generator)
        log.info("resuming from %s: %s", self.ckpt_path, progress)
        return progress, saved["metrics"]

    def open_logger(self, saved: dict | None, config_dict: dict | None):
        """The run's logger (W&B or none); a resumed run goes on in its W&B run."""
        cfg = self.cfg
        run_name = f"{cfg.name}-{cfg.method.name.value}-seed{cfg.seed}-{self.run_dir.name}"
        resume_id = saved["wandb_run_id"] if saved else None
        resume_step = self.steps_before(self.progress.task) + self.progress.step if saved else None
        return build_logger(
            cfg.logger, config_dict or {}, self.run_dir, run_name, resume_id, resume_step
        )

    def tasks_left(self) -> range:
        """The tasks to train and evaluate from the checkpoint's on; joint training
        (``trains_once``) trains once, after the last task."""
        first = self.progress.task
        if self.method.trains_once:
            first = max(first, self.num_tasks - 1)
        return range(first, self.num_tasks)

    def steps_before(self, t: int) -> int:
        """Training steps of the tasks before ``t``: the global step (W&B) task t starts at."""
        return sum(self.task_iters[:t])

    # ------------------------------------------------------------------ training

    def train_task(self, t: int) -> None:
        """Train task ``t`` (joint training: all tasks at once) from its start or from the
        checkpoint's step, record its cost, checkpoint it as trained (not evaluated)."""
        clock = partial(time_since, self.metrics["train_time"], time.perf_counter())
        start_step = self.progress.step if self.progress.task == t else 0
        if start_step == 0:
            start_task(self.metrics, t)
        budget = sum(self.task_iters) if self.method.trains_once else self.task_iters[t]
        bar = tqdm(total=budget, desc=f"task {t + 1}/{self.num_tasks}", disable=None)
        bar.update(start_step)
        try:
            self.method.train_task(t, partial(self.after_step, t, budget, bar, clock), start_step)
        except StopRequested:  # in a phase the loop does not step: keep the newest checkpoint
            self.stop_if_signalled()
        finally:
            bar.close()
        record_task_cost(self.metrics, self.method, t, budget, clock())
        self.checkpoint(Progress(t, budget, EVALUATE), clock())
        kill_point(f"task{t + 1}:trained")
        self.stop_if_signalled()

    def after_step(
        self,
        t: int,
        budget: int,
        bar: tqdm,
        clock: Callable[[], float],
        step: int,
        losses: dict[str, torch.Tensor],
    ) -> None:
        """``on_step`` of task ``t``'s training (``budget`` steps; ``clock()``: the run's
        training seconds now): the progress bar; the losses checked and logged every
        ``train.log_every`` steps and at the last; a checkpoint every
        ``train.checkpoint_every`` steps (methods that resume mid-task; never after a NaN
        loss); then the step's kill points and a stop if a signal came."""
        bar.update(1)
        train = self.cfg.train
        resumable = self.method.resumes_mid_task
        save = resumable and step < budget and step % train.checkpoint_every == 0
        logged = step % train.log_every == 0 or step == budget
        if save or logged:
            values = self.finite_losses(t, step, losses)
        if logged:
            self.log_losses(t, step, budget, values, bar)
        kill_point(f"task{t + 1}:step{step}")
        if step == budget:
            return
        here = Progress(t, step, TRAIN)
        if save:
            self.checkpoint(here, clock())
            kill_point(f"task{t + 1}:checkpoint{step}")
        if resumable:
            self.stop_if_signalled(here, clock())
        else:  # the others keep the start-of-task checkpoint
            self.stop_if_signalled()

    def finite_losses(self, t: int, step: int, losses: dict[str, torch.Tensor]) -> dict:
        """The step's losses as floats; :class:`NonFiniteLossError` if ``loss`` is NaN or
        infinite."""
        values = {k: v.item() for k, v in losses.items()}
        if not math.isfinite(values["loss"]):
            raise NonFiniteLossError.of(
                "classifier", t, step, keys_to_lower(self.cfg.method, self.cfg.train), exact=False
            )
        return values

    def log_losses(self, t: int, step: int, budget: int, values: dict, bar: tqdm) -> None:
        """The losses on the progress bar, in train.log and to the logger (at the global
        step)."""
        bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
        losses_text = " ".join(f"{k} {v:.4f}" for k, v in values.items())
        log.info("task %d step %d/%d: %s", t + 1, step, budget, losses_text)
        self.logger.log_losses(self.steps_before(t) + step, t, values)

    # ---------------------------------------------------------------- evaluation

    def evaluate_after(self, t: int) -> None:
        """Test the tasks ``train.eval_every_task`` names after task ``t`` into the
        accuracy matrices, log row t."""
        evaluated = tasks_to_evaluate(t, self.num_tasks, self.cfg.train.eval_every_task)
        for j in evaluated:
            self.evaluate_task(j, t)
            if j == evaluated[0]:
                kill_point(f"task{t + 1}:evaluate")  # after the row's first test set
        if not evaluated:
            kill_point(f"task{t + 1}:evaluate")
        row = log_task_accuracies(t, self.num_tasks, self.metrics["acc"][t])
        self.logger.log_task(self.steps_before(t) + self.task_iters[t], t, row)

    def evaluate_task(self, j: int, t: int) -> None:
        """Task ``j``'s test accuracy (and validation accuracy, task inference) after
        training task ``t``: entry (t, j) of the matrices; joint training (one model for
        every row) fills column j of every row from j on."""
        acc, val_acc, task = self.metrics["acc"], self.metrics["val_acc"], self.benchmark.tasks[j]
        a, self.metrics["task_infer"][j] = self.method.evaluate(j, task, t + 1)
        v = None
        if val_acc is not None:
            v = self.method.evaluate(j, task.validation(), t + 1)[0]
        rows = range(self.num_tasks) if self.method.trains_once else [t]
        for i in rows:
            if i >= j:
                acc[i][j] = a
                if val_acc is not None:
                    val_acc[i][j] = v

    def end_task(self, t: int) -> None:
        """Checkpoint task ``t`` as done (trained and evaluated); stop if a signal came."""
        self.checkpoint(Progress(t + 1, 0, TRAIN), self.metrics["train_time"])
        kill_point(f"task{t + 1}:done")
        self.stop_if_signalled()

    # -------------------------------------------------------- checkpoints, stops

    def checkpoint(self, where: Progress, train_time: float) -> None:
        """Save the run at ``where`` (format :data:`CHECKPOINT_FORMAT`), with ``train_time``
        seconds of training so far; ``where`` becomes the run's progress."""
        self.progress = where
        self.metrics["train_time"] = train_time
        self.metrics["wall_time"] = self.wall_time()
        save_checkpoint(
            self.ckpt_path,
            {
                "format": CHECKPOINT_FORMAT,
                "progress": asdict(where),
                "metrics": self.metrics,
                "method": self.method.state_dict(),
                "rng": rng_state(self.generator),
                "wandb_run_id": self.logger.run_id,
                "git_commit": self.commit,
                "code_fingerprint": self.fingerprint,
                "hardware": self.hardware,
            },
        )
        log.info("checkpoint saved: %s", where)

    def stop_if_signalled(self, where: Progress | None = None, train_time: float = 0.0) -> None:
        """After a SIGTERM/SIGINT: checkpoint at ``where`` (None: keep the newest one) and
        raise :class:`Interrupted` (exit code 128 + the signal number)."""
        received = self.stop.received
        if received is None:
            return
        if where is not None:
            self.checkpoint(where, train_time)
        name = signal.Signals(received).name
        if self.ckpt_path.exists():
            where_to = (
                f"stopped at {self.progress} with its checkpoint in {self.ckpt_path}. To resume"
            )
        else:
            where_to = "stopped before its first checkpoint. To start it again"
        err = Interrupted(
            f"{name} received; the run {where_to}, run the same command again with the "
            f"same run directory ({self.run_dir})."
        )
        err.exit_code = 128 + received
        raise err

    # ------------------------------------------------------------------- results

    def write_results(self) -> dict:
        """Write results.json and accuracy_matrix.csv/png, send them to the logger;
        returns the results."""
        results = self.results()
        paths = write_run_outputs(self.run_dir, results, f"{self.cfg.name} (seed {self.cfg.seed})")
        self.logger.log_results(results, paths["matrix_png"])
        return results

    def results(self) -> dict:
        """The contents of results.json."""
        metrics = self.metrics
        task_infer = metrics["task_infer"]
        return {
            **accuracy_fields(
                self.cfg,
                self.benchmark.name,
                self.task_iters,
                metrics["acc"],
                task_infer if any(a is not None for a in task_infer) else None,
            ),
            **self.method.results_fields(),
            "train_time_s": metrics["train_time"],
            **cost_fields(metrics, self.method),
            "wall_time_s": self.wall_time(),
            "resumed": self.resumed,
            **environment_fields(self.device, self.hardware, self.commit, self.fingerprint),
            **validation_summary(metrics["val_acc"]),
        }

    def wall_time(self) -> float:
        """Seconds of the run so far, the runs before a resume included."""
        return self.wall_before + time.perf_counter() - self.started


# ---------------------------------------------------------------------- build


def resumable_checkpoint(path: Path) -> dict | None:
    """The checkpoint at ``path`` to go on from, or None (a new run).

    Raises:
        RunDirError: it was written by an older hypercl (another ``format``).
    """
    state = load_checkpoint(path)
    if state is not None and state.get("format") != CHECKPOINT_FORMAT:
        raise RunDirError(
            f"{path} was written by an older hypercl whose checkpoints do not say "
            "whether a task had finished, so it cannot be resumed safely; start the run in "
            "a new directory (another hydra.run.dir) or delete the old one."
        )
    return state


def code_identity(saved: dict | None) -> tuple[str | None, str]:
    """The git commit and code fingerprint the run records: those of the code that started
    it; a run resumed by other code carries both fingerprints ("start+resume"): current
    only if both are (:func:`hypercl.fingerprint.is_current`)."""
    if saved is None:
        return git_commit(), code_fingerprint()
    return saved["git_commit"], resumed_record(saved["code_fingerprint"], code_fingerprint())


def run_hardware(saved: dict | None, device: torch.device) -> str:
    """The hardware the run records (:func:`hardware_name`); a run resumed on other
    hardware records both (``"start+resume"``), one started by code that did not record it
    ``"not recorded+resume"``."""
    here = hardware_name(device)
    return here if saved is None else resumed_record(saved.get("hardware", "not recorded"), here)


def configure_torch(cfg: Config) -> None:
    """``num_threads`` and ``deterministic`` (before CUDA starts)."""
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA starts
        torch.use_deterministic_algorithms(True)


def build(
    cfg: Config, generator: torch.Generator, device: torch.device
) -> tuple[Benchmark, Method]:
    """The benchmark (with its validation split, on ``device``) and the method."""
    benchmark = build_benchmark(cfg.benchmark, data_path(cfg), cfg.data_download)
    benchmark = with_validation(benchmark, cfg.train.val_fraction, cfg.benchmark.data_seed)
    check_batch_size(benchmark, cfg.train.batch_size)
    check_lr_milestones(benchmark, cfg.train)
    benchmark = benchmark.to(device)
    return benchmark, build_method(cfg, benchmark, generator, device)


def build_method(
    cfg: Config, benchmark: Benchmark, generator: torch.Generator, device: torch.device
) -> Method:
    """The hypernetwork learner, or an Avalanche baseline (imported only for those).

    The learners train on ``benchmark`` as it is (on ``device``: :func:`build`); a baseline gets
    a CPU copy, whose tensors it wraps as Avalanche datasets."""
    if uses_replay(cfg):  # HNET+TIR (CL2/CL3), HNET+R, DGR: docs/replay.md
        if cfg.method.name in REPLAY_METHODS:
            from hypercl.methods.replay_classifier import ReplayClassifierMethod

            return ReplayClassifierMethod(cfg, benchmark, generator, device)
        from hypercl.methods.hnet_tir import HNetTIRMethod

        return HNetTIRMethod(cfg, benchmark, generator, device)
    if cfg.method.name in HNET_METHODS:
        return HNetMethod(cfg, benchmark, generator, device)
    from hypercl.methods.baselines import Baseline

    return Baseline(cfg, benchmark.to(torch.device("cpu")), device)


def check_lr_milestones(benchmark: Benchmark, train: TrainConfig) -> None:
    """A milestone no task reaches: :class:`ConfigError` if ``train.lr_milestones`` was
    typed on the command line, else (a preset's schedule under a shorter budget, e.g. a
    REDUCED run) a warning in the log."""
    why = unreached_lr_milestone(benchmark, train)
    if why is None:
        return
    typed = HydraConfig.initialized() and any(
        override_key(o) == "train.lr_milestones" for o in HydraConfig.get().overrides.task
    )
    value = list(train.lr_milestones)
    if typed:
        raise ConfigError(
            f"train.lr_milestones={value} is invalid: {why}; choose smaller milestones, "
            "or remove them, or train longer."
        )
    log.warning("train.lr_milestones=%s from the preset has no effect there: %s", value, why)


def data_path(cfg: Config) -> Path:
    """``data_dir``, relative to where the command ran (Hydra may change the cwd)."""
    return Path(to_absolute_path(cfg.data_dir)) if HydraConfig.initialized() else Path(cfg.data_dir)


def new_metrics(num_tasks: int, has_val: bool) -> dict:
    """A new run's metrics: empty accuracy matrices ``[num_tasks][num_tasks]`` (test, and
    validation if the benchmark has a validation split), task-inference accuracies, times."""
    return {
        "acc": [[None] * num_tasks for _ in range(num_tasks)],
        "val_acc": [[None] * num_tasks for _ in range(num_tasks)] if has_val else None,
        "task_infer": [None] * num_tasks,
        "train_time": 0.0,
        "wall_time": 0.0,
    }


# -------------------------------------------------------------------- helpers


def tasks_to_evaluate(t: int, num_tasks: int, mode: EvalEvery) -> list[int]:
    """The tasks tested after training task ``t`` (0-based) under
    ``train.eval_every_task``: ``all`` every learned task, ``diagonal`` task t alone,
    ``none`` nothing; after the last task every mode tests all of them."""
    if t == num_tasks - 1 or mode == EvalEvery.all:
        return list(range(t + 1))
    return [t] if mode == EvalEvery.diagonal else []


def time_since(before: float, started: float) -> float:
    """``before`` seconds plus those since ``perf_counter()`` read ``started``."""
    return before + time.perf_counter() - started


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
