"""The hypernetwork as an Avalanche strategy: trains what our runner trains, and works with
a user's own ``nn.Module`` on Avalanche's benchmarks and metrics."""

from __future__ import annotations

import pytest
import torch
from avalanche.benchmarks.classic import SplitMNIST
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.plugins import EvaluationPlugin
from test_train_run import compose_config
from torch import nn
from torch.utils.data import DataLoader

from hypercl.config import HNetKind
from hypercl.data.avalanche_stream import avalanche_stream
from hypercl.data.benchmarks import build_benchmark
from hypercl.data.tasks import TaskData
from hypercl.methods.hnet_strategy import HNetStrategy
from hypercl.methods.hnet_strategy_module import functional_copy, hnet_config
from hypercl.methods.learner import build_learner
from hypercl.nets.heads import Heads
from hypercl.train import run, seed_everything

ITERS = 15


def accuracy_key(t: int) -> str:
    return f"Top1_Acc_Exp/eval_phase/test_stream/Task{t:03d}/Exp{t:03d}"


def quiet_evaluator() -> EvaluationPlugin:
    return EvaluationPlugin(accuracy_metrics(experience=True), loggers=[])


def split_mnist(root, **kwargs) -> SplitMNIST:
    options = dict(n_experiences=5, return_task_id=True, class_ids_from_zero_in_each_exp=True)
    return SplitMNIST(**{**options, **kwargs}, seed=1, dataset_root=root)


def mlp(hidden: int = 50) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 2))


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
    # batch sizes, iterations and lr: from the learner's config, nowhere else
    strategy = HNetStrategy.from_learner(learner, evaluator=quiet_evaluator())
    assert (strategy.train_mb_size, strategy.iters_per_task) == (cfg.train.batch_size, ITERS)
    assert strategy.eval_mb_size == cfg.train.eval_batch_size
    theirs = [[None] * num_tasks for _ in range(num_tasks)]
    for t, experience in enumerate(scenario.train_stream):
        strategy.train(experience, eval_streams=[])
        metrics = strategy.eval(scenario.test_stream[: t + 1])
        for j in range(t + 1):
            theirs[t][j] = 100.0 * metrics[accuracy_key(j)]
    for row_ours, row_theirs in zip(ours, theirs, strict=True):
        assert row_theirs == pytest.approx(row_ours, abs=1e-9)  # the same counts
    assert ours[-1][-1] > 75
    assert torch.get_num_threads() == 1


def test_user_model_on_avalanche_split_mnist_matches_hypercl_evaluation(mnist_dir):
    """A plain nn.Module on Avalanche's SplitMNIST (labels from 0 in each experience):
    in_features, heads and the number of tasks are worked out; Avalanche's accuracy metric
    equals the learner's own evaluation exactly; the user's module is left as it was."""
    torch.manual_seed(0)
    scenario = split_mnist(mnist_dir)
    model = mlp()
    before = {name: p.clone() for name, p in model.state_dict().items()}
    strategy = HNetStrategy(
        target=model,
        hnet=dict(kind="full", hidden=[10]),
        beta=0.01,
        lr=1e-3,
        train_mb_size=64,
        iters_per_task=20,
        seed=0,
        evaluator=quiet_evaluator(),
    )
    learner = strategy.learner
    assert learner.train_cfg.batch_size == strategy.train_mb_size == 64
    assert learner.train_cfg.iters_per_task == strategy.iters_per_task == 20
    for experience in scenario.train_stream:
        strategy.train(experience, eval_streams=[])
    assert learner.heads == Heads(1, 2)
    assert len(learner.hnet.task_embs) == strategy.num_learned == 5
    metrics = strategy.eval(scenario.test_stream)
    for t, experience in enumerate(scenario.test_stream):
        x, y, _ = next(iter(DataLoader(experience.dataset, batch_size=len(experience.dataset))))
        data = TaskData(x_train=x[:0], y_train=y[:0], x_test=x, y_test=y)
        ours, _ = learner.evaluate(t, data, num_learned=5, infer_task=False)
        assert 100.0 * metrics[accuracy_key(t)] == pytest.approx(ours, abs=1e-9)
        assert ours > 60, (t, ours)  # learned something in 20 steps (chance: 50)

    for name, tensor in model.state_dict().items():  # the user's module: not on meta, same
        assert tensor.device.type == "cpu" and torch.equal(tensor, before[name]), name
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 2)


