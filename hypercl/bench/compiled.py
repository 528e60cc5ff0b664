"""torch.compile trial (a benchmark only, not a training option): inductor vs eager steps.

The compiled learner runs :meth:`HNetLearner.train_step` with its two differentiable
pieces compiled by ``torch.compile`` (inductor; C++ kernels on a CPU): the task loss
(hypernetwork forward, target, cross-entropy; AOT autograd compiles its backward too) and
the regularizer (hypernetwork rows of the previous tasks, Gram form). The lookahead and
Adam stay torch's fused Adam kernel: dynamo does not trace into fused optimizers (a graph
break: "don't trace into fused optimizer"), so compiling the whole ``train_step`` only adds
graph breaks around them. Eager and compiled learners start from the same parameters and
take the same batches, so their parameters after N steps show whether the compiled kernels
agree with eager ones to float tolerance. The largest parameter difference can sit in
weights that change nothing (the last chunk's padding columns of the head get rounding-noise
gradients, which Adam's first steps turn into steps of +-lr), so the generated target
weights H(e_j) of the tasks trained so far are compared too.
"""

from __future__ import annotations

import time

import torch

from hypercl.bench.device import current_device, sync
from hypercl.bench.presets import SETTINGS, make_learner, steps_per_repeat
from hypercl.bench.timing import interleaved_medians
from hypercl.config import RegImpl
from hypercl.methods.learner import HNetLearner
from hypercl.methods.regularizer import OutputRegularizer


class _CompiledRegularizer:
    """An :class:`OutputRegularizer` whose call is compiled; its state is the original's."""

    def __init__(self, reg: OutputRegularizer) -> None:
        self._reg = reg
        self._call = torch.compile(reg.__call__)

    def __getattr__(self, name: str):
        return getattr(self._reg, name)

    def __call__(self, hnet, theta=None) -> torch.Tensor:
        return self._call(hnet, theta)


def compile_learner(learner: HNetLearner) -> None:
    """Compile the learner's task loss and regularizer in place (see the module's doc)."""
    learner.task_loss = torch.compile(learner.task_loss)
    learner.regularizer = _CompiledRegularizer(learner.regularizer)


def bench_compile(
    repeats: int,
    rows: list[dict],
    settings=tuple(SETTINGS),
    num_prev: int = 1,
    check_steps: int = 20,
) -> None:
    """Per setting: compile time (the compiled learner's first two steps, minus two eager
    steps), eager vs compiled step time timed interleaved, and the largest parameter
    difference after ``check_steps`` identical steps. Rows "compile", "compile_ratio"."""
    device, threads = current_device(), torch.get_num_threads()
    for experiment in settings:
        input_shape, head_size = SETTINGS[experiment]
        learners, optimizers = [], []
        for _ in range(2):  # the same initialisation (make_learner seeds with 0)
            learner, _, batch = make_learner(experiment, 10, reg_impl=RegImpl.fast)
            learner.regularizer.snapshot(learner.hnet, num_prev)
            learners.append(learner)
            optimizers.append(learner.make_optimizer(num_prev))
        eager, compiled = learners
        compile_learner(compiled)
        gen = torch.Generator().manual_seed(0)
        xs = [torch.rand(batch, *input_shape, generator=gen).to(device) for _ in range(4)]
        ys = [torch.randint(0, head_size, (batch,), generator=gen).to(device) for _ in range(4)]

        def stepper(learner, opt, xs=xs, ys=ys):
            state = {"k": 0}

            def step() -> None:
                k = state["k"] = state["k"] + 1
                learner.train_step(num_prev, opt, xs[k % 4], ys[k % 4])

            return step

        steps = {
            "eager": stepper(eager, optimizers[0]),
            "compiled": stepper(compiled, optimizers[1]),
        }
        first = {}
        for name, fn in steps.items():  # the first two steps: compilation (and recompiles)
            sync()
            tic = time.perf_counter()
            fn()
            fn()
            sync()
            first[name] = time.perf_counter() - tic
        for _ in range(check_steps - 2):
            steps["eager"]()
            steps["compiled"]()
        diff = max(
            (a - b).abs().max().item()
            for a, b in zip(eager.hnet.parameters(), compiled.hnet.parameters(), strict=True)
        )
        with torch.no_grad():  # what the parameters are for: the generated target weights
            ids = torch.arange(num_prev + 1, device=device)
            out_diff = (eager.hnet(ids) - compiled.hnet(ids)).abs().max().item()
        seconds = interleaved_medians(steps, repeats, steps_per_repeat(experiment))
        for name, sec in seconds.items():
            rows.append({"section": "compile", "setting": experiment, "threads": threads,
                         "previous_tasks": num_prev, "variant": name, "seconds": sec,
                         "compile_seconds": first[name] - 2 * seconds["eager"],
                         "max_abs_param_diff": diff if name == "compiled" else None,
                         "max_abs_weight_diff": out_diff if name == "compiled" else None,
                         })  # fmt: skip
        rows.append({"section": "compile_ratio", "setting": experiment, "threads": threads,
                     "previous_tasks": num_prev, "variant": "eager/compiled",
                     "ratio": seconds["eager"] / seconds["compiled"]})  # fmt: skip
