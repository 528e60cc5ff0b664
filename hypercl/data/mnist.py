"""Split-MNIST and Permuted-MNIST (the paper's protocol: padded to 32x32, flattened,
one fixed pixel permutation per task) as float tensors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hypercl.config import ConfigError
from hypercl.data.tasks import Benchmark, TaskData


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file (MNIST's format: magic, sizes, then uint8 data) as a uint8 tensor."""
    data = path.read_bytes()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim)]
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return torch.from_numpy(values.reshape(shape).copy())


def read_mnist(data_dir: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """MNIST from torchvision's layout under data_dir, read directly (no dataset objects):
    {"train" | "test": (images uint8 [N, 28, 28], labels long [N])}."""
    raw = data_dir / "MNIST" / "raw"
    return {
        split: (
            read_idx(raw / f"{prefix}-images-idx3-ubyte"),
            read_idx(raw / f"{prefix}-labels-idx1-ubyte").long(),
        )
        for split, prefix in (("train", "train"), ("test", "t10k"))
    }


def download_mnist(data_dir: Path) -> None:
    """Let torchvision download MNIST into data_dir (only called when files are missing)."""
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(data_dir), train=train, download=True)


def _as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [0, 1] (torchvision's ToTensor)."""
    return images.unsqueeze(1).float().div_(255)


def split_mnist(data_dir: Path, num_tasks: int = 5) -> Benchmark:
    """Split-MNIST: 5 tasks of 2 digits (0/1, 2/3, 4/5, 6/7, 8/9), pixels in [0, 1].

    Samples are ordered as Avalanche's ``SplitMNIST`` orders them (tested equal): a task's
    first class, then its second, each in the files' order; labels local (0, 1).
    """
    if num_tasks != 5:
        raise ConfigError(
            f"benchmark.num_tasks={num_tasks} is invalid: split_mnist has exactly 5 tasks."
        )
    mnist = read_mnist(data_dir)

    def task_split(split: str, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = mnist[split]
        idx = torch.cat([(labels == c).nonzero().flatten() for c in (2 * t, 2 * t + 1)])
        return _as_float(images[idx]), labels[idx] - 2 * t

    tasks = [TaskData(*task_split("train", t), *task_split("test", t)) for t in range(5)]
    return Benchmark("split_mnist", tasks, tuple(tasks[0].x_train.shape[1:]), head_size=2)


def pixel_permutations(
    num_tasks: int, num_pixels: int, data_seed: int, permute_first_task: bool = False
) -> list[torch.Tensor | None]:
    """One pixel permutation [num_pixels] per task (None: identity), from ``data_seed``.

    Paper protocol: task 1 is unpermuted and tasks 2..N draw from
    ``np.random.RandomState(data_seed)``, so the first k permutations do not depend on N.
    With ``permute_first_task`` every task draws one, as Avalanche's ``PermutedMNIST`` does.
    """
    rng = np.random.RandomState(data_seed)
    perms: list[torch.Tensor | None] = [] if permute_first_task else [None]
    while len(perms) < num_tasks:
        perms.append(torch.from_numpy(rng.permutation(num_pixels)).long())
    return perms[:num_tasks]


class PadFlattenPermute:
    """[1, 28, 28] image -> zero-padded by ``padding`` on each side, flat, permuted: [D]."""

    def __init__(self, padding: int, perm: torch.Tensor | None) -> None:
        self.padding, self.perm = padding, perm

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, [self.padding] * 4).flatten()
        return x if self.perm is None else x[self.perm]


def perm_mnist(
    data_dir: Path,
    num_tasks: int = 10,
    data_seed: int = 42,
    padding: int = 2,
    permute_first_task: bool = False,
) -> Benchmark:
    """Permuted-MNIST-N (van Oswald et al. protocol by default), 10 classes per task.

    The padded images [N, side * side] are loaded once, grouped by class (as Avalanche's
    stream of an unpermuted task gives them, tested equal); each task applies its own
    permutation (see :func:`pixel_permutations`) per batch.
    """
    side = 28 + 2 * padding
    perms = pixel_permutations(num_tasks, side * side, data_seed, permute_first_task)
    mnist = read_mnist(data_dir)

    def padded(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = mnist[split]
        order = torch.argsort(labels, stable=True)  # grouped by class, as Avalanche's stream
        return F.pad(_as_float(images[order]), [padding] * 4).flatten(1), labels[order]

    plain = TaskData(*padded("train"), *padded("test"))
    tasks = [replace(plain, perm=perm) for perm in perms]
    return Benchmark("perm_mnist", tasks, (side * side,), head_size=10)
