"""The hypernetwork as an Avalanche citizen: a ``MultiTaskModule`` and a strategy.

An Avalanche user can drop the task-conditioned hypernetwork into their own pipeline::

    strategy = HNetStrategy(learner=learner, train_mb_size=128, iters_per_task=2000,
                            evaluator=EvaluationPlugin(accuracy_metrics(experience=True)))
    for experience in scenario.train_stream:
        strategy.train(experience)
        strategy.eval(scenario.test_stream[: experience.current_experience + 1])

:class:`HNetModule` is the model (target weights generated from the experience's task
label, one head per task; Avalanche's multi-task forward routes each sample by its task
label). :class:`HNetStrategy` is Avalanche's ``SupervisedTemplate`` with the three things
the hypernetwork needs: at the start of each experience the regularizer's targets are
snapshotted and a fresh Adam over theta and the *current* task embedding is made
(:meth:`HNetLearner.make_optimizer`); after the task loss's backward, the output
regularizer's gradients (with the lookahead) are added, exactly as
:meth:`HNetLearner.train_step` does; and mini-batches come from the learner's own
:class:`~hypercl.methods.learner.BatchSampler` (same generator), ``iters_per_task`` of them.
With the same seed the strategy therefore trains the same weights as
:func:`hypercl.train.run` (tests/test_avalanche_plugin.py checks the accuracy matrix).

Task-incremental (CL1, the task label is given) is Avalanche's multi-task setting; for CL2 /
CL3 (task inferred by HNET+ENT), train with this strategy and evaluate with
``strategy.learner.evaluate(task, data, num_learned, infer_task=True)``.
"""

from __future__ import annotations

import torch
from avalanche.models import MultiTaskModule
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn
from torch.utils.data import DataLoader

from hypercl.data.batches import BatchSampler
from hypercl.methods.learner import HNetLearner
from hypercl.methods.lookahead import lookahead_params


class HNetModule(MultiTaskModule):
    """forward(x, task_labels) -> logits of each sample's task head [B, head_size]."""

    def __init__(self, learner: HNetLearner) -> None:
        super().__init__()
        self.learner = learner
        self.hnet = learner.hnet  # registered: model.parameters() are the hnet's
        self.max_class_label = learner.heads.head_size

    def train(self, mode: bool = True) -> HNetModule:
        """Also the target's mode (not a submodule: its template lives on ``meta``)."""
        self.learner.target.train(mode)
        return super().train(mode)

    def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
        learner = self.learner
        ids = torch.full((1,), task_label, device=x.device)
        weights = self.hnet(ids)[0]
        out = learner.target(x, weights, learner.bn_stats.get(task_label))
        return out[:, learner.heads.slice(task_label)]


class _FixedBatches:
    """A batch sampler of exactly ``num_batches`` batches from a :class:`BatchSampler`."""

    def __init__(self, sampler: BatchSampler, num_batches: int) -> None:
        self.sampler, self.num_batches = sampler, num_batches

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self):
        for _ in range(self.num_batches):
            yield self.sampler.next().tolist()


class HNetStrategy(SupervisedTemplate):
    """Avalanche strategy training an :class:`HNetLearner` one experience (task) at a time.

    Args:
        learner: e.g. from :func:`hypercl.methods.learner.build_learner`; its config (beta,
            lookahead, lr, ...) is used as it is.
        iters_per_task: training iterations per experience (one "epoch" of that many
            batches, drawn like the learner's own sampler).
        Other keyword arguments go to ``SupervisedTemplate`` (``evaluator``, ``plugins``,
        ``eval_mb_size``, ``device``).
    """

    def __init__(
        self,
        *,
        learner: HNetLearner,
        train_mb_size: int,
        iters_per_task: int,
        device: torch.device | str = "cpu",
        evaluator: EvaluationPlugin | None = None,
        **kwargs,
    ) -> None:
        self.learner = learner
        self.iters_per_task = iters_per_task
        self._optimizer_for = None  # the experience the current optimizer was made for
        super().__init__(
            model=HNetModule(learner),
            optimizer=learner.make_optimizer(0),  # replaced at every experience
            criterion=nn.CrossEntropyLoss(),
            train_mb_size=train_mb_size,
            train_epochs=1,
            device=device,
            evaluator=evaluator if evaluator is not None else EvaluationPlugin(loggers=[]),
            **kwargs,
        )

    @property
    def task_id(self) -> int:
        labels = self.experience.task_labels
        if len(labels) != 1:
            raise ValueError(f"HNetStrategy trains one task per experience, got {labels}")
        return int(labels[0])

    def make_optimizer(self, **kwargs) -> None:
        """Start of an experience: snapshot the regularizer's targets, fresh BN statistics
        and a fresh Adam over theta and this task's embedding (as HNetLearner.train_task)."""
        if self._optimizer_for is self.experience:  # Avalanche may ask twice
            return
        self._optimizer_for = self.experience
        learner, t = self.learner, self.task_id
        learner.regularizer.snapshot(learner.hnet, t if learner.method.beta > 0 else 0)
        learner.init_bn_stats(t)
        self.optimizer = learner.make_optimizer(t)

    def make_train_dataloader(self, **kwargs) -> None:
        """``iters_per_task`` batches drawn by the learner's sampler (its generator)."""
        dataset = self.adapted_dataset
        sampler = BatchSampler(len(dataset), self.train_mb_size, self.learner.generator, "cpu")
        self.dataloader = DataLoader(
            dataset,
            batch_sampler=_FixedBatches(sampler, self.iters_per_task),
            collate_fn=getattr(dataset, "collate_fn", None),
        )

    def backward(self) -> None:
        """The task loss's gradients, then the output regularizer's (lookahead included)."""
        super().backward()
        learner = self.learner
        if learner.regularizer.num_prev > 0 and learner.method.beta > 0:
            override = None
            if learner.method.lookahead:
                override = lookahead_params(self.optimizer, learner.hnet.theta())
            loss_reg = learner.regularizer(learner.hnet, override)
            (learner.method.beta * loss_reg).backward()
