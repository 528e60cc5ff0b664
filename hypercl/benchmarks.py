"""Continual-learning streams from avalanche-lib, held as in-memory tensors.

Each task becomes a :class:`TaskData` of four tensors that are moved to the training
device once; mini-batches are then indexed there, with no per-step DataLoader.
Labels are *local* to the task's head (0..head_size-1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from hypercl.config import BenchmarkConfig, BenchmarkName, ConfigError


@dataclass
class TaskData:
    """One task: x_* [N, *input_shape] float32, y_* [N] long (local class ids)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[int]  # the benchmark's original class ids, in local order

    def to(self, device: torch.device) -> TaskData:
        return TaskData(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.classes,
        )


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


def _to_tensors(dataset, batch_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """An Avalanche (x, y, task) dataset -> x [N, ...] float32, y [N] long."""
    xs, ys = [], []
    for x, y, *_ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        xs.append(x)
        ys.append(y)
    return torch.cat(xs).float(), torch.cat(ys).long()


def _from_avalanche(name: str, avalanche_benchmark, head_size: int) -> Benchmark:
    tasks = []
    for train_exp, test_exp in zip(
        avalanche_benchmark.train_stream, avalanche_benchmark.test_stream, strict=True
    ):
        x_train, y_train = _to_tensors(train_exp.dataset)
        x_test, y_test = _to_tensors(test_exp.dataset)
        classes = sorted(train_exp.classes_in_this_experience)
        tasks.append(TaskData(x_train, y_train, x_test, y_test, classes))
    return Benchmark(name, tasks, tuple(tasks[0].x_train.shape[1:]), head_size)


def split_mnist(data_dir: Path, num_tasks: int = 5) -> Benchmark:
    """Split-MNIST: 5 tasks of 2 digits (0/1, 2/3, 4/5, 6/7, 8/9), pixels in [0, 1]."""
    from avalanche.benchmarks.classic import SplitMNIST

    if num_tasks != 5:
        raise ConfigError(
            f"benchmark.num_tasks={num_tasks} is invalid: split_mnist has exactly 5 tasks."
        )
    stream = SplitMNIST(
        n_experiences=5,
        return_task_id=True,
        fixed_class_order=list(range(10)),
        class_ids_from_zero_in_each_exp=True,
        dataset_root=str(data_dir),
        train_transform=None,  # Avalanche's MNIST already yields [1, 28, 28] floats in [0, 1]
        eval_transform=None,
    )
    return _from_avalanche("split_mnist", stream, head_size=2)


def build_benchmark(cfg: BenchmarkConfig, data_dir: Path) -> Benchmark:
    """The benchmark named by ``cfg.name``, reading (or downloading) data under data_dir."""
    if cfg.name == BenchmarkName.split_mnist:
        return split_mnist(data_dir, cfg.num_tasks)
    raise ConfigError(f"benchmark.name={cfg.name.value!r} is not implemented yet.")
