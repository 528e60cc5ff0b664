"""The hypernetwork as an Avalanche citizen: a strategy for a user's own model.

An Avalanche user hands over their own ``nn.Module``; the hypernetwork generates all its
weights, one set per task (task-incremental: one task label per experience)::

    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 2))
    benchmark = SplitMNIST(n_experiences=5, return_task_id=True,
                           class_ids_from_zero_in_each_exp=True)
    strategy = HNetStrategy(target=model, hnet=dict(hidden=[10, 10]), beta=0.01, lr=1e-3,
                            train_mb_size=128, iters_per_task=2000,
                            evaluator=EvaluationPlugin(accuracy_metrics(experience=True)))
    for experience in benchmark.train_stream:
        strategy.train(experience)
        strategy.eval(benchmark.test_stream[: experience.current_experience + 1])

What is worked out, not given:

* the model is made functional on a shape-only ``meta`` copy: ``model`` itself is not
  touched (its own weights are not used: the hypernetwork generates them);
* the head is the model's whole output, its size found on the first experience's input;
* the number of tasks: each new task label gets a new task embedding.

Batch size, iterations per task and learning rate are the strategy's arguments and nothing
else (they make the learner's :class:`~hypercl.config.TrainConfig`).

**Labels are checked, not mapped.** Each task's head has as many outputs as the model, so
the class labels of an experience must be ``0 .. outputs - 1``. Avalanche keeps the
original class ids (``[3, 7]``, ``[9, 1]``, ...) unless the benchmark is built with
``class_ids_from_zero_in_each_exp=True``; such an experience raises a ``ValueError`` naming
that fix (labels >= outputs would otherwise never be learned, silently). Mapping them inside
would leave Avalanche's metrics comparing predictions with labels of another numbering.
Each new experience must bring the next task label, 0, 1, 2, ... (``return_task_id=True``;
one shared task label would retrain one embedding and forget); the same experience may be
trained again.

:meth:`HNetStrategy.from_learner` wraps hypercl's own :class:`HNetLearner` (built from a
:class:`~hypercl.config.Config`, one head per task) instead; batch size, iterations and lr
then come from ``learner.train_cfg``. With the same seed it trains the same weights as
:func:`hypercl.train.run` (tests/test_avalanche_plugin.py checks the accuracy matrix).

The strategy is Avalanche's ``SupervisedTemplate`` with what the hypernetwork needs: at the
start of each experience the regularizer's targets are snapshotted and a fresh Adam over
theta and the *current* task embedding is made (:meth:`HNetLearner.make_optimizer`); after
the task loss's backward, the output regularizer's gradients (with the lookahead) are added,
as :meth:`HNetLearner.train_step` does; mini-batches are ``iters_per_task`` draws of the
learner's :class:`~hypercl.data.batches.BatchSampler` (same generator).

For CL2 / CL3 (task inferred by HNET+ENT), train with this strategy and evaluate with
``strategy.learner.evaluate(task, data, num_learned, infer_task=True)``.
"""

from __future__ import annotations

import torch
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn
from torch.utils.data import DataLoader

from hypercl.config import HNetConfig, MethodConfig, TrainConfig
from hypercl.data.batches import BatchSampler
from hypercl.methods.hnet_strategy_module import HNetModule, functional_copy, hnet_config
from hypercl.methods.learner import HNetLearner
from hypercl.methods.lookahead import lookahead_params
from hypercl.nets.hnets import build_hnet

