"""Memory: the regularizer's state and the peak RSS growth of training steps, per
regularizer (stored/online targets, direct/fast), each measured in a fresh process."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import torch

from hypercl.bench.device import current_device, on_gpu
from hypercl.bench.presets import ROOT, load_config, make_learner
from hypercl.config import RegImpl, RegTargets


def memory_probe(num_tasks: int, targets: str, impl: str) -> dict:
    """Run in a subprocess (``--memory-probe``): peak RSS of 3 steps of the last task of
    perm_mnist (``num_tasks`` heads, random batch x [batch, 1024]), above the high-water
    mark after imports and config composition; and the regularizer's snapshot size."""
    device = current_device()
    load_config("perm_mnist10_cl1")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    learner, input_shape, batch = make_learner(
        "perm_mnist10_cl1", num_tasks, reg_targets=RegTargets(targets), reg_impl=RegImpl(impl)
    )
    learner.regularizer.snapshot(learner.hnet, num_tasks - 1)
    optimizer = learner.make_optimizer(num_tasks - 1)
    x = torch.rand(batch, *input_shape, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if on_gpu():
        torch.cuda.reset_peak_memory_stats()
        cuda_base = torch.cuda.memory_allocated()
    for _ in range(3):
        learner.train_step(num_tasks - 1, optimizer, x, y)
    state = sum(t.numel() * t.element_size() for t in learner.regularizer.snap.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"state_mb": state / 2**20, "peak_rss_increase_mb": (peak - base) / 1024,
           "base_rss_mb": base / 1024}  # fmt: skip
    if on_gpu():  # GPU memory above what model, snapshot and batch hold
        out["peak_cuda_increase_mb"] = (torch.cuda.max_memory_allocated() - cuda_base) / 2**20
    return out


def bench_memory(rows: list[dict], task_counts: list[int]) -> None:
    """:func:`memory_probe` for each number of tasks and regularizer, each in a fresh
    process (peak RSS holds for a whole process). Appends rows of section "memory"."""
    for num_tasks in task_counts:
        for targets, impl in (("stored", "direct"), ("online", "direct"), ("stored", "fast"),
                              ("online", "fast")):  # fmt: skip
            out = subprocess.run(
                [sys.executable, "-m", "hypercl.bench", "--memory-probe", str(num_tasks),
                 targets, impl, "--device", current_device().type],
                cwd=ROOT, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            probe = json.loads(out.strip().splitlines()[-1])
            rows.append({"section": "memory", "setting": f"perm_mnist {num_tasks} tasks",
                         "variant": f"{targets} targets, {impl}", "threads": 0,
                         **probe})  # fmt: skip
