"""Where a run runs: device, hardware, threads' memory tuning, seeds, package versions, git
commit."""

from __future__ import annotations

import ctypes
import os
import platform
import random
import re
import subprocess
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch

from hypercl.config import Device
from hypercl.errors import ConfigError


def resolve_device(device: Device) -> torch.device:
    """``auto`` picks CUDA when available, else the CPU."""
    if device == Device.auto:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == Device.cuda and not torch.cuda.is_available():
        raise ConfigError("device='cuda' is invalid: no CUDA device is visible; use device=cpu.")
    return torch.device(device.value)


def hardware_name(device: torch.device) -> str:
    """The CPU's model name (``/proc/cpuinfo``), with the GPU's name first on CUDA:
    ``"NVIDIA H200 (host CPU: AMD EPYC 9454)"``. Two CPU kinds can round differently, so
    results are bit-identical only on the same kind (docs/checkpoints.md, Determinism)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (host CPU: {cpu})"
    return cpu


def package_versions() -> dict[str, str | None]:
    """Versions of python and of the libraries a result depends on."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name, dist in [
        ("torch", "torch"),
        ("avalanche", "avalanche-lib"),
        ("hydra", "hydra-core"),
        ("wandb", "wandb"),
        ("hypercl", "hypercl"),
    ]:
        try:
            found[name] = version(dist)
        except PackageNotFoundError:
            found[name] = None
    return found


CODE_PATHS = ("hypercl", "conf", "scripts", "pyproject.toml")


def git_commit() -> str | None:
    """The commit of the hypercl checkout, or None.

    The suffix ``-dirty`` means uncommitted changes to code or configs (results files that a
    benchmark is writing do not count). ``$HYPERCL_GIT_COMMIT``, if set, is returned as it
    is: for a copy of the checkout that has no git history of its own (a remote machine).
    """
    if os.environ.get("HYPERCL_GIT_COMMIT"):
        return os.environ["HYPERCL_GIT_COMMIT"]
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the OS.

    A training step allocates and frees temporaries of several MB (generated weights,
    gradients, Gram inputs). By default glibc serves such blocks with fresh ``mmap``s, so
    every step page-faults them in again (thousands of faults per step; ``scripts/bench.py``,
    "allocator", measures faults and step time with and without this). Blocks up to 32 MB now come
    from the heap, which is never trimmed. No-op off glibc or with HYPERCL_MALLOC_TUNING=0;
    returns whether it applied.
    """
    if os.environ.get("HYPERCL_MALLOC_TUNING", "1") == "0" or platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # <malloc.h>
    return bool(
        libc.mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's maximum
        and libc.mallopt(m_trim_threshold, 2**31 - 1)
        and libc.mallopt(m_top_pad, 64 * 2**20)
    )


# Warnings every run of some method prints that say nothing about the run, each as
# (message, category, module that warns). Avalanche's EvaluationPlugin warns that it has no
# loggers: the baselines give it none on purpose (the experiment loop does the logging).
KNOWN_WARNINGS = [
    (
        "No loggers specified, metrics will not be logged",
        UserWarning,
        "avalanche.training.plugins.evaluation",
    ),
]


def silence_known_warnings() -> None:
    """Ignore exactly the :data:`KNOWN_WARNINGS` (whole message, category and module);
    every other warning still shows."""
    for message, category, module in KNOWN_WARNINGS:
        warnings.filterwarnings(
            "ignore", re.escape(message) + "$", category, re.escape(module) + "$"
        )


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; returns the CPU generator for data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def environment_fields(
    device: torch.device, hardware: str, commit: str | None, fingerprint: str
) -> dict:
    """Where and with what the run ran: device, ``hardware`` (:func:`hardware_name`;
    ``"start+resume"`` for a run resumed on other hardware), threads, package versions,
    git commit, and ``fingerprint`` of the code that can change a number
    (:mod:`hypercl.fingerprint`)."""
    return {
        "device": str(device),
        "hardware": hardware,
        "num_threads": torch.get_num_threads(),
        "versions": package_versions(),
        "git_commit": commit,
        "code_fingerprint": fingerprint,
    }
