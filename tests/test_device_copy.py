"""The learners train on the tensors that the loop evaluates: the benchmark's copy on the run's
device. Built on the CPU copy instead, a learner indexed CPU images with CUDA batch indices and
every CUDA run failed at its first step (found on an H200, 2026-11-30). No GPU here: on the CPU
both copies hold the same tensors, so the test checks the wiring, the Task objects themselves."""

from __future__ import annotations

import pytest
import torch
from test_train_run import compose_config

from hypercl.experiment import build

LEARNERS = {
    "hnet": (),
    "hnet_tir": ("method.task_inference=tir",),
    "hnet_replay": ("method=hnet_replay",),
    "dgr": ("method=dgr",),
}


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_learner_trains_on_the_benchmark_the_loop_evaluates(name, mnist_dir):
    cfg = compose_config("experiment=split_mnist_cl3", *LEARNERS[name], f"data_dir={mnist_dir}")
    benchmark, method = build(cfg, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert method.tasks is benchmark.tasks


def test_baseline_gets_the_benchmark_on_the_cpu(mnist_dir):
    cfg = compose_config("experiment=split_mnist_cl1", "method=finetune", f"data_dir={mnist_dir}")
    benchmark, method = build(cfg, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert {t.x_train.device.type for t in method.benchmark.tasks} == {"cpu"}
    assert method.benchmark.tasks[0].x_train is benchmark.tasks[0].x_train  # no copy on the CPU
