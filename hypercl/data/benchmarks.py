"""Continual-learning streams from avalanche-lib, held as in-memory tensors.

Each task becomes a :class:`TaskData` whose tensors are moved to the training device once;
mini-batches are then indexed there, with no per-step DataLoader. Labels are *local* to the
task's head (0..head_size-1). Permuted-MNIST tasks share one copy of the padded images and
apply their pixel permutation per batch, so 100 tasks cost the memory of one. CIFAR tasks
hold uint8 images and scale, augment and normalise each batch on the training device.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from hypercl.data.augment import random_crop_flip
from hypercl.config import BenchmarkConfig, BenchmarkName, ConfigError
from hypercl.errors import DataError, HyperclError


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
    tasks = [
        _experience_tensors(train_exp, test_exp)
        for train_exp, test_exp in zip(stream.train_stream, stream.test_stream, strict=True)
    ]
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


def perm_mnist(
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


CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


@dataclass
class ImageTaskData(TaskData):
    """A task of uint8 images x_* [N, C, H, W]: batches come out float32 and normalised.

    Storing uint8 costs a quarter of float32 (CIFAR-10: 150 MB instead of 600 MB). Each
    batch is scaled to [0, 1], augmented if ``augment`` (training batches only, on their
    device, see :func:`hypercl.data.augment.random_crop_flip`) and normalised per channel.
    """

    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    augment: bool = False

    def _to_float(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """uint8 [B, C, H, W] -> normalised float32 [B, C, H, W]."""
        x = x.float().div_(255)
        if train and self.augment:
            x = random_crop_flip(x, padding=4)
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
    train_subset: int | None = None,
    test_subset: int | None = None,
    data_seed: int = 42,
) -> Benchmark:
    """A CIFAR benchmark: the first ``num_tasks`` experiences of its stream, labels local.

    Images are held as uint8 and normalised per batch (CIFAR-10's channel statistics for
    ``split_cifar10`` and ``split_cifar10_100``, whose first and largest task is CIFAR-10;
    CIFAR-100's for ``split_cifar100``). ``train_subset`` / ``test_subset`` keep that many
    random images per task (drawn from ``data_seed``), for quick runs.
    """
    n_exp, head_size = CIFAR_STREAMS[name]
    if not 1 <= num_tasks <= n_exp:
        raise ConfigError(
            f"benchmark.num_tasks={num_tasks} is invalid: {name.value} has 1 to {n_exp} tasks."
        )
    stream = cifar_stream(name, data_dir)
    mean, std = (
        (CIFAR100_MEAN, CIFAR100_STD)
        if name == BenchmarkName.split_cifar100
        else (CIFAR10_MEAN, CIFAR10_STD)
    )
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


# Files that torchvision reads, per data set, relative to data_dir (its own layout).
DATA_FILES = {
    "MNIST": [
        f"MNIST/raw/{name}"
        for name in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    ],
    "CIFAR-10": [
        f"cifar-10-batches-py/{name}"
        for name in (
            "data_batch_1",
            "data_batch_2",
            "data_batch_3",
            "data_batch_4",
            "data_batch_5",
            "test_batch",
            "batches.meta",
        )  # fmt: skip
    ],
    "CIFAR-100": [f"cifar-100-python/{name}" for name in ("train", "test", "meta")],
}
DATASETS = {
    BenchmarkName.split_mnist: ["MNIST"],
    BenchmarkName.perm_mnist: ["MNIST"],
    BenchmarkName.split_cifar10: ["CIFAR-10"],
    BenchmarkName.split_cifar100: ["CIFAR-100"],
    BenchmarkName.split_cifar10_100: ["CIFAR-10", "CIFAR-100"],
}


def missing_data_files(name: BenchmarkName, data_dir: Path) -> list[Path]:
    """The files a benchmark reads that are not under ``data_dir``."""
    paths = [data_dir / f for dataset in DATASETS[name] for f in DATA_FILES[dataset]]
    return [p for p in paths if not p.is_file()]


def _cifar_md5s() -> dict[str, str]:
    """CIFAR file (relative to data_dir) -> the md5 torchvision checks it against."""
    from torchvision.datasets import CIFAR10, CIFAR100

    md5s = {}
    for cls in (CIFAR10, CIFAR100):
        for filename, md5 in [*cls.train_list, *cls.test_list, (cls.meta["filename"], None)]:
            md5s[f"{cls.base_folder}/{filename}"] = md5 or cls.meta["md5"]
    return md5s


def corrupt_data_files(name: BenchmarkName, data_dir: Path) -> list[Path]:
    """The CIFAR files of a benchmark that exist under ``data_dir`` but fail torchvision's
    md5 check (truncated or altered). torchvision would try to download those again."""
    from torchvision.datasets.utils import check_integrity

    md5s = _cifar_md5s()
    paths = [
        (data_dir / f, md5s[f])
        for dataset in DATASETS[name]
        for f in DATA_FILES[dataset]
        if f in md5s
    ]
    return [p for p, md5 in paths if p.is_file() and not check_integrity(str(p), md5)]


MNIST_NUM_CLASSES = 10


def check_mnist_labels(data_dir: Path) -> None:
    """Raise a DataError if an MNIST label file is malformed or holds a label outside
    [0, 10). Avalanche would silently drop the samples of an unknown class."""
    for split in ("train", "t10k"):
        path = data_dir / "MNIST" / "raw" / f"{split}-labels-idx1-ubyte"
        if not path.is_file():
            continue  # missing: reported (or downloaded) elsewhere
        data = path.read_bytes()
        count = int.from_bytes(data[4:8], "big") if len(data) >= 8 else -1
        if len(data) < 8 or int.from_bytes(data[:4], "big") != 2049:
            problem = "does not start with the header of an MNIST label file"
        elif len(data) - 8 != count:
            problem = f"holds {len(data) - 8} labels but its header announces {count}"
        else:
            labels = np.frombuffer(data, dtype=np.uint8, offset=8)
            bad = labels >= MNIST_NUM_CLASSES
            if not bad.any():
                continue
            problem = (
                f"has {int(bad.sum())} label(s) outside [0, {MNIST_NUM_CLASSES}) "
                f"(e.g. {int(labels[bad][0])})"
            )
        raise DataError(
            f"{path} {problem}: the file is corrupt. Delete {data_dir / 'MNIST'} and run with "
            "data_download=true to download MNIST again, or copy an intact file there."
        )


def _check_data_dir(data_dir: Path) -> None:
    """A DataError if data_dir, or the closest of its parents that exists, is not a folder."""
    for path in (data_dir, *data_dir.parents):
        if path.exists():
            if not path.is_dir():
                raise DataError(
                    f"data_dir={data_dir} is invalid: {path} is a file, not a directory. "
                    "Point data_dir (or $HYPERCL_DATA_DIR) to the directory that holds the data "
                    "sets (or where they should be downloaded)."
                )
            return


def build_benchmark(cfg: BenchmarkConfig, data_dir: Path, download: bool = True) -> Benchmark:
    """The benchmark named by ``cfg.name``, reading data under data_dir.

    Missing files are downloaded by torchvision if ``download``; else, or if they cannot be
    read, a :class:`DataError` says which files were looked for and how to get them.
    """
    datasets = " and ".join(DATASETS[cfg.name])
    _check_data_dir(data_dir)
    missing = missing_data_files(cfg.name, data_dir)
    if missing and not download:
        raise DataError(
            f"{cfg.name.value} needs {datasets} in torchvision's layout under {data_dir}, but "
            f"{len(missing)} file(s) are missing, e.g. {missing[0]}. Copy the files there, point "
            "data_dir (or $HYPERCL_DATA_DIR) to where they are, or set data_download=true to "
            "let torchvision download them."
        )
    if not download:  # torchvision would download a file that fails its md5 check again
        corrupt = corrupt_data_files(cfg.name, data_dir)
        if corrupt:
            raise DataError(_corrupt_message(cfg.name, datasets, corrupt))
    if "MNIST" in DATASETS[cfg.name]:
        check_mnist_labels(data_dir)
    try:
        return _load_benchmark(cfg, data_dir)
    except HyperclError:
        raise
    except Exception as err:  # torchvision / Avalanche: failed download, unreadable file
        reason = f"{type(err).__name__}: {err}".splitlines()[0].rstrip(": ")
        corrupt = corrupt_data_files(cfg.name, data_dir)
        if corrupt:  # torchvision tried to download it again and failed
            raise DataError(_corrupt_message(cfg.name, datasets, corrupt, reason)) from err
        raise DataError(
            f"could not load {datasets} for {cfg.name.value} from {data_dir} ({reason}). "
            + (
                "The files are missing and could not be downloaded: copy them there or set "
                "data_dir to where they are."
                if missing
                else "The files may be corrupt or incomplete: delete them and run again with "
                "data_download=true, or copy intact ones there."
            )
        ) from err


def _corrupt_message(
    name: BenchmarkName, datasets: str, corrupt: list[Path], reason: str | None = None
) -> str:
    """One line naming the corrupt files and the two ways to get intact ones."""
    shown = ", ".join(str(p) for p in corrupt[:3]) + (" ..." if len(corrupt) > 3 else "")
    folders = " and ".join(sorted({str(p.parent) for p in corrupt}))
    tried = f" (a new download failed: {reason})" if reason else ""
    return (
        f"{name.value} cannot use {datasets}: {len(corrupt)} file(s) are corrupt or incomplete "
        f"(md5 mismatch): {shown}{tried}. Delete {folders} and run with data_download=true to "
        "download it again, or copy intact files there."
    )


def _load_benchmark(cfg: BenchmarkConfig, data_dir: Path) -> Benchmark:
    if cfg.name == BenchmarkName.split_mnist:
        return split_mnist(data_dir, cfg.num_tasks)
    if cfg.name == BenchmarkName.perm_mnist:
        return perm_mnist(
            data_dir, cfg.num_tasks, cfg.data_seed, cfg.padding, cfg.permute_first_task
        )
    if cfg.name in CIFAR_STREAMS:
        return split_cifar(
            cfg.name,
            data_dir,
            cfg.num_tasks,
            cfg.augment,
            cfg.train_subset,
            cfg.test_subset,
            cfg.data_seed,
        )
    raise ConfigError(f"benchmark.name={cfg.name.value!r} is not implemented.")
