"""The benchmark's tensors as an Avalanche scenario, for the baselines' strategies."""

from __future__ import annotations

import torch
from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from avalanche.benchmarks.scenarios.supervised import with_classes_timeline
from avalanche.benchmarks.scenarios.task_aware import with_task_labels
from avalanche.benchmarks.utils.classification_dataset import (
    _make_taskaware_tensor_classification_dataset,
)

from hypercl.data.tasks import Benchmark


class _Permute:
    """Per-sample pixel permutation of a flat image (Permuted-MNIST tasks share one tensor)."""

    def __init__(self, perm: torch.Tensor) -> None:
        self.perm = perm

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x[self.perm]


def avalanche_stream(benchmark: Benchmark, task_labels: list[int], label_offsets: list[int]):
    """The benchmark as an Avalanche scenario (``train_stream``, ``test_stream``):
    experience t holds task t's samples with task label ``task_labels[t]`` and class labels
    ``y + label_offsets[t]``. Tensors are wrapped, not copied."""

    def dataset(x, y, perm, label, offset):
        y = y.cpu() + offset
        return _make_taskaware_tensor_classification_dataset(
            x.cpu(),
            y,
            transform=None if perm is None else _Permute(perm.cpu()),
            task_labels=label,
            targets=y.tolist(),
        )

    train, test = [], []
    for task, label, offset in zip(benchmark.tasks, task_labels, label_offsets, strict=True):
        train.append(dataset(task.x_train, task.y_train, task.perm, label, offset))
        test.append(dataset(task.x_test, task.y_test, task.perm, label, offset))
    return with_classes_timeline(with_task_labels(benchmark_from_datasets(train=train, test=test)))
