"""Shared fixtures: real MNIST and CIFAR under HYPERCL_DATA_DIR (default ./data), restored
from ../shared/data if missing.

A data set that is neither there nor restorable skips the tests that need it, except with
CI=true (as GitHub Actions and most CI services set it): there it fails them, so CI cannot
pass by skipping what it was meant to run.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
RESTORE = REPO.parent / "shared" / "data" / "restore.py"


def data_dir() -> Path:
    return Path(os.environ.get("HYPERCL_DATA_DIR", REPO / "data")).resolve()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def no_data(message: str) -> None:
    """Skip the test, or fail it under CI=true (a missing data set is then an error)."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: missing data fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def restored(root: Path, markers: list[Path], datasets: list[str]) -> Path:
    """``root`` with every marker file present, restoring ``datasets`` from RESTORE if not."""
    if all(m.exists() for m in markers):
        return root
    if not RESTORE.exists():
        missing = next(m for m in markers if not m.exists())
        no_data(f"{missing} not found and no {RESTORE} to restore it from; set HYPERCL_DATA_DIR")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".restore.lock", "w") as lock:  # pytest-xdist workers restore once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(m.exists() for m in markers):  # another worker may have restored it
            subprocess.run([sys.executable, str(RESTORE), str(root), *datasets], check=True)
    return root


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """A directory holding MNIST in torchvision's layout (restored from ../shared if absent)."""
    from hypercl.data.files import DATA_FILES

    root = data_dir()
    return restored(root, [root / f for f in DATA_FILES["MNIST"]], ["mnist"])


@pytest.fixture(scope="session")
def split_mnist(mnist_dir):
    from hypercl.data.mnist import split_mnist

    return split_mnist(mnist_dir)


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """A directory holding CIFAR-10 and CIFAR-100 in torchvision's layout (python pickles),
    restored from ../shared if absent."""
    from hypercl.data.files import DATA_FILES

    root = data_dir()
    markers = [root / f for name in ("CIFAR-10", "CIFAR-100") for f in DATA_FILES[name]]
    return restored(root, markers, ["cifar10", "cifar100"])


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine two threads can stall each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
