"""Baselines: from_scratch keeps independent, freshly initialised weights per task;
the *_finetune presets are the hypernetwork without regularizer and with shared BN
statistics (method.name=hnet, beta 0)."""

import re

import pytest
import torch
from test_cifar_learner import _task
from test_train_run import compose_config

from hypercl.config import ConfigError, validate
from hypercl.methods.learner import build_learner
from hypercl.methods.scratch import ScratchWeights, fresh_target_weights
from hypercl.nets.heads import Heads
from hypercl.nets.targets import FunctionalTarget, ResNet

pytestmark = pytest.mark.usefixtures("one_thread")


def _learner(experiment: str, *overrides: str):
    cfg = compose_config(f"experiment={experiment}", *overrides)
    cfg.train.batch_size, cfg.train.epochs_per_task, cfg.train.iters_per_task = 16, None, 3
    return build_learner(
        cfg, 192, Heads(2, 10), 2, torch.Generator().manual_seed(0), "cpu", (3, 8, 8)
    )


def test_fresh_target_weights_follow_pytorch_default_init():
    target = FunctionalTarget(ResNet(out_features=10))
    gen = torch.Generator().manual_seed(0)
    w1, w2 = fresh_target_weights(target, gen), fresh_target_weights(target, gen)
    assert w1.shape == (target.num_params,) and not torch.equal(w1, w2)
    params = target.unflatten(w1)
    assert torch.equal(params["bn1.weight"], torch.ones(16))  # BN: weight 1, bias 0
    assert torch.equal(params["bn1.bias"], torch.zeros(16))
    bound = 1 / (3 * 9) ** 0.5  # kaiming_uniform(a=sqrt(5)) of conv1: U(-1/sqrt(fan_in), ...)
    assert params["conv1.weight"].abs().max() <= bound
    assert params["conv1.weight"].abs().max() > 0.9 * bound


def test_from_scratch_trains_each_task_alone_and_keeps_earlier_weights():
    learner = _learner("split_cifar10_100_resnet32_from_scratch")
    assert isinstance(learner.hnet, ScratchWeights) and learner.hnet.theta() == {}
    before_1 = learner.hnet.task_embs[1].detach().clone()
    learner.train_task(0, _task(0, 60))
    after_0 = learner.hnet.task_embs[0].detach().clone()
    stats_0 = {k: v.clone() for k, v in learner.bn_stats[0].items()}
    acc_0, _ = learner.evaluate(0, _task(0, 60), num_learned=1, infer_task=False)
    assert torch.equal(learner.hnet.task_embs[1], before_1)  # task 2 untouched by task 1
    learner.train_task(1, _task(150, 100))
    assert torch.equal(learner.hnet.task_embs[0], after_0)  # task 1 kept
    assert not torch.equal(learner.hnet.task_embs[1], before_1)
    assert learner.bn_stats[0] is not learner.bn_stats[1]
    for name, value in stats_0.items():  # and its batch-norm statistics
        assert torch.equal(learner.bn_stats[0][name], value), name
    # Nothing of task 1 changed, so neither does its accuracy (random labels: the value
    # itself is chance here; measured 9.375 both times).
    acc, _ = learner.evaluate(0, _task(0, 60), num_learned=2, infer_task=False)
    assert acc == acc_0


def test_finetune_shares_bn_statistics_and_has_no_regularizer():
    learner = _learner("split_cifar10_100_resnet32_finetune")
    learner.train_task(0, _task(0, 60))
    learner.train_task(1, _task(150, 100))
    assert learner.regularizer.num_prev == 0
    assert learner.bn_stats[0] is learner.bn_stats[1]


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            ["experiment=split_cifar10_100_resnet32", "method=ewc"],
            "target.name='resnet32' is invalid: method.name=ewc (an Avalanche baseline) runs "
            "the MLP target; use target=mlp.",
        ),
        (
            ["method=hnet_replay", "target=zenkenet"],
            "target.name='zenkenet' is invalid: method.name=hnet_replay with generative replay "
            "runs MLPs; use target=mlp.",
        ),
        (
            ["experiment=split_cifar10_100_resnet32_from_scratch", "method.beta=0.05"],
            "method.beta=0.05 is invalid: method.name=from_scratch trains without the output "
            "regularizer; set method.beta=0.",
        ),
        (
            ["method=hnet", "method.reset_optimizer=false"],
            "method.reset_optimizer=False is invalid: method.name=hnet starts a fresh Adam "
            "state at every task (only the baselines can keep one); remove the override.",
        ),
    ],
)
def test_baseline_settings_that_would_change_the_baseline_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        compose_config(*overrides)


def test_baseline_presets_compose_and_validate():
    for tgt in ("resnet32", "zenkenet"):
        for base in ("finetune", "from_scratch"):
            cfg = compose_config(f"experiment=split_cifar10_100_{tgt}_{base}")
            validate(cfg)
            # *_finetune: the hypernetwork without its regularizer (method=finetune is the
            # plain target trained in sequence, an Avalanche baseline for the MLP target).
            expected = "hnet" if base == "finetune" else base
            assert cfg.method.name.value == expected and cfg.benchmark.num_tasks == 6
            assert cfg.method.beta == 0
