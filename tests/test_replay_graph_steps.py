"""The replay methods' training steps can be replayed as CUDA graphs: a step draws no random
numbers itself (a graph would replay one draw for ever). The loops draw the batch, the
VAE's noise and the replay's latents first, in the order the step uses them, and pass them
in (``hypercl.methods.cuda_graph.graphed_if``). Checked here on the CPU: every step of the
task-inference net, the VAE (hypernetwork and plain decoder) and the replay classifier goes
through ``graphed_if``, takes tensors only, and leaves the run's generator and torch's
global random state as they were. Graph and eager parameters are compared on a GPU in
``test_cuda_graph.py``."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from test_device_copy import LEARNERS
from test_train_run import compose_config

import hypercl.methods.hnet_tir
import hypercl.methods.replay_classifier
import hypercl.replay.training
from hypercl.experiment import build

ITERS = 3
# The steps each method trains per task on Split-MNIST (5 tasks), by step function.
EXPECTED = {
    "hnet_tir": {"train_infer_net": 4 * ITERS, "train_task": 4 * ITERS},
    "hnet_replay": {"train_classifier": 5 * ITERS, "train_task": 4 * ITERS},
    "dgr": {"train_classifier": 5 * ITERS, "train_task": 4 * ITERS},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_replay_step_takes_its_random_numbers_as_inputs(name, mnist_dir, monkeypatch):
    cfg = compose_config(
        "experiment=split_mnist_cl3", *LEARNERS[name], f"train.iters_per_task={ITERS}",
        f"data_dir={mnist_dir}",
    )  # fmt: skip
    generator = torch.Generator().manual_seed(1)
    benchmark, method = build(cfg, generator, torch.device("cpu"))
    calls: Counter[str] = Counter()

    def checked(enabled, step, device, warmup=3):
        assert enabled and device.type == "cpu"  # train.cuda_graphs is on by default

        def call(*inputs):
            assert all(isinstance(t, torch.Tensor) for t in inputs)
            state, global_state = generator.get_state(), torch.get_rng_state()
            out = step(*inputs)
            assert torch.equal(generator.get_state(), state), f"{step.__qualname__} drew"
            assert torch.equal(torch.get_rng_state(), global_state)
            calls[step.__qualname__.split(".")[-3]] += 1
            return out

        return call

    for module in (hypercl.replay.training, hypercl.methods.hnet_tir,
                   hypercl.methods.replay_classifier):  # fmt: skip
        monkeypatch.setattr(module, "graphed_if", checked)
    for task in range(benchmark.num_tasks):
        method.train_task(task, lambda step, losses: None, 0)
    assert dict(calls) == EXPECTED[name]
