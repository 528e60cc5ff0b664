"""Continual learning with a hypernetwork, for an Avalanche user's own model.

The hypernetwork generates all weights of a plain ``nn.Module``, one set per task, on
Avalanche's Split-MNIST (task-incremental), with Avalanche's evaluation plugin::

    python examples/avalanche_user_model.py [--iters 2000] [--data-dir data] [--seed 0]
"""

import argparse
import os

import torch
from avalanche.benchmarks.classic import SplitMNIST
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.logging import TextLogger
from avalanche.training.plugins import EvaluationPlugin
from torch import nn

from hypercl.methods.hnet_strategy import HNetStrategy

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--iters", type=int, default=2000, help="training iterations per task")
parser.add_argument("--data-dir", default=os.environ.get("HYPERCL_DATA_DIR", "data"))
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.manual_seed(args.seed)
benchmark = SplitMNIST(
    n_experiences=5,
    return_task_id=True,  # one task label per experience: the hypernetwork's task
    class_ids_from_zero_in_each_exp=True,  # labels 0, 1 in each task: 2 outputs suffice
    seed=args.seed,
    dataset_root=args.data_dir,
)
model = nn.Sequential(
    nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 2)
)
strategy = HNetStrategy(
    target=model,
    hnet=dict(kind="chunked", hidden=[10, 10], chunk_size=30000),
    beta=0.01,
    lr=1e-3,
    train_mb_size=128,
    iters_per_task=args.iters,
    evaluator=EvaluationPlugin(accuracy_metrics(experience=True), loggers=[TextLogger()]),
)
for experience in benchmark.train_stream:
    strategy.train(experience, eval_streams=[])
metrics = strategy.eval(benchmark.test_stream)
accuracies = [
    metrics[f"Top1_Acc_Exp/eval_phase/test_stream/Task{t:03d}/Exp{t:03d}"] for t in range(5)
]
print("final accuracy per task:", " ".join(f"{acc:.4f}" for acc in accuracies))
