"""Training step time and FLOP rate: fast vs direct regularizer, and CUDA graphs on a GPU."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from hypercl.bench.device import current_device, on_gpu
from hypercl.bench.presets import make_learner, steps_per_repeat
from hypercl.bench.timing import interleaved_medians
from hypercl.config import RegImpl
from hypercl.methods.cuda_graph import GraphedStep
from hypercl.methods.learner import HNetLearner


def step_timer(
    experiment: str, num_prev: int, impl: RegImpl, graph: bool = False
) -> tuple[HNetLearner, Callable[[], object]]:
    """(learner, closure doing one training step of task ``num_prev``), with ``num_prev``
    earlier tasks in the regularizer (of 10 heads). The batch is random: x [batch,
    *input_shape], y [batch]. With ``graph`` (CUDA), the step is replayed as a CUDA graph."""
    device = current_device()
    learner, input_shape, batch = make_learner(experiment, 10, reg_impl=impl)
    learner.regularizer.snapshot(learner.hnet, num_prev)
    optimizer = learner.make_optimizer(num_prev)
    x = torch.rand(batch, *input_shape, device=device)
    y = torch.randint(0, learner.heads.head_size, (batch,), device=device)

    def eager(x=x, y=y):
        return learner.train_step(num_prev, optimizer, x, y)

    if not graph:
        return learner, eager
    graphed = GraphedStep(eager, warmup=3)
    for _ in range(4):  # warm-up steps, then the capture
        graphed(x, y)
    return learner, lambda: graphed(x, y)


def step_flops(step: Callable[[], object]) -> int:
    """FLOPs of one call of ``step``, as torch's FlopCounterMode counts them."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def bench_steps(repeats: int, rows: list[dict], settings: dict, prev_tasks=(1, 5, 9)) -> None:
    """Step time with each number of previous tasks, fast and direct regularizer (and their
    CUDA graphs on a GPU): all steps of a setting are timed interleaved (see
    :func:`interleaved_medians`), so the ratios between them survive drift in host speed.
    Appends rows of sections "step", "step_ratio" and "graph_ratio"."""
    variants = [(RegImpl.fast, False), (RegImpl.direct, False)]
    if on_gpu():
        variants += [(RegImpl.fast, True), (RegImpl.direct, True)]
    for experiment in settings:
        steps, flops = {}, {}
        for num_prev in prev_tasks:
            for impl, graph in variants:
                _, step = step_timer(experiment, num_prev, impl, graph)
                steps[num_prev, impl, graph] = step
                if not graph:  # a graph replay runs the same ops, but uncounted
                    flops[num_prev, impl] = step_flops(step)
        seconds = interleaved_medians(steps, repeats, steps_per_repeat(experiment))
        threads = torch.get_num_threads()
        for (num_prev, impl, graph), sec in seconds.items():
            rows.append({
                "section": "step", "setting": experiment, "previous_tasks": num_prev,
                "variant": impl.value + (" + CUDA graph" if graph else ""), "threads": threads,
                "seconds": sec, "gflop_per_s": flops[num_prev, impl] / sec / 1e9,
                "gflop": flops[num_prev, impl] / 1e9,
            })  # fmt: skip
            if graph:
                rows.append({
                    "section": "graph_ratio", "setting": experiment,
                    "previous_tasks": num_prev, "variant": f"{impl.value}: eager/graph",
                    "threads": threads, "ratio": seconds[num_prev, impl, False] / sec,
                })  # fmt: skip
        for num_prev in prev_tasks:
            rows.append({
                "section": "step_ratio", "setting": experiment, "previous_tasks": num_prev,
                "variant": "direct/fast", "threads": threads,
                "ratio": seconds[num_prev, RegImpl.direct, False]
                / seconds[num_prev, RegImpl.fast, False],
            })  # fmt: skip
