"""Where a fast training step's time goes: the step built up stage by stage."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from hypercl.bench.device import current_device
from hypercl.bench.presets import SETTINGS, make_learner, steps_per_repeat
from hypercl.bench.timing import interleaved_medians
from hypercl.config import RegImpl
from hypercl.methods.lookahead import lookahead_params


def step_stages(experiment: str, num_prev: int) -> dict[str, Callable[[], object]]:
    """A fast step of task ``num_prev`` built up piece by piece: {stage name: closure doing
    that stage and all before it}; the last stage is the whole training step. The batch is
    random (x [batch, *input_shape], y [batch]); the first stage takes the target's weights
    [num_weights] as given, the hypernetwork's output for the task, detached."""
    device = current_device()
    learner, input_shape, batch = make_learner(experiment, 10, reg_impl=RegImpl.fast)
    learner.regularizer.snapshot(learner.hnet, num_prev)
    optimizer, hnet = learner.make_optimizer(num_prev), learner.hnet
    x = torch.rand(batch, *input_shape, device=device)
    y = torch.randint(0, learner.heads.head_size, (batch,), device=device)
    ids, head = torch.full((1,), num_prev, device=device), learner.heads.slice(num_prev)
    weights = hnet(ids, keep_padding=True).squeeze(0).detach().requires_grad_()

    def target_only():
        weights.grad = None
        F.cross_entropy(learner.target(x, weights)[:, head], y).backward()

    def task_loss():
        optimizer.zero_grad(set_to_none=True)
        learner.task_loss(num_prev, x, y).backward()

    def adam():
        task_loss()
        optimizer.step()

    def lookahead():
        task_loss()
        lookahead_params(optimizer, hnet.theta())
        optimizer.step()

    return {
        "target forward + backward (weights given)": target_only,
        "+ hypernetwork forward + backward (task loss)": task_loss,
        "+ Adam step": adam,
        "+ lookahead (Adam step on copies)": lookahead,
        f"+ regularizer, {num_prev} previous tasks (the whole step)":
            partial(learner.train_step, num_prev, optimizer, x, y),
    }  # fmt: skip


def bench_step_parts(repeats: int, rows: list[dict], num_prev: int = 5) -> None:
    """Where a fast step's time goes: each stage of :func:`step_stages` timed, stages
    interleaved round by round so that host drift hits all alike. A piece costs its
    stage's median minus the previous stage's. Appends rows of section "step_parts"."""
    for experiment in SETTINGS:
        stages = step_stages(experiment, num_prev)
        medians = interleaved_medians(stages, repeats, steps_per_repeat(experiment))
        whole, before = list(medians.values())[-1], 0.0
        for name, seconds in medians.items():
            rows.append({"section": "step_parts", "setting": experiment,
                         "threads": torch.get_num_threads(), "variant": name,
                         "seconds": seconds, "added_seconds": seconds - before,
                         "share": (seconds - before) / whole})  # fmt: skip
            before = seconds
