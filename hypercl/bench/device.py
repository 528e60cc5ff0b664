"""The device the benchmark runs on (``--device``), and a barrier for host-side clocks."""

from __future__ import annotations

import torch

_device = torch.device("cpu")


def use_device(name: str) -> None:
    """Run every later benchmark on ``name`` ("cpu" or "cuda")."""
    global _device
    _device = torch.device(name)


def current_device() -> torch.device:
    """The device set by :func:`use_device` (the CPU until then)."""
    return _device


def on_gpu() -> bool:
    return _device.type == "cuda"


def sync() -> None:
    """Wait for the device, so a host clock measures finished work."""
    if _device.type == "cuda":
        torch.cuda.synchronize()
