"""EWC's per-sample Fisher: ``torch.func.vmap`` against the outer-product form of nn.Linear.

The Fisher that EWC and online EWC store after a task (:class:`FisherEWCPlugin`,
``method.fisher_batch_size=1``) is the mean over the task's N samples of each squared
per-sample gradient (true labels), per parameter. Two exact implementations, in blocks
of B samples (the plugin's ``vmap_block``)::

    per_sample_fisher:  g = vmap(grad(loss_n))      # [B, *param] for every parameter
                        F += sum_n g_n^2
    linear_fisher:      one backward of sum_n loss_n; per nn.Linear y = W a + b
                        F_W += (d^2)^T (a^2)        # d = dloss/dy [B, out], a [B, in]
                        F_b += sum_n d_n^2

Both are timed on the same N samples of task 1 of a preset's real MNIST, through the
Avalanche dataset the baseline trains on (its DataLoader's per-sample loading is part of
both times; "data loading" times it alone), with the model the baseline builds for
``method=ewc`` (``Baseline.new_model``: Split-MNIST's multi-head 400-400 MLP, Permuted-
MNIST's 1000-1000 MLP), trained a few Adam steps on the task first so that its gradients
are not those of the initialisation. The per-task cost is extrapolated linearly from N
samples to the task's training-set size (the cost per block is the same; the last block
may be partial). ``max_rel_diff`` is the largest, over parameters, of
max |F_linear - F_vmap| / max |F_vmap|.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from hypercl.bench.device import current_device
from hypercl.bench.presets import load_config
from hypercl.bench.timing import interleaved_medians
from hypercl.data.benchmarks import build_benchmark
from hypercl.methods.avalanche_plugins import (
    FisherEWCPlugin,
    linear_fisher,
    only_linear_params,
    per_sample_fisher,
)
from hypercl.methods.baselines import Baseline

# preset: samples timed (the vmap side takes a few seconds on one CPU core)
FISHER_SAMPLES = {"split_mnist_cl1": 2048, "perm_mnist10_cl1": 1024}
VARIANTS = {"vmap": per_sample_fisher, "linear": linear_fisher}


def fisher_inputs(
    experiment: str,
    samples: int,
    train_steps: int = 20,
    data_dir: str | None = None,
) -> tuple[nn.Module, nn.Module, object, int]:
    """(model, criterion, dataset of ``samples`` training samples of task 1 spread evenly
    over it (all its classes), the task's training-set size) of the baseline of
    ``experiment`` with ``method=ewc``, its model trained ``train_steps`` Adam steps
    (batches of the preset's size) on task 1. Seeded with 0; the model on the benchmark's
    device (:func:`current_device`), the dataset on the CPU (as the baseline's)."""
    cfg = load_config(experiment, "method=ewc", *([f"data_dir={data_dir}"] if data_dir else []))
    benchmark = build_benchmark(cfg.benchmark, Path(cfg.data_dir), download=False)
    torch.manual_seed(0)
    device = current_device()
    baseline = Baseline(cfg, benchmark, device)
    model = baseline.new_model()
    criterion = baseline.make_strategy(model)._criterion
    task = baseline.experiences[0].dataset
    keep = torch.linspace(0, len(task) - 1, samples).long().tolist()
    dataset = task.subset(keep)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    gen = torch.Generator().manual_seed(0)
    for _ in range(train_steps):
        idx = torch.randint(len(task), (cfg.train.batch_size,), generator=gen).tolist()
        x, y, t = task.collate_fn([task[i] for i in idx])
        optimizer.zero_grad()
        criterion(model(x.to(device), int(t[0])), y.to(device)).backward()
        optimizer.step()
    return model, criterion, dataset, len(task)


def max_rel_diff(result: dict, reference: dict) -> float:
    """Largest, over parameters, of max |result - reference| / max |reference| (0 for a
    parameter whose reference is all zero and result equal, inf if not equal)."""
    worst = 0.0
    for name, ref in reference.items():
        err = (result[name].data - ref.data).abs().max().item()
        scale = ref.data.abs().max().item()
        worst = max(worst, err / scale if scale > 0 else (0.0 if err == 0 else float("inf")))
    return worst


def _closures(model: nn.Module, criterion, dataset, block: int) -> dict:
    """The closures timed: each implementation, and the data loading alone."""
    device = current_device()
    loader = torch.utils.data.DataLoader(dataset, batch_size=block, collate_fn=dataset.collate_fn)
    fns = {name: (lambda fn=fn: fn(model, criterion, dataset, device, block))
           for name, fn in VARIANTS.items()}  # fmt: skip
    fns["data loading"] = lambda: [batch for batch in loader]
    return fns


def bench_fisher(
    repeats: int,
    rows: list[dict],
    samples: dict[str, int] | None = None,
    block: int | None = None,
    data_dir: str | None = None,
    train_steps: int = 20,
) -> None:
    """Per preset of ``samples`` (default :data:`FISHER_SAMPLES`): median seconds of each
    implementation on the same samples (interleaved; and of the data loading alone), per
    sample, extrapolated to the task, and their ratio (rows "fisher", "fisher_ratio").
    ``block``: samples per backward (default: the plugin's ``vmap_block``)."""
    block = block or FisherEWCPlugin(1.0).vmap_block
    threads, device = torch.get_num_threads(), current_device()
    for experiment, n in (samples or FISHER_SAMPLES).items():
        model, criterion, dataset, task_samples = fisher_inputs(
            experiment, n, train_steps, data_dir
        )
        assert only_linear_params(model)  # the plugin picks linear_fisher for this model
        results = {
            name: fn(model, criterion, dataset, device, block) for name, fn in VARIANTS.items()
        }
        diff = max_rel_diff(results["linear"], results["vmap"])
        seconds = interleaved_medians(_closures(model, criterion, dataset, block), repeats)
        for name, sec in seconds.items():
            rows.append({"section": "fisher", "setting": experiment, "threads": threads,
                         "samples": n, "block": block, "variant": name, "seconds": sec,
                         "ms_per_sample": 1e3 * sec / n, "task_samples": task_samples,
                         "task_seconds": sec / n * task_samples,
                         "max_rel_diff": diff if name == "linear" else None})  # fmt: skip
        rows.append({"section": "fisher_ratio", "setting": experiment, "threads": threads,
                     "samples": n, "variant": "vmap/linear",
                     "ratio": seconds["vmap"] / seconds["linear"]})  # fmt: skip


def fisher_notes(load: float) -> list[str]:
    """The notes of results/bench_fisher.md; ``load``: the load average at the start."""
    notes = [
        "EWC's per-sample Fisher (hypercl.bench.fisher): the mean over a task's samples of "
        "each squared per-sample gradient, true labels, as FisherEWCPlugin computes it after "
        "each task of ewc / online_ewc (method.fisher_batch_size=1, the default). vmap: "
        "per_sample_fisher (torch.func.vmap of torch.func.grad, B per-sample gradients of "
        "the whole network per block); linear: linear_fisher (one backward per block, "
        "(d^2)^T (a^2) per nn.Linear; what the plugin uses for the MLP baselines); data "
        "loading: the same DataLoader over the Avalanche dataset alone (included in both). "
        "Blocks of 256 samples (the plugin's vmap_block).",
        "Models: Baseline.new_model of method=ewc (split_mnist_cl1: 784-400-400 MLP with a "
        "2-unit head per task; perm_mnist10_cl1: 1024-1000-1000 with a 10-unit head per "
        "task), trained 20 Adam steps on task 1; the N samples are spread evenly over task "
        "1's training set. task_seconds = seconds / N x task_samples. max_rel_diff: over "
        "parameters, max |F_linear - F_vmap| / max |F_vmap|.",
    ]
    if load >= 1:
        notes.append(
            f"Other jobs ran on this machine (load {load:.1f} on {os.cpu_count()} cores): "
            "every time is inflated. With more runnable threads than cores, a 2-thread "
            "op waits for its descheduled OpenMP peer, which costs linear_fisher's few short "
            "ops far more than vmap's long ones: 2-thread times and ratios from such a run "
            "measure the contention, not the implementations; the 1-thread ones hold."
        )
    return notes
