"""hypercl.bench.batched_seeds: one batched step of N seeds is N independent learner steps."""

from __future__ import annotations

import pytest
import torch

from hypercl.bench.batched_seeds import BatchedSeedsStep, make_learners


@pytest.mark.parametrize("num_prev", [1, 2])
def test_batched_step_gives_each_seed_its_own_sequential_step(num_prev: int) -> None:
    torch.set_num_threads(1)
    seeds = [3, 7]
    learners = make_learners("split_mnist_cl1", seeds, num_tasks=5)
    for learner in learners:
        learner.regularizer.snapshot(learner.hnet, num_prev)
    batched = BatchedSeedsStep(learners, num_prev)
    optimizers = [learner.make_optimizer(num_prev) for learner in learners]
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = torch.rand(len(seeds), 16, 1, 28, 28, generator=gen)
        y = torch.randint(0, 2, (len(seeds), 16), generator=gen)
        task_losses = batched.step(x, y)
        for i, (learner, opt) in enumerate(zip(learners, optimizers, strict=True)):
            losses = learner.train_step(num_prev, opt, x[i], y[i])
            assert losses["loss_reg"] > 0  # the regularizer is part of both steps
            torch.testing.assert_close(task_losses[i], losses["loss_task"])
    for i, learner in enumerate(learners):
        mine = batched.seed_params(i)
        theirs = {**learner.hnet.theta(), "emb": learner.hnet.task_embs[num_prev]}
        assert mine.keys() == theirs.keys()
        for name, value in theirs.items():
            # Adam divides by sqrt(v): where a gradient is ~0 a rounding difference moves a
            # parameter by up to lr (1e-3) per step; all but a few agree to 1e-5.
            diff = (mine[name] - value.detach()).abs()
            assert diff.max() < 2e-4 and diff.mean() < 1e-6, (name, diff.max(), diff.mean())
    # the seeds started apart and stay apart: nothing is shared between them
    assert not torch.allclose(
        batched.seed_params(0)["head.bias"], batched.seed_params(1)["head.bias"]
    )


def test_batched_step_needs_the_snapshot_of_the_task() -> None:
    learners = make_learners("split_mnist_cl1", [0], num_tasks=5)
    with pytest.raises(ValueError, match="fast regularizer snapshot"):
        BatchedSeedsStep(learners, 2)
