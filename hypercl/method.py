"""What the experiment loop asks of a continual-learning method, and the hypernetwork's
implementation of it.

The loop (:mod:`hypercl.experiment`) owns the task sequence, checkpoints, resume, logging
and results; a method only trains a task, evaluates, and hands over its state:

* :class:`HNetMethod`: the hypernetwork learner (HNET, its CL2/CL3 entropy inference,
  ``from_scratch``), which can stop and resume at any step;
* :class:`hypercl.avalanche_methods.Baseline`: every Avalanche baseline, which resumes
  from the start of a task (its state is only complete between tasks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from hypercl.benchmarks import Benchmark, TaskData
from hypercl.config import Config, Scenario
from hypercl.learner import Heads, HNetLearner, build_learner
from hypercl.metrics import hnet_stored_params, param_counts

# on_step(step, losses): called after each training step (1-based) with detached scalar
# losses on the device; "loss" is the loss minimised.
OnStep = Callable[[int, dict[str, torch.Tensor]], None]


class Method(Protocol):
    """A method as the experiment loop drives it."""

    resumes_mid_task: bool  # state_dict() taken after any step resumes at that step
    trains_once: bool  # one training on all tasks after the last one (joint training)

    def describe(self) -> str:
        """One line for the log: what is trained, with how many parameters."""

    def num_iters(self, task_id: int) -> int:
        """Training steps of task ``task_id``."""

    def train_task(self, task_id: int, on_step: OnStep, start_step: int) -> None:
        """Train task ``task_id``; ``start_step > 0``: go on after that step of a state
        loaded mid-task (only when ``resumes_mid_task``)."""

    def evaluate(
        self, task_id: int, data: TaskData, num_learned: int
    ) -> tuple[float, float | None]:
        """Test accuracy (percent) on ``data`` of task ``task_id`` after ``num_learned``
        tasks, and the task-inference accuracy (None when the task is given)."""

    def state_dict(self) -> dict:
        """Everything training changes (parameters, optimizer, method state)."""

    def load_state_dict(self, state: dict, task_id: int, mid_task: bool) -> None:
        """Restore :meth:`state_dict`, taken at task ``task_id``: after some of its steps
        (``mid_task``), or before it starts or after it trained."""

    def results_fields(self) -> dict:
        """Method-specific fields of ``results.json`` (sizes, stored parameters, hparams)."""


class HNetMethod:
    """The hypernetwork learner (:class:`hypercl.learner.HNetLearner`) as a :class:`Method`."""

    resumes_mid_task = True
    trains_once = False

    def __init__(
        self, cfg: Config, benchmark: Benchmark, generator: torch.Generator, device: torch.device
    ) -> None:
        self.cfg, self.tasks = cfg, benchmark.tasks
        # CL2 shares one head; CL1 and CL3 have one head per task (CL3 infers which).
        num_heads = 1 if cfg.scenario == Scenario.cl2 else benchmark.num_tasks
        heads = Heads(num_heads, benchmark.head_size)
        self.infer_task = cfg.scenario != Scenario.cl1
        self.learner: HNetLearner = build_learner(
            cfg,
            benchmark.in_features,
            heads,
            benchmark.num_tasks,
            generator,
            device,
            benchmark.input_shape,
        )
        self.counts = param_counts(self.learner.hnet, self.learner.target.num_params)

    def describe(self) -> str:
        c = self.counts
        return (
            f"target {c['num_params_target']} weights, hypernetwork {c['num_params_hnet']} "
            f"(ratio {c['compression_ratio']:.3f})"
        )

    def num_iters(self, task_id: int) -> int:
        return self.learner.num_iters(self.tasks[task_id])

    def train_task(self, task_id: int, on_step: OnStep, start_step: int) -> None:
        beta = self.cfg.method.beta

        def with_total(step: int, losses: dict[str, torch.Tensor]) -> None:
            on_step(step, {"loss": losses["loss_task"] + beta * losses["loss_reg"], **losses})

        self.learner.train_task(task_id, self.tasks[task_id], with_total, resume=start_step > 0)

    def evaluate(
        self, task_id: int, data: TaskData, num_learned: int
    ) -> tuple[float, float | None]:
        return self.learner.evaluate(task_id, data, num_learned, self.infer_task)

    def state_dict(self) -> dict:
        return self.learner.state_dict()

    def load_state_dict(self, state: dict, task_id: int, mid_task: bool) -> None:
        # task_id == num_tasks: all trained (only the results were left to write)
        data = self.tasks[min(task_id, len(self.tasks) - 1)]
        self.learner.load_state_dict(state, task_id, data, mid_task)

    def results_fields(self) -> dict:
        learner, cfg = self.learner, self.cfg
        return {
            **self.counts,
            "method_hparams": {"beta": cfg.method.beta},
            **hnet_stored_params(learner.hnet, learner.target.buffer_numel, cfg.target.per_task_bn),
        }
