"""The MNIST streams as hypercl built them through Avalanche before reading the files
directly (commit 518ff40, hypercl/data/mnist.py): the reference that hypercl.data.mnist
must equal exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from hypercl.data.mnist import PadFlattenPermute, pixel_permutations
from hypercl.data.tasks import Benchmark, TaskData


def _to_tensors(dataset, batch_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """An Avalanche (x, y, task) dataset -> x [N, ...] float32, y [N] long."""
    xs, ys = [], []
    for x, y, *_ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        xs.append(x)
        ys.append(y)
    return torch.cat(xs).float(), torch.cat(ys).long()


def _experience_tensors(train_exp, test_exp) -> TaskData:
    x_train, y_train = _to_tensors(train_exp.dataset)
    x_test, y_test = _to_tensors(test_exp.dataset)
    return TaskData(x_train, y_train, x_test, y_test)


def avalanche_split_mnist(data_dir: Path, num_tasks: int = 5) -> Benchmark:
    """Split-MNIST: 5 tasks of 2 digits (0/1, 2/3, 4/5, 6/7, 8/9), pixels in [0, 1]."""
    from avalanche.benchmarks.classic import SplitMNIST

    stream = SplitMNIST(
        n_experiences=5,
        return_task_id=True,
        fixed_class_order=list(range(10)),
        class_ids_from_zero_in_each_exp=True,
        dataset_root=str(data_dir),
        train_transform=None,  # Avalanche's MNIST already yields [1, 28, 28] floats in [0, 1]
        eval_transform=None,
    )
    tasks = [
        _experience_tensors(train_exp, test_exp)
        for train_exp, test_exp in zip(stream.train_stream, stream.test_stream, strict=True)
    ]
    return Benchmark("split_mnist", tasks, tuple(tasks[0].x_train.shape[1:]), head_size=2)


def perm_mnist_stream(data_dir: Path, perms: list[torch.Tensor | None], padding: int = 2):
    """Permuted-MNIST as an Avalanche benchmark: one experience (task label t) per perm.

    Built like Avalanche's ``PermutedMNIST``, but with zero padding (28x28 -> 32x32 by
    default, input 1024) and ``None`` meaning an unpermuted task.
    """
    from avalanche.benchmarks.classic.cmnist import (
        DefaultTransformGroups,
        _make_taskaware_classification_dataset,
        get_mnist_dataset,
        make_avalanche_dataset,
        nc_benchmark,
    )

    mnist_train, mnist_test = get_mnist_dataset(str(data_dir))
    train_sets, test_sets = [], []
    for perm in perms:
        frozen = DefaultTransformGroups((PadFlattenPermute(padding, perm), None))
        for source, sets in ((mnist_train, train_sets), (mnist_test, test_sets)):
            sets.append(
                make_avalanche_dataset(
                    _make_taskaware_classification_dataset(source),
                    frozen_transform_groups=frozen,
                )
            )
    return nc_benchmark(
        train_sets,
        test_sets,
        n_experiences=len(perms),
        task_labels=True,
        shuffle=False,
        class_ids_from_zero_in_each_exp=True,
        one_dataset_per_exp=True,
        train_transform=None,
        eval_transform=None,
    )


def avalanche_perm_mnist(
    data_dir: Path,
    num_tasks: int = 10,
    data_seed: int = 42,
    padding: int = 2,
    permute_first_task: bool = False,
) -> Benchmark:
    """Permuted-MNIST-N (van Oswald et al. protocol by default), 10 classes per task.

    The padded images are loaded once through the Avalanche stream of an unpermuted task;
    each task applies its own permutation (see :func:`pixel_permutations`) per batch.
    """
    side = 28 + 2 * padding
    perms = pixel_permutations(num_tasks, side * side, data_seed, permute_first_task)
    base = perm_mnist_stream(data_dir, [None], padding)
    plain = _experience_tensors(base.train_stream[0], base.test_stream[0])
    tasks = [replace(plain, perm=perm) for perm in perms]
    return Benchmark("perm_mnist", tasks, (side * side,), head_size=10)
