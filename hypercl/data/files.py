"""Files of the data sets: where torchvision keeps them, and checks that say which one
is missing, corrupt or wrong before any loading starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hypercl.config import BenchmarkName
from hypercl.errors import DataError

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


def check_data_dir(data_dir: Path) -> None:
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


def corrupt_message(
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
