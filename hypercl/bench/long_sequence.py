"""Permuted-MNIST-100's training step against the number of previous tasks: does a step stay
flat over a long sequence (issue target: task 100 within 1.5x of task 2), with the
regularizer over every previous task or over a random subset (``method.reg_subset``)?"""

from __future__ import annotations

import torch

from hypercl.bench.device import current_device
from hypercl.bench.presets import make_learner
from hypercl.bench.timing import interleaved_medians

PRESET = "perm_mnist100_cl1"
NUM_TASKS = 100


def long_step(num_prev: int, subset: int | None):
    """A closure doing one training step of task ``num_prev + 1`` of ``perm_mnist100_cl1``
    (100 heads), ``num_prev`` earlier tasks in the regularizer, ``subset`` of them drawn per
    step (None: all). Random batch x [128, 1024], y [128]."""
    device = current_device()
    learner, input_shape, batch = make_learner(PRESET, NUM_TASKS, reg_subset=subset)
    learner.regularizer.snapshot(learner.hnet, num_prev)
    optimizer = learner.make_optimizer(num_prev)
    x = torch.rand(batch, *input_shape, device=device)
    y = torch.randint(0, learner.heads.head_size, (batch,), device=device)
    return lambda: learner.train_step(num_prev, optimizer, x, y)


def bench_long_sequence(
    repeats: int,
    rows: list[dict],
    prev_tasks: tuple[int, ...] = (0, 1, 8, 32, 99),
    subsets: tuple[int | None, ...] = (8, 32, None),
) -> None:
    """Step seconds per (subset, previous tasks), the previous-task counts of one subset
    timed interleaved; ``ratio_to_task2``: over the step with 1 previous task (task 2).
    Appends rows of section "long_sequence"."""
    for subset in subsets:
        steps = {n: long_step(n, subset) for n in prev_tasks}
        medians = interleaved_medians(steps, repeats)
        for n, seconds in medians.items():
            rows.append({
                "section": "long_sequence", "setting": PRESET,
                "variant": f"reg_subset={subset}" if subset else "all previous tasks",
                "threads": torch.get_num_threads(), "previous_tasks": n, "task": n + 1,
                "seconds": seconds, "ratio_to_task2": seconds / medians[1],
            })  # fmt: skip
        del steps
