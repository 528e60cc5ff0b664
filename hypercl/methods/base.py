"""What the experiment loop asks of a continual-learning method.

The loop (:mod:`hypercl.experiment`) owns the task sequence, checkpoints, resume, logging
and results; a method only trains a task, evaluates, and hands over its state:

* :class:`hypercl.methods.hnet.HNetMethod`: the hypernetwork learner (HNET, its CL2/CL3
  entropy inference, ``from_scratch``), which can stop and resume at any step;
* :class:`hypercl.methods.baselines.Baseline`: every Avalanche baseline, which resumes
  from the start of a task (its state is only complete between tasks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from hypercl.data.tasks import TaskData

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
