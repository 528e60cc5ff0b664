"""The hypernetwork as an Avalanche strategy trains what our runner trains."""

from __future__ import annotations

import pytest
import torch
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.plugins import EvaluationPlugin
from test_train_run import compose_config

from hypercl.data.avalanche_stream import avalanche_stream
from hypercl.data.benchmarks import build_benchmark
from hypercl.methods.hnet_strategy import HNetStrategy
from hypercl.methods.learner import build_learner
from hypercl.nets.heads import Heads
from hypercl.train import run, seed_everything

ITERS = 15


def test_hnet_strategy_gives_the_runners_accuracy_matrix(tmp_path, mnist_dir):
    """Split-MNIST CL1, 15 iterations per task, seed 3, CPU: hypercl.train.run and the
    Avalanche strategy (Avalanche's training loop and accuracy metric) agree exactly."""
    cfg = compose_config(
        "experiment=split_mnist_cl1",
        f"train.iters_per_task={ITERS}",
        "num_threads=1",
        "device=cpu",
        "seed=3",
        f"data_dir={mnist_dir}",
    )
    ours = run(cfg, tmp_path)["acc_matrix"]

    generator = seed_everything(cfg.seed)  # what run() does before building the learner
    benchmark = build_benchmark(cfg.benchmark, mnist_dir)
    num_tasks = benchmark.num_tasks
    heads = Heads(num_tasks, benchmark.head_size)
    learner = build_learner(cfg, benchmark.in_features, heads, num_tasks, generator, "cpu")
    scenario = avalanche_stream(benchmark, list(range(num_tasks)), [0] * num_tasks)
    strategy = HNetStrategy(
        learner=learner,
        train_mb_size=cfg.train.batch_size,
        iters_per_task=ITERS,
        eval_mb_size=cfg.train.eval_batch_size,
        evaluator=EvaluationPlugin(accuracy_metrics(experience=True), loggers=[]),
    )
    theirs = [[None] * num_tasks for _ in range(num_tasks)]
    for t, experience in enumerate(scenario.train_stream):
        strategy.train(experience, eval_streams=[])
        metrics = strategy.eval(scenario.test_stream[: t + 1])
        for j in range(t + 1):
            key = f"Top1_Acc_Exp/eval_phase/test_stream/Task{j:03d}/Exp{j:03d}"
            theirs[t][j] = 100.0 * metrics[key]
    for row_ours, row_theirs in zip(ours, theirs, strict=True):
        assert row_theirs == pytest.approx(row_ours, abs=1e-9)  # the same counts
    assert ours[-1][-1] > 75
    assert torch.get_num_threads() == 1
