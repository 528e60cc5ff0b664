"""The replay methods' training phases on Permuted-MNIST-10 (HNET+TIR, HNET+R, DGR): seconds
per step with ``t`` previous tasks, and two comparisons timed in the same run.

* CPU: the replay batch's decoder weights made once per phase (the code since 2026-12-01)
  against made again at every step (the code before, emulated by dropping the weights that
  the phase passes to ``ReplayVAE.pixels``). Only the phases that replay with a decoder
  that does not train: the task-inference net (TIR) and the classifier (R, DGR). DGR's
  plain decoder's weights are a view of its one weight vector, so its classifier is a
  control: the two ways should take the same time.
* CUDA: every phase with each step replayed as a CUDA graph against eager steps.

A phase is timed whole (``steps`` steps, its set-up included: the optimizers, the VAE's
regularizer snapshot, the classifier's copy; on CUDA the 3 eager warm-up steps and the
graph's capture), and its seconds per step are the phase's over ``steps``. Inputs are random
tensors of Permuted-MNIST's shape; the models are the presets' with their initial weights.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hypercl.bench.device import current_device, on_gpu
from hypercl.bench.presets import load_config
from hypercl.bench.timing import interleaved_medians
from hypercl.data.tasks import Benchmark, TaskData
from hypercl.experiment import build_method
from hypercl.replay.vae import ReplayVAE

# method: (preset, overrides, its phases)
METHODS = {
    "hnet_tir": ("perm_mnist10_cl2", ["method.task_inference=tir"], ["infer_net", "vae"]),
    "hnet_replay": ("perm_mnist10_cl1", ["method=hnet_replay"], ["classifier", "vae"]),
    "dgr": ("perm_mnist10_cl1", ["method=dgr"], ["classifier", "vae"]),
}
REPLAYS_FIXED_DECODER = {"infer_net", "classifier"}
NUM_TASKS, TRAIN_SIZE = 10, 1280


def random_benchmark(device: torch.device) -> Benchmark:
    """10 tasks of random 1024-pixel images in [0, 1] with 10 classes, on ``device``."""
    g = torch.Generator().manual_seed(0)

    def task() -> TaskData:
        x = torch.rand(TRAIN_SIZE, 1024, generator=g)
        y = torch.randint(0, 10, (TRAIN_SIZE,), generator=g)
        return TaskData(x, y, x[:100], y[:100])

    return Benchmark("perm_mnist", [task() for _ in range(NUM_TASKS)], (1024,), 10).to(device)


def phase_runner(method, phase: str, task: int, steps: int) -> Callable[[], None]:
    """A closure training ``phase`` of ``method`` on task ``task`` for ``steps`` steps."""
    data = method.tasks[task]

    def noop(step: int, losses: dict) -> None:
        pass

    if phase == "vae":
        return lambda: method.vae_trainer.train_task(task, data, steps)
    if phase == "infer_net":
        return lambda: method.train_infer_net(task, data, noop)
    return lambda: method.train_classifier(task, data, noop)


def weights_every_step(vae: ReplayVAE, run: Callable[[], None]) -> Callable[[], None]:
    """``run`` with ``vae.pixels`` ignoring the weights passed in, so that it makes them
    from the task ids at every step, as the code before 2026-12-01 did."""

    def go() -> None:
        vae.pixels = lambda z, task_ids, weights=None: ReplayVAE.pixels(vae, z, task_ids)
        try:
            run()
        finally:
            del vae.__dict__["pixels"]

    return go


def with_graphs(method, on: bool, run: Callable[[], None]) -> Callable[[], None]:
    """``run`` with ``train.cuda_graphs`` set to ``on`` for every phase of ``method``."""

    def go() -> None:
        method.cfg.train.cuda_graphs = method.vae_trainer.cuda_graphs = on
        run()

    return go


def bench_replay(repeats: int, rows: list[dict], prev_tasks: tuple[int, ...] = (1, 8)) -> None:
    """Rows of section "replay_phase" (seconds per step) and "replay_ratio", for the tasks
    after ``prev_tasks`` previous ones (at most 8: the VAE trains on tasks 1-9 of 10)."""
    device = current_device()
    steps = 50 if on_gpu() else 10
    threads = torch.get_num_threads()
    for name, (preset, overrides, phases) in METHODS.items():
        cfg = load_config(preset, *overrides, f"train.iters_per_task={steps}")
        torch.manual_seed(0)
        method = build_method(cfg, random_benchmark(device), torch.Generator(), device)
        for phase in phases:
            for t in prev_tasks:
                run = phase_runner(method, phase, t, steps)
                ratio_of, label = None, None
                if on_gpu():
                    fns = {"graph": with_graphs(method, True, run),
                           "eager": with_graphs(method, False, run)}  # fmt: skip
                    ratio_of, label = ("eager", "graph"), "eager / graph"
                elif phase in REPLAYS_FIXED_DECODER:
                    old = weights_every_step(method.vae, run)
                    fns = {"weights made once": run, "weights made every step": old}
                    ratio_of = ("weights made every step", "weights made once")
                    label = "every step / once"
                else:
                    fns = {"as is": run}
                medians = interleaved_medians(fns, repeats)
                for variant, seconds in medians.items():
                    rows.append({
                        "section": "replay_phase", "setting": f"{preset} {name}",
                        "variant": f"{phase}: {variant}", "threads": threads,
                        "previous_tasks": t, "seconds": seconds / steps,
                    })  # fmt: skip
                if ratio_of is not None:
                    rows.append({
                        "section": "replay_ratio", "setting": f"{preset} {name}",
                        "variant": f"{phase}: {label}", "threads": threads,
                        "previous_tasks": t, "ratio": medians[ratio_of[0]] / medians[ratio_of[1]],
                    })  # fmt: skip
