"""The benchmark a config names, built from its data files (:mod:`hypercl.data.mnist`,
:mod:`hypercl.data.cifar`) after the files are checked (:mod:`hypercl.data.files`).

Streams come from avalanche-lib and are held as in-memory tensors.

Each task becomes a :class:`TaskData` whose tensors are moved to the training device once;
mini-batches are then indexed there, with no per-step DataLoader. Labels are *local* to the
task's head (0..head_size-1). Permuted-MNIST tasks share one copy of the padded images and
apply their pixel permutation per batch, so 100 tasks cost the memory of one. CIFAR tasks
hold uint8 images and scale, augment and normalise each batch on the training device.
"""

from __future__ import annotations

from pathlib import Path

from hypercl.config import BenchmarkConfig, BenchmarkName, ConfigError
from hypercl.data.cifar import CIFAR_STREAMS, split_cifar
from hypercl.data.files import (
    DATASETS,
    check_data_dir,
    check_mnist_labels,
    corrupt_data_files,
    corrupt_message,
    missing_data_files,
)
from hypercl.data.mnist import download_mnist, perm_mnist, split_mnist
from hypercl.data.tasks import Benchmark
from hypercl.errors import DataError, HyperclError


def build_benchmark(cfg: BenchmarkConfig, data_dir: Path, download: bool = True) -> Benchmark:
    """The benchmark named by ``cfg.name``, reading data under data_dir.

    Missing files are downloaded by torchvision if ``download``; else, or if they cannot be
    read, a :class:`DataError` says which files were looked for and how to get them.
    """
    datasets = " and ".join(DATASETS[cfg.name])
    check_data_dir(data_dir)
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
            raise DataError(corrupt_message(cfg.name, datasets, corrupt))
    try:
        if "MNIST" in DATASETS[cfg.name]:
            if missing:  # hypercl reads MNIST's files itself; torchvision only downloads
                download_mnist(data_dir)
            check_mnist_labels(data_dir)
        return _load_benchmark(cfg, data_dir)
    except HyperclError:
        raise
    except Exception as err:  # torchvision / Avalanche: failed download, unreadable file
        reason = f"{type(err).__name__}: {err}".splitlines()[0].rstrip(": ")
        corrupt = corrupt_data_files(cfg.name, data_dir)
        if corrupt:  # torchvision tried to download it again and failed
            raise DataError(corrupt_message(cfg.name, datasets, corrupt, reason)) from err
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
            cfg.normalize,
            cfg.train_subset,
            cfg.test_subset,
            cfg.data_seed,
        )
    raise ConfigError(f"benchmark.name={cfg.name.value!r} is not implemented.")
