"""The presets benchmarked, their input shapes, and learners built from them."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from hypercl.bench.device import current_device, on_gpu
from hypercl.config import Config
from hypercl.methods.learner import HNetLearner, build_learner
from hypercl.nets.heads import Heads

ROOT = Path(__file__).resolve().parents[2]  # the repository: conf/, results/
# preset: (input shape of one image, head size)
SETTINGS = {"split_mnist_cl1": ((1, 28, 28), 2), "perm_mnist10_cl1": ((1024,), 10)}
# Step times only (--long-sequence): Permuted-MNIST-100, 100 tasks.
LONG_SETTINGS = {"perm_mnist100_cl1": ((1024,), 10)}
# Step times only (--cifar): the convolutional targets, 6 tasks of 10 classes.
CIFAR_SETTINGS = {
    "split_cifar10_100_resnet32": ((3, 32, 32), 10),
    "split_cifar10_100_zenkenet": ((3, 32, 32), 10),
}


def load_config(experiment: str, *overrides: str) -> Config:
    """The preset ``conf/experiment/<experiment>.yaml`` composed as ``hypercl.train`` does."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", [f"experiment={experiment}", *overrides])
    return OmegaConf.to_object(cfg)


def make_learner(experiment: str, num_tasks: int, **method) -> tuple[HNetLearner, tuple, int]:
    """(learner, input shape, batch size) of a preset with ``num_tasks`` heads, its method
    settings overridden by ``method`` (e.g. ``reg_impl=RegImpl.fast``), seeded with 0."""
    cfg = load_config(experiment)
    for key, value in method.items():
        setattr(cfg.method, key, value)
    input_shape, head_size = {**SETTINGS, **LONG_SETTINGS, **CIFAR_SETTINGS}[experiment]
    in_features = int(torch.Size(input_shape).numel())
    torch.manual_seed(0)
    learner = build_learner(cfg, in_features, Heads(num_tasks, head_size), num_tasks,
                            torch.Generator(), current_device(), input_shape)  # fmt: skip
    return learner, input_shape, cfg.train.batch_size


def steps_per_repeat(experiment: str) -> int:
    """Training steps timed per repeat: 20 for short steps (Split-MNIST's, any on a GPU),
    5 for the long CPU steps of the larger networks."""
    return 20 if experiment.startswith("split") or on_gpu() else 5