__all__ = ["HNetModule", "HNetStrategy"]


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
    """Avalanche strategy: a task-conditioned hypernetwork generates ``target``'s weights.

    Args:
        target: the user's ``nn.Module``, [B, ...] -> [B, classes per task]; left untouched.
        hnet: hypernetwork options, :class:`~hypercl.config.HNetConfig` fields (``kind``
            "chunked" or "full", ``hidden``, ``activation``, ``task_emb_dim``,
            ``chunk_size``, ``chunk_emb_dim``); the default chunk size is capped at the
            model's number of weights.
        beta: strength of the output regularizer (0: no protection of earlier tasks).
        lookahead: regularize at theta + the optimizer's step on the task loss.
        lr: Adam's learning rate.
        train_mb_size, iters_per_task: each experience trains ``iters_per_task`` batches.
        eval_mb_size: evaluation batch size (Avalanche's and the learner's).
        seed: the hypernetwork's initialisation, task embeddings and batch order; None
            draws it from torch's global generator (``torch.manual_seed`` fixes a run).
        device, evaluator, other keyword arguments: as ``SupervisedTemplate``'s
            (``plugins``, ``eval_every``, ...).
    """

    def __init__(
        self,
        *,
        target: nn.Module,
        hnet: dict | HNetConfig | None = None,
        beta: float = 0.01,
        lookahead: bool = True,
        lr: float = 1e-3,
        train_mb_size: int = 128,
        iters_per_task: int = 2000,
        eval_mb_size: int = 500,
        seed: int | None = None,
        device: torch.device | str = "cpu",
        evaluator: EvaluationPlugin | None = None,
        **kwargs,
    ) -> None:
        if iters_per_task < 1 or train_mb_size < 1:
            raise ValueError(
                f"iters_per_task={iters_per_task}, train_mb_size={train_mb_size}: "
                "both must be at least 1"
            )
        if seed is None:
            seed = int(torch.randint(2**62, ()))
        functional = functional_copy(target)
        hnet_cfg = hnet_config(hnet, functional.num_params)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = build_hnet(hnet_cfg, functional.num_params, num_tasks=0).to(device)
        train = TrainConfig(
            iters_per_task=iters_per_task,
            batch_size=train_mb_size,
            lr=lr,
            eval_batch_size=eval_mb_size,
        )
        learner = HNetLearner(
            net,
            functional,
            None,  # the heads: the model's whole output, its size found on the first input
            MethodConfig(beta=beta, lookahead=lookahead),
            train,
            torch.Generator().manual_seed(seed),
        )
        module = HNetModule(learner, torch.Generator().manual_seed(seed + 1), hnet_cfg.task_emb_dim)
        self._setup(learner, module, device, evaluator, **kwargs)

    @classmethod
    def from_learner(
        cls,
        learner: HNetLearner,
        *,
        device: torch.device | str = "cpu",
        evaluator: EvaluationPlugin | None = None,
        **kwargs,
    ) -> HNetStrategy:
        """The strategy for hypercl's own learner (e.g. from
        :func:`hypercl.methods.learner.build_learner`): its config (beta, lookahead, lr,
        batch sizes, ``iters_per_task``, heads, number of tasks) is used as it is."""
        if learner.train_cfg.iters_per_task is None:
            raise ValueError("HNetStrategy trains by iterations: set train.iters_per_task")
        strategy = cls.__new__(cls)
        strategy._setup(learner, HNetModule(learner), device, evaluator, **kwargs)
        return strategy

    def _setup(self, learner, module, device, evaluator, **kwargs) -> None:
        self.learner = learner
        self.iters_per_task = learner.train_cfg.iters_per_task
        self.num_learned = 0  # tasks trained so far (task labels 0 .. num_learned - 1)
        self._optimizer_for = None  # the experience the current optimizer was made for
        self._last_trained = None  # (experience, task label) trained last
        super().__init__(
            model=module,
            # replaced at every experience (make_optimizer)
            optimizer=torch.optim.Adam(learner.hnet.theta().values()),
            criterion=nn.CrossEntropyLoss(),
            train_mb_size=learner.train_cfg.batch_size,
            train_epochs=1,
            eval_mb_size=learner.train_cfg.eval_batch_size,
            device=device,
            evaluator=evaluator if evaluator is not None else EvaluationPlugin(loggers=[]),
            **kwargs,
        )

    @property
    def task_id(self) -> int:
        """The current experience's task label, checked: one per experience, in order."""
        labels = list(self.experience.task_labels)
        exp = self.experience.current_experience
        if len(labels) != 1:
            raise ValueError(
                f"HNetStrategy learns one task per experience, but experience {exp} has task "
                f"labels {labels}: build the benchmark with return_task_id=True"
            )
        task = int(labels[0])
        again = (exp, task) == self._last_trained  # the same experience trained again
        if self.is_training and task != self.num_learned and not again:
            raise ValueError(
                f"HNetStrategy learns one new task per experience, task labels 0, 1, 2, ... in "
                f"order: experience {exp} has task label {task} after {self.num_learned} "
                "learned task(s); build the benchmark with return_task_id=True and train its "
                "experiences in order"
            )
        return task

    def check_model_and_optimizer(self, **kwargs) -> None:
        """Adapt the model (head size, label check, new embedding), then the optimizer."""
        self.model = self.model_adaptation()
        self.make_optimizer(**kwargs)

    def make_optimizer(self, **kwargs) -> None:
        """Start of an experience: snapshot the regularizer's targets, fresh BN statistics
        and a fresh Adam over theta and this task's embedding (as HNetLearner.begin_task)."""
        if self._optimizer_for is self.experience:  # Avalanche may ask twice
            return
        learner, t = self.learner, self.task_id
        self._optimizer_for = self.experience
        learner.regularizer.snapshot(learner.hnet, t if learner.method.beta > 0 else 0)
        learner.init_bn_stats(t)
        self.optimizer = learner.make_optimizer(t)
        self.num_learned = max(self.num_learned, t + 1)
        self._last_trained = (self.experience.current_experience, t)

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
