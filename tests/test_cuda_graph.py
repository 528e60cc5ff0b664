"""CUDA graphs change nothing but speed: training a task with each step replayed as a graph
gives the same parameters as the eager loop, for the hypernetwork learner and for the replay
methods' steps (runs only where a GPU is visible)."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from test_cli import REPO
from test_device_copy import LEARNERS
from test_train_run import compose_config

from hypercl.data.tasks import TaskData
from hypercl.experiment import build
from hypercl.methods.learner import build_learner
from hypercl.nets.heads import Heads

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SHAPES = {"split_mnist_cl1": (1, 28, 28), "split_cifar10_100_resnet32_smoke": (3, 32, 32)}


def train_two_tasks(experiment: str, cuda_graphs: bool) -> dict[str, torch.Tensor]:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_object(compose("config", [f"experiment={experiment}"]))
    cfg.train.iters_per_task, cfg.train.epochs_per_task, cfg.train.cuda_graphs = (
        20,
        None,
        cuda_graphs,
    )
    torch.manual_seed(0)
    shape, device = SHAPES[experiment], torch.device("cuda")
    data = TaskData(
        torch.rand(256, *shape, device=device), torch.randint(0, 2, (256,), device=device),
        torch.rand(8, *shape, device=device), torch.randint(0, 2, (8,), device=device),
    )  # fmt: skip
    learner = build_learner(cfg, shape[0] * shape[1] * shape[2], Heads(2, 10), 2,
                            torch.Generator().manual_seed(0), device, shape)  # fmt: skip
    for task in range(2):  # the second task has the regularizer and its lookahead
        learner.train_task(task, data)
    return {k: v.detach().cpu() for k, v in learner.hnet.state_dict().items()}


@pytest.mark.parametrize("experiment", list(SHAPES))
def test_graph_replay_gives_the_eager_parameters(experiment, monkeypatch):
    # cuDNN's default convolution backward is not deterministic: run both deterministically.
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    eager, graphed = train_two_tasks(experiment, False), train_two_tasks(experiment, True)
    for name, value in eager.items():
        torch.testing.assert_close(graphed[name], value, rtol=1e-5, atol=1e-6, msg=name)


def replay_method_parameters(overrides: tuple[str, ...], cuda_graphs: bool, mnist_dir) -> dict:
    """Every tensor of a replay method's state after 3 Split-MNIST tasks of 20 steps each
    (the VAE trains after tasks 1 and 2: the decoder's regularizer, DGR's own replay)."""
    cfg = compose_config(
        "experiment=split_mnist_cl3", *overrides, "train.iters_per_task=20",
        f"train.cuda_graphs={cuda_graphs}", f"data_dir={mnist_dir}",
    )  # fmt: skip
    torch.manual_seed(0)
    _, method = build(cfg, torch.Generator().manual_seed(1), torch.device("cuda"))
    for task in range(3):
        method.train_task(task, lambda step, losses: None, 0)
    flat: dict[str, torch.Tensor] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, torch.Tensor):
            flat[prefix] = value.detach().cpu()
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)

    walk("", method.state_dict())
    return flat


@pytest.mark.parametrize("name", sorted(set(LEARNERS) - {"hnet"}))
def test_replay_steps_as_graphs_give_the_eager_parameters(name, mnist_dir):
    eager = replay_method_parameters(LEARNERS[name], False, mnist_dir)
    graphed = replay_method_parameters(LEARNERS[name], True, mnist_dir)
    assert eager.keys() == graphed.keys()
    for key, value in eager.items():
        torch.testing.assert_close(graphed[key], value, rtol=1e-5, atol=1e-6, msg=key)
