"""Split-CIFAR-10/100 as uint8 image tensors, normalised and augmented per batch."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from hypercl.config import BenchmarkName, ConfigError, Normalize
from hypercl.data.augment import random_crop_flip
from hypercl.data.tasks import Benchmark, TaskData

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class ImageTaskData(TaskData):
    """A task of uint8 images x_* [N, C, H, W]: batches come out float32 and normalised.

    Storing uint8 costs a quarter of float32 (CIFAR-10: 150 MB instead of 600 MB). Each
    batch is scaled to [0, 1], augmented if ``augment`` (training batches only, on their
    device, see :func:`hypercl.data.augment.random_crop_flip`) and normalised per channel
    with ``mean`` and ``std`` (none if they are empty).
    """

    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    augment: bool = False

    def _to_float(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """uint8 [B, C, H, W] -> normalised float32 [B, C, H, W]."""
        x = x.float().div_(255)
        if train and self.augment:
            x = random_crop_flip(x, padding=4)
        if not self.mean:
            return x
        mean, std = _channel_stats(self.mean, self.std, x.device)
        return (x - mean) / std

    def train_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._to_float(self.x_train[idx], train=True), self.y_train[idx]

    def test_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.y_test), batch_size):
            end = start + batch_size
            yield self._to_float(self.x_test[start:end], train=False), self.y_test[start:end]


@functools.lru_cache(maxsize=16)
def _channel_stats(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std as [1, C, 1, 1] tensors on ``device``, made once (a fresh
    host-to-device copy every batch would stall the GPU)."""
    return (
        torch.tensor(mean, device=device).view(1, -1, 1, 1),
        torch.tensor(std, device=device).view(1, -1, 1, 1),
    )


class PILToUint8:
    """PIL image [H, W, C] -> uint8 tensor [C, H, W] (no scaling; that happens per batch)."""

    def __call__(self, image) -> torch.Tensor:
        return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)


def _to_uint8_tensors(dataset, batch_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """An Avalanche image dataset (with :class:`PILToUint8`) -> x [N, C, H, W] uint8, y [N]."""
    xs, ys = [], []
    for x, y, *_ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        xs.append(x)
        ys.append(y)
    return torch.cat(xs), torch.cat(ys).long()


def local_labels(y: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """Stream class ids y [N] -> position of each in sorted ``classes``: [N] in 0..len-1."""
    table = torch.full((max(classes) + 1,), -1, dtype=torch.long)
    table[torch.tensor(sorted(classes))] = torch.arange(len(classes))
    local = table[y]
    if (local < 0).any():
        raise ValueError(f"labels outside the experience's classes {sorted(classes)}")
    return local


def _random_subset(x: torch.Tensor, y: torch.Tensor, n: int | None, gen: torch.Generator):
    """At most n random rows of (x, y), kept in their original order."""
    if n is None or n >= len(y):
        return x, y
    keep = torch.randperm(len(y), generator=gen)[:n].sort().values
    return x[keep], y[keep]


CIFAR_STREAMS = {  # name -> (experiences in the full stream, classes per task)
    BenchmarkName.split_cifar10_100: (11, 10),
    BenchmarkName.split_cifar10: (5, 2),
    BenchmarkName.split_cifar100: (10, 10),
}


def cifar_stream(name: BenchmarkName, data_dir: Path):
    """The Avalanche stream behind a CIFAR benchmark, class order fixed (0, 1, 2, ...).

    ``split_cifar10_100`` is ``SplitCIFAR110``: experience 1 is all of CIFAR-10 and
    experience k > 1 holds CIFAR-100 classes 10(k-2)..10(k-2)+9, with stream class ids
    offset by 10. Task labels are the experience index (CL1); labels are made local per head
    by :func:`local_labels` in :func:`split_cifar`.
    """
    from avalanche.benchmarks.classic import SplitCIFAR10, SplitCIFAR100, SplitCIFAR110

    n_exp, _ = CIFAR_STREAMS[name]
    to_uint8 = {"train_transform": PILToUint8(), "eval_transform": PILToUint8()}
    if name == BenchmarkName.split_cifar10_100:
        return SplitCIFAR110(
            n_experiences=n_exp,
            fixed_class_order=list(range(100)),
            dataset_root_cifar10=str(data_dir),
            dataset_root_cifar100=str(data_dir),
            **to_uint8,
        )
    split = SplitCIFAR10 if name == BenchmarkName.split_cifar10 else SplitCIFAR100
    return split(
        n_experiences=n_exp,
        return_task_id=True,
        fixed_class_order=list(range(10 if name == BenchmarkName.split_cifar10 else 100)),
        dataset_root=str(data_dir),
        **to_uint8,
    )


def split_cifar(
    name: BenchmarkName,
    data_dir: Path,
    num_tasks: int,
    augment: bool = False,
    normalize: Normalize = Normalize.dataset,
    train_subset: int | None = None,
    test_subset: int | None = None,
    data_seed: int = 42,
) -> Benchmark:
    """A CIFAR benchmark: the first ``num_tasks`` experiences of its stream, labels local.

    Images are held as uint8 and normalised per batch as ``normalize`` says (``dataset``:
    CIFAR-10's channel statistics for ``split_cifar10`` and ``split_cifar10_100``, whose first
    and largest task is CIFAR-10, CIFAR-100's for ``split_cifar100``; ``imagenet``; ``none``:
    [0, 1] only). ``train_subset`` / ``test_subset`` keep that many random images per task
    (drawn from ``data_seed``), for quick runs.
    """
    n_exp, head_size = CIFAR_STREAMS[name]
    if not 1 <= num_tasks <= n_exp:
        raise ConfigError(
            f"benchmark.num_tasks={num_tasks} is invalid: {name.value} has 1 to {n_exp} tasks."
        )
    stream = cifar_stream(name, data_dir)
    mean, std = {
        Normalize.dataset: (CIFAR100_MEAN, CIFAR100_STD)
        if name == BenchmarkName.split_cifar100
        else (CIFAR10_MEAN, CIFAR10_STD),
        Normalize.imagenet: (IMAGENET_MEAN, IMAGENET_STD),
        Normalize.none: ((), ()),
    }[normalize]
    gen = torch.Generator().manual_seed(data_seed)
    tasks: list[TaskData] = []
    for t in range(num_tasks):
        train_exp, test_exp = stream.train_stream[t], stream.test_stream[t]
        classes = list(train_exp.classes_in_this_experience)
        x_train, y_train = _random_subset(*_to_uint8_tensors(train_exp.dataset), train_subset, gen)
        x_test, y_test = _random_subset(*_to_uint8_tensors(test_exp.dataset), test_subset, gen)
        tasks.append(
            ImageTaskData(
                x_train,
                local_labels(y_train, classes),
                x_test,
                local_labels(y_test, classes),
                mean=mean,
                std=std,
                augment=augment,
            )
        )
    return Benchmark(name.value, tasks, tuple(tasks[0].x_train.shape[1:]), head_size=head_size)