def test_original_class_ids_are_refused_with_the_fix(mnist_dir):
    """Avalanche's own class ids ([5, 6], ...) would never be learned by a 2-unit head:
    training or evaluating such an experience raises, naming the argument that fixes it."""
    scenario = split_mnist(mnist_dir, class_ids_from_zero_in_each_exp=False)
    assert max(scenario.train_stream[0].classes_in_this_experience) >= 2
    strategy = HNetStrategy(target=mlp(), iters_per_task=1, evaluator=quiet_evaluator())
    fix = r"class_ids_from_zero_in_each_exp=True"
    with pytest.raises(ValueError, match=fix) as error:
        strategy.train(scenario.train_stream[0], eval_streams=[])
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=fix):
        strategy.eval(scenario.test_stream[:1])


def test_a_shared_task_label_is_refused(mnist_dir):
    """Without return_task_id every experience is task 0: retraining one embedding would
    forget, silently; the second experience raises instead (the first may be trained again)."""
    scenario = split_mnist(mnist_dir, return_task_id=False)
    strategy = HNetStrategy(target=mlp(), iters_per_task=1, evaluator=quiet_evaluator())
    strategy.train(scenario.train_stream[0], eval_streams=[])
    strategy.train(scenario.train_stream[0], eval_streams=[])  # the same experience again
    with pytest.raises(ValueError, match="return_task_id=True"):
        strategy.train(scenario.train_stream[1], eval_streams=[])


def test_functional_copy_leaves_the_users_module_alone():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    before = {name: t.clone() for name, t in model.state_dict().items()}
    target = functional_copy(model)
    assert target.num_params == 4 * 3 + 3 + 3 + 3 + 3 * 2 + 2
    assert target.has_buffers
    for name, tensor in model.state_dict().items():
        assert tensor.device.type == "cpu" and torch.equal(tensor, before[name])
    lazy = nn.Sequential(nn.LazyLinear(2))
    with pytest.raises(ValueError, match="lazy module"):
        functional_copy(lazy)


def test_hnet_options():
    cfg = hnet_config(dict(kind="full", hidden=(20,), activation="elu"), num_params=1000)
    assert cfg.kind == HNetKind.full and cfg.hidden == [20]
    assert hnet_config(None, num_params=1000).chunk_size == 1000  # capped default
    assert hnet_config(dict(chunk_size=300), num_params=1000).chunk_size == 300
    with pytest.raises(ValueError, match="unknown hnet option"):
        hnet_config(dict(chunks=3), num_params=1000)


def test_evaluating_the_whole_stream_changes_no_training(mnist_dir):
    """Avalanche's usual loop evaluates every experience, untrained tasks included: their
    embeddings come from their own generator in task order, so the trained weights are the
    same with or without those evaluations."""
    scenario = split_mnist(mnist_dir)

    def trained(evaluate: bool) -> dict[str, torch.Tensor]:
        strategy = HNetStrategy(target=mlp(), iters_per_task=5, seed=0, evaluator=quiet_evaluator())
        for experience in scenario.train_stream[:2]:
            if evaluate:
                strategy.eval(scenario.test_stream)
            strategy.train(experience, eval_streams=[])
        assert len(strategy.learner.hnet.task_embs) == (5 if evaluate else 2)
        return strategy.learner.hnet.state_dict()

    plain, evaluated = trained(False), trained(True)
    for name, tensor in plain.items():
        assert torch.equal(evaluated[name], tensor), name
