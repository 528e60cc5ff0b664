"""Permuted-MNIST protocol, HNET+ENT task inference, CL2/CL3 evaluation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from avalanche_mnist import _to_tensors, avalanche_split_mnist, perm_mnist_stream
from torchvision.datasets import MNIST

from hypercl.config import Activation, MethodConfig, TrainConfig
from hypercl.data.mnist import perm_mnist, pixel_permutations, split_mnist
from hypercl.data.tasks import TaskData
from hypercl.methods.inference import entropy, head_logits, infer_task_and_class
from hypercl.methods.learner import HNetLearner
from hypercl.nets.heads import Heads
from hypercl.nets.hnets import FullHyperNetwork
from hypercl.nets.targets import build_target


def test_permutations_reproducible_distinct_and_prefix_stable():
    a = pixel_permutations(4, 1024, data_seed=42)
    b = pixel_permutations(4, 1024, data_seed=42)
    c = pixel_permutations(4, 1024, data_seed=7)
    assert a[0] is None  # paper protocol: task 1 unpermuted
    assert all(torch.equal(x, y) for x, y in zip(a[1:], b[1:], strict=True))
    assert not torch.equal(a[1], a[2]) and not torch.equal(a[1], c[1])
    assert sorted(a[1].tolist()) == list(range(1024))
    longer = pixel_permutations(10, 1024, data_seed=42)  # more tasks keep the first ones
    assert all(torch.equal(x, y) for x, y in zip(a[1:], longer[1:4], strict=True))


def test_avalanche_flavour_permutes_every_task_like_permuted_mnist():
    import numpy as np

    perms = pixel_permutations(2, 784, data_seed=3, permute_first_task=True)
    rng = np.random.RandomState(3)  # what avalanche's PermutedMNIST(seed=3) draws
    assert torch.equal(perms[0], torch.from_numpy(rng.permutation(784)))
    assert torch.equal(perms[1], torch.from_numpy(rng.permutation(784)))


def test_task1_is_padded_plain_mnist_and_tasks_match_the_avalanche_stream(mnist_dir):
    bench = perm_mnist(mnist_dir, num_tasks=3, data_seed=42)
    assert bench.in_features == 1024 and bench.head_size == 10 and bench.num_tasks == 3
    raw = MNIST(str(mnist_dir), train=False, download=False)
    order = torch.argsort(raw.targets, stable=True)  # Avalanche groups a stream by class
    padded = F.pad(raw.data[order].float() / 255, [2, 2, 2, 2]).flatten(1)
    task1_x, task1_y = next(bench.tasks[0].test_batches(10_000))
    torch.testing.assert_close(task1_x, padded, rtol=0, atol=0)
    assert torch.equal(task1_y, raw.targets[order])

    perms = pixel_permutations(3, 1024, 42)
    stream = perm_mnist_stream(mnist_dir, perms)
    for t in (1, 2):
        x_ours, y_ours = next(bench.tasks[t].test_batches(5))
        exp = stream.test_stream[t]
        assert exp.task_label == t
        x_av = torch.stack([exp.dataset[i][0] for i in range(5)])
        y_av = torch.tensor([exp.dataset[i][1] for i in range(5)])
        torch.testing.assert_close(x_ours, x_av, rtol=0, atol=0)
        assert torch.equal(y_ours, y_av)
        torch.testing.assert_close(x_ours, padded[:5][:, perms[t]], rtol=0, atol=0)
    assert not torch.equal(bench.tasks[1].x_test[:5][:, perms[1]], padded[:5])


def per_sample_inference(target, x, weights, heads, head_size):
    """The slow reference: one sample and one embedding at a time."""
    tasks, classes = [], []
    for i in range(len(x)):
        best = None
        for k in range(len(weights)):
            logits = target(x[i : i + 1], weights[k])[0]
            logits = logits[heads[k] * head_size : (heads[k] + 1) * head_size]
            h = entropy(logits).item()
            if best is None or h < best[0]:
                best = (h, k, logits.argmax().item())
        tasks.append(best[1])
        classes.append(best[2])
    return torch.tensor(tasks), torch.tensor(classes)


def test_batched_inference_equals_per_sample_loop():
    torch.manual_seed(0)
    target = build_target("mlp", 12, 4 * 3, [16], Activation.relu)
    hnet = FullHyperNetwork(target.num_params, 4, 5, [20])
    x = torch.randn(40, 12)
    ids = torch.arange(4)
    weights = hnet(ids).detach()
    for heads in (ids, torch.zeros(4, dtype=torch.long)):  # CL3 heads, CL2 shared head
        logits = head_logits(target, x, weights, heads, head_size=3)
        assert logits.shape == (4, 40, 3)
        batched = infer_task_and_class(logits)
        looped = per_sample_inference(target, x, weights, heads, head_size=3)
        assert torch.equal(batched[0], looped[0]) and torch.equal(batched[1], looped[1])
        assert len(set(batched[0].tolist())) > 1  # not a degenerate case


def test_confident_embedding_is_inferred():
    # Three candidate tasks; only task 2's head is confident (large margin) on these inputs.
    logits = torch.zeros(3, 6, 2)
    logits[2, :, 1] = 8.0
    logits[0, :, 0] = 0.3
    task, cls = infer_task_and_class(logits)
    assert task.tolist() == [2] * 6 and cls.tolist() == [1] * 6


def make_learner(num_heads: int) -> HNetLearner:
    torch.manual_seed(0)
    target = build_target("mlp", 6, num_heads * 2, [5], Activation.relu)
    hnet = FullHyperNetwork(target.num_params, 3, 4, [8])
    return HNetLearner(
        hnet,
        target,
        Heads(num_heads, 2),
        MethodConfig(),
        TrainConfig(eval_batch_size=7),
        torch.Generator().manual_seed(0),
    )


def test_cl2_uses_one_shared_head_and_cl3_needs_the_right_task():
    x = torch.randn(30, 6)
    y = (x[:, 0] > 0).long()
    data = TaskData(x, y, x, y)
    cl2, cl3 = make_learner(num_heads=1), make_learner(num_heads=3)
    assert cl2.target.template[-1].out_features == 2  # one shared 2-unit head
    assert cl3.target.template[-1].out_features == 6
    for learner, shared in ((cl2, True), (cl3, False)):
        weights = learner.hnet(torch.arange(3)).detach()
        heads = torch.arange(3) % learner.heads.num_heads
        task, cls = infer_task_and_class(head_logits(learner.target, x, weights, heads, 2))
        hit = cls == y if shared else (cls == y) & (task == 1)
        acc, task_acc = learner.evaluate(1, data, num_learned=3, infer_task=True)
        assert acc == pytest.approx(100.0 * hit.sum().item() / 30)
        assert task_acc == pytest.approx(100.0 * (task == 1).sum().item() / 30)
        # "during": only the embeddings learned so far are candidates
        _, only_first = learner.evaluate(1, data, num_learned=1, infer_task=True)
        assert only_first == 0.0


def test_split_mnist_read_directly_equals_the_avalanche_stream(mnist_dir):
    ours, avalanche = split_mnist(mnist_dir), avalanche_split_mnist(mnist_dir)
    for mine, theirs in zip(ours.tasks, avalanche.tasks, strict=True):
        for field in ("x_train", "y_train", "x_test", "y_test"):
            assert torch.equal(getattr(mine, field), getattr(theirs, field)), field


def test_perm_mnist_read_directly_equals_the_avalanche_stream(mnist_dir):
    ours = perm_mnist(mnist_dir, num_tasks=1).tasks[0]
    stream = perm_mnist_stream(mnist_dir, [None])
    x_train, y_train = _to_tensors(stream.train_stream[0].dataset)
    x_test, y_test = _to_tensors(stream.test_stream[0].dataset)
    assert torch.equal(ours.x_train, x_train) and torch.equal(ours.y_train, y_train)
    assert torch.equal(ours.x_test, x_test) and torch.equal(ours.y_test, y_test)
