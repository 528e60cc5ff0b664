"""Shared fixtures: real MNIST under HYPERCL_DATA_DIR (default ./data), restored if missing."""

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


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """A directory holding MNIST in torchvision's layout (restored from ../shared if absent)."""
    root = data_dir()
    marker = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    if not marker.exists():
        if not RESTORE.exists():
            pytest.skip(f"MNIST not found under {root} and no {RESTORE} to restore it from")
        root.mkdir(parents=True, exist_ok=True)
        with open(root / ".restore.lock", "w") as lock:  # pytest-xdist workers restore once
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not marker.exists():  # another worker may have restored it meanwhile
                subprocess.run([sys.executable, str(RESTORE), str(root), "mnist"], check=True)
    return root


@pytest.fixture(scope="session")
def split_mnist(mnist_dir):
    from hypercl.benchmarks import split_mnist

    return split_mnist(mnist_dir)


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """A directory holding CIFAR-10 and CIFAR-100 in torchvision's layout (python pickles)."""
    root = data_dir()
    for sub in ("cifar-10-batches-py", "cifar-100-python"):
        if not (root / sub).is_dir():
            pytest.skip(f"{sub} not found under {root}; set HYPERCL_DATA_DIR")
    return root


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine two threads can stall each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
