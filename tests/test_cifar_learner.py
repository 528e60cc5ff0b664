"""Per-task batch-norm statistics, epochs and the lr schedule in the learner; CIFAR configs."""

import re

import pytest
import torch
from test_train_run import compose_config

import hypercl.methods.learner as learner_module
from hypercl.config import Config, ConfigError, HNetConfig, TargetConfig, TargetName, validate
from hypercl.data.cifar import ImageTaskData
from hypercl.methods.learner import build_learner, lr_factor
from hypercl.metrics import param_counts
from hypercl.nets.heads import Heads

pytestmark = pytest.mark.usefixtures("one_thread")


def _task(shift: float, scale: float, n: int = 64, seed: int = 0) -> ImageTaskData:
    """Tiny uint8 image task whose pixel distribution depends on shift/scale."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 3, 8, 8, generator=gen) * scale + shift).clamp(0, 255).to(torch.uint8)
    y = torch.randint(0, 10, (n,), generator=gen)
    return ImageTaskData(x, y, x[:32], y[:32], mean=(0.5,) * 3, std=(0.25,) * 3)


def _resnet_learner(num_tasks: int, per_task_bn: bool = True, **train):
    cfg = Config(
        target=TargetConfig(name=TargetName.resnet32, hidden=[], per_task_bn=per_task_bn),
        hnet=HNetConfig(hidden=[], task_emb_dim=8, chunk_size=7000, chunk_emb_dim=8),
    )
    cfg.train.batch_size, cfg.train.iters_per_task = 16, 3
    if train.get("epochs_per_task") is not None:
        cfg.train.iters_per_task = None  # one budget or the other (config.validate_budget)
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return build_learner(
        cfg, 192, Heads(num_tasks, 10), num_tasks, torch.Generator().manual_seed(0), "cpu",
        (3, 8, 8),
    )  # fmt: skip


def test_evaluating_task_1_after_the_last_task_uses_task_1_statistics(monkeypatch):
    tasks = [_task(0, 60, seed=0), _task(150, 100, seed=1), _task(40, 200, seed=2)]
    learner = _resnet_learner(3)
    learner.train_task(0, tasks[0])
    stats0 = {n: b.clone() for n, b in learner.bn_stats[0].items()}
    assert int(stats0["bn1.num_batches_tracked"]) == 3
    for t in (1, 2):
        learner.train_task(t, tasks[t])
    # Training later tasks left task 1's statistics untouched, and theirs differ.
    for name, value in stats0.items():
        torch.testing.assert_close(learner.bn_stats[0][name], value, rtol=0, atol=0)
    assert not torch.equal(learner.bn_stats[2]["bn1.running_mean"], stats0["bn1.running_mean"])
    seen = []
    original = learner_module.head_logits

    def spy(*args):
        seen.append(args[-1])
        return original(*args)

    monkeypatch.setattr(learner_module, "head_logits", spy)
    acc, _ = learner.evaluate(0, tasks[0], num_learned=3, infer_task=False)
    assert len(seen) == 1
    for name, value in stats0.items():
        torch.testing.assert_close(seen[0][name], value.unsqueeze(0), rtol=0, atol=0)
    # Same accuracy as running the target by hand in eval mode with task 1's statistics.
    learner.target.eval()
    with torch.no_grad():
        w0 = learner.hnet(torch.tensor([0]))[0]
        x, y = next(tasks[0].test_batches(1000))
        logits = learner.target(x, w0, stats0)[:, :10]
    assert acc == 100.0 * (logits.argmax(1) == y).sum().item() / len(y)


def test_without_per_task_bn_all_tasks_share_one_set_of_statistics():
    learner = _resnet_learner(2, per_task_bn=False)
    learner.train_task(0, _task(0, 60))
    learner.train_task(1, _task(150, 100))
    assert learner.bn_stats[0] is learner.bn_stats[1]
    assert int(learner.bn_stats[0]["bn1.num_batches_tracked"]) == 6


def test_epochs_set_the_number_of_steps_and_the_lr_follows_the_schedule():
    learner = _resnet_learner(
        1, epochs_per_task=3, lr=1e-2, lr_milestones=[1, 2], lr_factors=[0.1, 0.01]
    )
    task = _task(0, 60, n=40)  # 40 // 16 = 2 steps per epoch
    assert learner.num_iters(task) == 6
    lrs = []
    original = learner.train_step

    def record(task_id, optimizer, x, y):
        lrs.append(optimizer.param_groups[0]["lr"])
        return original(task_id, optimizer, x, y)

    learner.train_step = record
    learner.train_task(0, task)
    assert lrs == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4], rel=1e-12)


def test_lr_factor_is_the_last_milestone_reached():
    cfg = compose_config("experiment=split_cifar10_100_resnet32").train
    factors = [lr_factor(cfg, e) for e in (0, 79, 80, 119, 120, 160, 179, 180, 199)]
    assert factors == [1.0, 1.0, 0.1, 0.1, 0.01, 0.001, 0.001, 0.0005, 0.0005]


@pytest.mark.parametrize(
    "experiment,n_target,n_hnet",
    [
        ("split_cifar10_100_resnet32", 468540, 457336),
        ("split_cifar10_100_zenkenet", 1276508, 1182678),
    ],
)
def test_full_presets_have_the_paper_parameter_counts(experiment, n_target, n_hnet):
    cfg = compose_config(f"experiment={experiment}")
    assert cfg.benchmark.num_tasks == 6
    learner = build_learner(
        cfg, 3072, Heads(6, 10), 6, torch.Generator(), "cpu", input_shape=(3, 32, 32)
    )
    counts = param_counts(learner.hnet, learner.target.num_params)
    assert (counts["num_params_target"], counts["num_params_hnet"]) == (n_target, n_hnet)
    heads = learner.regularizer.head_indices  # the regularizer ignores other tasks' heads
    assert len(heads) == 6 and heads[0].tolist()[-10:] == list(range(n_target - 60, n_target - 50))


def test_zenkenet_preset_uses_adam_beta1_one_half():
    cfg = compose_config("experiment=split_cifar10_100_zenkenet")
    learner = build_learner(cfg, 3072, Heads(6, 10), 6, torch.Generator(), "cpu", (3, 32, 32))
    assert learner.make_optimizer(0).param_groups[0]["betas"] == (0.5, 0.999)
    assert (cfg.train.batch_size, cfg.train.epochs_per_task, cfg.benchmark.augment) == (
        256, 80, False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "preset,normalize",
    [
        ("split_cifar10_100_zenkenet", "none"),
        ("split_cifar10_100_zenkenet_finetune", "none"),
        ("split_cifar10_100_resnet32", "imagenet"),
        ("split_cifar10_100_resnet32_from_scratch", "imagenet"),
    ],
)
def test_cifar_presets_scale_inputs_and_regularize_heads_as_the_official_code(preset, normalize):
    """chrhenning/hypercl: data/cifar10_data.py scales to [0, 1] only when it does not
    augment, else with ImageNet's statistics; cifar/train.py regularizes, for each previous
    task, only its own head (regged_outputs) in every CL1 CIFAR run."""
    cfg = compose_config(f"experiment={preset}")
    assert cfg.benchmark.normalize == normalize
    assert cfg.method.ignore_other_heads is True


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("epochs_per_task", 0, "train.epochs_per_task=0 is invalid: must be a positive integer"),
        (
            "epochs_per_task",
            5,
            "train.iters_per_task=2000 and train.epochs_per_task=5 are both set: they are "
            "mutually exclusive;",
        ),
        ("iters_per_task", None, "train.iters_per_task and train.epochs_per_task are both null"),
        (
            "lr_milestones",
            [80],
            "train.lr_milestones=[80] is invalid: needs one factor per milestone",
        ),
        ("lr_factors", [0.1, -1.0], "train.lr_factors=[0.1, -1.0] is invalid: every factor"),
        ("adam_beta1", 1.0, "train.adam_beta1=1.0 is invalid: must be in [0, 1)"),
        ("val_fraction", 1.0, "train.val_fraction=1.0 is invalid: must be in [0, 1)"),
    ],
)
def test_bad_cifar_train_values_are_config_errors(key, value, message):
    cfg = Config()
    cfg.train.lr_milestones, cfg.train.lr_factors = [1, 2], [0.1, 0.01]
    setattr(cfg.train, key, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate(cfg)


def test_unordered_milestones_are_a_config_error():
    cfg = Config()
    cfg.train.lr_milestones, cfg.train.lr_factors = [120, 80], [0.1, 0.01]
    with pytest.raises(ConfigError, match="must be positive epochs in increasing order"):
        validate(cfg)


def test_task_inference_runs_every_candidate_with_its_own_bn_statistics():
    from hypercl.methods.inference import head_logits

    learner = _resnet_learner(2)
    tasks = [_task(0, 60, seed=0), _task(150, 100, seed=1)]
    for t in (0, 1):
        learner.train_task(t, tasks[t])
    learner.hnet.eval()
    learner.target.eval()
    x, _ = next(tasks[0].test_batches(8))
    with torch.no_grad():
        weights = learner.hnet(torch.tensor([0, 1]))
        batched = head_logits(
            learner.target, x, weights, torch.tensor([0, 1]), 10, learner.stacked_bn_stats([0, 1])
        )
        for t in (0, 1):
            alone = learner.target(x, weights[t], learner.bn_stats[t])[:, 10 * t : 10 * t + 10]
            torch.testing.assert_close(batched[t], alone, rtol=1e-5, atol=1e-5)
    # The evaluation equals HNET+ENT computed by hand, one task at a time: the task whose
    # head has the lowest entropy wins, and a hit needs that task and the right class.
    for j in (0, 1):
        x, y = next(tasks[j].test_batches(1000))
        with torch.no_grad():
            logits = torch.stack(
                [
                    learner.target(x, weights[t], learner.bn_stats[t])[:, 10 * t : 10 * t + 10]
                    for t in (0, 1)
                ]
            )  # [2 tasks, 32, 10]
        log_p = logits.log_softmax(-1)
        inferred = (-(log_p.exp() * log_p).sum(-1)).argmin(0)
        cls = logits[inferred, torch.arange(len(y))].argmax(-1)
        acc, task_acc = learner.evaluate(j, tasks[j], num_learned=2, infer_task=True)
        assert task_acc == 100.0 * (inferred == j).sum().item() / len(y)
        assert acc == 100.0 * ((inferred == j) & (cls == y)).sum().item() / len(y)
