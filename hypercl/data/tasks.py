"""A continual-learning stream as in-memory tensors: one TaskData per task, and a
validation split carved from each task's training set."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from hypercl.config import ConfigError, TrainConfig


@dataclass
class TaskData:
    """One task: x_* [N, *input_shape] float32, y_* [N] long (local class ids).

    If ``perm`` [D] is set, inputs are flat [N, D] and every batch is returned as x[:, perm].
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    perm: torch.Tensor | None = None
    x_val: torch.Tensor | None = None  # held out from the training set (train.val_fraction)
    y_val: torch.Tensor | None = None

    def _permute(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.perm is None else x[:, self.perm]

    def train_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training inputs and labels at idx [B] -> x [B, ...], y [B]."""
        return self._permute(self.x_train[idx]), self.y_train[idx]

    def test_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The test set in order, in batches of at most ``batch_size``."""
        for start in range(0, len(self.y_test), batch_size):
            end = start + batch_size
            yield self._permute(self.x_test[start:end]), self.y_test[start:end]

    def validation(self) -> TaskData:
        """The same task with the validation set in place of the test set."""
        if self.x_val is None:
            raise ValueError("this task has no validation set; set train.val_fraction > 0")
        return replace(self, x_test=self.x_val, y_test=self.y_val, x_val=None, y_val=None)


TENSOR_FIELDS = ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val")


@dataclass
class Benchmark:
    """A sequence of tasks that share an input shape and a head size."""

    name: str
    tasks: list[TaskData]
    input_shape: tuple[int, ...]
    head_size: int  # classes per task

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def in_features(self) -> int:
        return int(torch.Size(self.input_shape).numel())

    def to(self, device: torch.device) -> Benchmark:
        """A copy on ``device``; tensors shared between tasks are moved once."""
        moved: dict[int, torch.Tensor] = {}

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            if id(t) not in moved:
                moved[id(t)] = t.to(device)
            return moved[id(t)]

        tasks = [
            replace(
                task,
                **{k: move(getattr(task, k)) for k in TENSOR_FIELDS},
                perm=move(task.perm),
            )
            for task in self.tasks
        ]
        return replace(self, tasks=tasks)


def with_validation(benchmark: Benchmark, fraction: float, seed: int) -> Benchmark:
    """Move a random ``fraction`` of each task's training set into ``x_val``/``y_val``.

    The split is drawn from ``seed`` and does not touch the test set; with ``fraction`` 0
    the benchmark is returned unchanged.
    """
    if fraction <= 0:
        return benchmark
    gen = torch.Generator().manual_seed(seed)
    tasks = []
    for task in benchmark.tasks:
        n = len(task.y_train)
        n_val = round(fraction * n)
        if not 0 < n_val < n:
            raise ConfigError(
                f"train.val_fraction={fraction} is invalid: it leaves {n - n_val} training and "
                f"{n_val} validation samples of {n}; choose a fraction in (0, 1) that keeps both."
            )
        perm = torch.randperm(n, generator=gen)
        val, train = perm[:n_val].sort().values, perm[n_val:].sort().values
        tasks.append(
            replace(
                task,
                x_train=task.x_train[train],
                y_train=task.y_train[train],
                x_val=task.x_train[val],
                y_val=task.y_train[val],
            )
        )
    return replace(benchmark, tasks=tasks)


def check_batch_size(benchmark: Benchmark, batch_size: int) -> None:
    """Raise :class:`ConfigError` if ``batch_size`` exceeds a task's training set (after the
    validation split): its batches would silently shrink to the whole set."""
    sizes = [len(task.y_train) for task in benchmark.tasks]
    smallest = min(sizes)
    if batch_size > smallest:
        raise ConfigError(
            f"train.batch_size={batch_size} is invalid: larger than task "
            f"{sizes.index(smallest) + 1}'s {smallest} training samples (after the validation "
            f"split); choose at most {smallest}."
        )


def unreached_lr_milestone(benchmark: Benchmark, train: TrainConfig) -> str | None:
    """Why a milestone of ``train.lr_milestones`` (an epoch of a task, 0-based) never
    applies: it comes after every task's last epoch (None: each is reached by a task)."""
    if not train.lr_milestones:
        return None
    sizes = [len(t.y_train) for t in benchmark.tasks]
    last_epochs = [(train.task_iters(n) - 1) // train.iters_per_epoch(n) for n in sizes]
    last = max(last_epochs)
    unreached = [m for m in train.lr_milestones if m > last]
    if not unreached:
        return None
    steps = train.task_iters(sizes[last_epochs.index(last)])
    return (
        f"milestone {unreached[0]} is never reached, the longest task trains {last + 1} "
        f"epoch(s) ({steps} steps of batch {train.batch_size})"
    )
