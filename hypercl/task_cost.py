"""Per-task training cost, kept in a run's ``metrics`` (so in its checkpoint) by the loop
(:mod:`hypercl.experiment`): each task's training seconds, steps, and the memory its
method's output regularizer holds after it; ``results.json`` gets them through
:func:`hypercl.metrics.task_cost_fields`.

A task's seconds are the run's training time (the time kept by checkpoints) at its end
minus that when its step 0 began: after a resume, steps redone after a kill count once and
the lost ones not at all; a task resumed from a checkpoint written before these fields
existed gets None.
"""

from __future__ import annotations

from hypercl.methods.base import Method
from hypercl.metrics import task_cost_fields


def add_cost_fields(metrics: dict, num_tasks: int) -> None:
    """Add the per-task cost entries to ``metrics`` where missing (a checkpoint written
    before they were recorded lacks them: None there)."""
    metrics.setdefault("task_train_time", [None] * num_tasks)
    metrics.setdefault("task_steps", [0] * num_tasks)
    metrics.setdefault("task_reg_bytes", [None] * num_tasks)
    metrics.setdefault("task_started", None)  # [task, train_time when its step 0 began]


def start_task(metrics: dict, t: int) -> None:
    """Task ``t``'s step 0 begins now: remember the run's training time."""
    metrics["task_started"] = [t, metrics["train_time"]]


def record_task_cost(metrics: dict, method: Method, t: int, steps: int, now: float) -> None:
    """After task ``t``'s training (``steps`` steps; ``now``: the run's training time):
    its training seconds, steps, and the regularizer's memory in bytes."""
    started = metrics["task_started"]
    metrics["task_train_time"][t] = now - started[1] if started and started[0] == t else None
    metrics["task_steps"][t] = steps
    metrics["task_reg_bytes"][t] = regularizer_bytes(method)


def cost_fields(metrics: dict, method: Method) -> dict:
    """The ``results.json`` fields of the per-task cost (memory only for methods with an
    output regularizer)."""
    reg_bytes = None if regularizer_bytes(method) is None else metrics["task_reg_bytes"]
    return task_cost_fields(metrics["task_train_time"], metrics["task_steps"], reg_bytes)


def regularizer_bytes(method: Method) -> int | None:
    """Bytes a method's output regularizer holds now (``HNetMethod.regularizer_bytes``);
    None for methods without one (the baselines)."""
    measure = getattr(method, "regularizer_bytes", None)
    return None if measure is None else measure()
