"""Baselines in the hypernetwork's harness, on avalanche-lib's strategies and plugins.

``run_avalanche(cfg, run_dir)`` is what :func:`hypercl.train.run` calls for every method
that is not the hypernetwork (``finetune``, ``ewc``, ``online_ewc``, ``si``, ``lwf``,
``replay``, ``joint``, ``separate``, ``lora``). Everything around the training is shared
with the hypernetwork's runner: the same :class:`~hypercl.data.tasks.Benchmark` tensors
(wrapped as Avalanche datasets with task labels), the same target architecture (the
template of :func:`hypercl.nets.targets.build_target`, as a plain module with its own weights,
see :mod:`hypercl.nets.plain_models`), the same iteration budget, batch size, learning rate and
Adam (a fresh optimizer state per task, as the hypernetwork learner;
``method.reset_optimizer=false`` keeps one across tasks, van de Ven & Tolias' default), the
same accuracy matrix, :func:`hypercl.metrics.summarize`, ``results.json`` and plots.

Strategies: ``finetune`` = Avalanche ``Naive``; ``ewc`` / ``online_ewc`` = ``Naive`` with
Avalanche's ``EWCPlugin`` (mode ``separate`` / ``online``; the Fisher is computed from
``method.fisher_batch_size`` samples per gradient, 1 = the per-sample Fisher of van de
Ven & Tolias); ``si`` = ``Naive`` with Avalanche's ``SynapticIntelligencePlugin`` (two fixes, see
:class:`SIPlugin`); ``lwf`` = ``LwF``; ``replay`` = ``Replay``
(experience-balanced buffer of ``method.replay_mem_size`` samples); ``joint`` =
``JointTraining``. Written here because Avalanche lacks them: ``separate`` (a freshly
initialised network per task, each trained with ``Naive`` and kept) and ``lora`` (the
network trained on task 1, then frozen; task t >= 2 trains only its own low-rank adapters
on every linear layer).

Scenarios:

* CL1: one head per task, the task label picks it (Avalanche ``MultiTaskModule``).
* CL2: one shared head, no task label.
* CL3, shared-network methods (``finetune`` ... ``joint``): class-incremental as in van de
  Ven & Tolias (2019): one output unit per class of the stream, labels global
  (``task * head_size + local``); while training task t and when testing after it, only
  the units of the classes seen so far (tasks 1..t) are active.
* CL2/CL3 for the per-task methods (``separate``, ``lora``): as the hypernetwork, each
  task trains its own head (CL3) or the shared head (CL2) and at test time the task is
  inferred by lowest predictive entropy over the learned tasks' models (HNET+ENT's rule,
  :func:`hypercl.methods.inference.infer_task_and_class`).

``joint`` trains once on all tasks together, with ``num_tasks x iters_per_task``
iterations (the budget of the whole sequence). It has no sequence, so every row of its
accuracy matrix holds that one model's accuracies (during = final, no forgetting by
construction).

Iteration budget: Avalanche strategies train in epochs; :class:`IterationBudget` sets
enough epochs and stops the strategy after exactly the task's number of iterations
(``train.iters_per_task``, or ``train.epochs_per_task`` epochs of full batches as the
hypernetwork learner counts them). Incomplete last batches of an epoch are dropped, as
in the hypernetwork's sampler.
"""

from __future__ import annotations

import logging

import torch
from avalanche.core import SupervisedPlugin
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.supervised import (
    LwF,
    Naive,
    Replay,
)
from avalanche.training.supervised.joint_training import JointTraining
from torch import nn

from hypercl.config import Config, ConfigError, MethodName, Scenario
from hypercl.data.avalanche_stream import avalanche_stream
from hypercl.data.tasks import Benchmark, TaskData
from hypercl.methods.avalanche_plugins import (
    FisherEWCPlugin,
    IterationBudget,
    SIPlugin,
    load_model_state,
    load_plugin_state,
    model_state,
    plugin_state,
)
from hypercl.methods.inference import infer_task_and_class
from hypercl.methods.published_hparams import hyperparameters
from hypercl.nets.heads import Heads
from hypercl.nets.plain_models import (
    ClassIncrementalNet,
    HeadNet,
    add_lora,
    lora_params_per_task,
    materialize,
    set_lora_task,
    train_only_lora_task,
)
from hypercl.nets.targets import build_target

log = logging.getLogger("hypercl")

PER_TASK_MODELS = (MethodName.separate, MethodName.lora)


class Baseline:
    """Builds the models and strategies of one baseline and evaluates them."""

    resumes_mid_task = False  # Avalanche's loop has no resumable mid-task state
    # joint: one training on all tasks (the loop calls train_task once, after the last)

    def __init__(self, cfg: Config, benchmark: Benchmark, device: torch.device) -> None:
        """``benchmark`` on the CPU: its training tensors are wrapped as Avalanche datasets."""
        if cfg.train.lr_milestones:
            raise ConfigError(
                f"train.lr_milestones={list(cfg.train.lr_milestones)} is invalid: method.name="
                f"{cfg.method.name.value} trains with a constant learning rate; set []."
            )
        self.cfg, self.benchmark, self.device = cfg, benchmark, device
        self.trains_once = cfg.method.name == MethodName.joint
        self.name, self.scenario = cfg.method.name, cfg.scenario
        self.num_tasks, self.head_size = benchmark.num_tasks, benchmark.head_size
        self.per_task = self.name in PER_TASK_MODELS
        # CL2 shares one head; otherwise one head (or class block) per task, as Heads.
        self.heads = Heads(1 if self.scenario == Scenario.cl2 else self.num_tasks, self.head_size)
        self.multi_head = self.per_task or self.scenario == Scenario.cl1
        self.hparams = hyperparameters(cfg, benchmark.name, self.num_tasks)
        self.budget = IterationBudget()
        self.extra_plugins: list[SupervisedPlugin] = []  # added to every strategy
        self.models: list[nn.Module] = []  # separate: one per task; else a single model
        self.strategy = None
        self.experiences = list(self.stream())  # training data (CPU)

    def describe(self) -> str:
        return f"{self.name.value} (Avalanche), hyperparameters {self.hparams}"

    def num_iters(self, task_id: int) -> int:
        """Iterations of a task, counted as the hypernetwork learner counts them."""
        return self.cfg.train.task_iters(len(self.benchmark.tasks[task_id].y_train))

    # --- models -------------------------------------------------------------------
    def new_model(self) -> nn.Module:
        cfg = self.cfg
        target = build_target(
            cfg.target.name,
            self.benchmark.in_features,
            self.heads.out_features,
            list(cfg.target.hidden),
            cfg.target.activation,
            self.benchmark.input_shape,
        )
        net = materialize(target, self.device)
        if self.name == MethodName.lora:
            add_lora(net, self.num_tasks, cfg.method.lora_rank, cfg.method.lora_alpha)
        if self.multi_head:
            return HeadNet(net, self.heads)
        num_active = self.head_size  # CL3: grows per task; CL2: the shared head
        return ClassIncrementalNet(net, self.heads.out_features, num_active)

    def make_strategy(self, model: nn.Module):
        cfg, hp = self.cfg, self.hparams
        optimizer = torch.optim.Adam(
            model.parameters(), lr=cfg.train.lr, betas=(cfg.train.adam_beta1, 0.999)
        )
        common = {
            "model": model,
            "optimizer": optimizer,
            "criterion": nn.CrossEntropyLoss(),
            "train_mb_size": cfg.train.batch_size,
            "train_epochs": 1,
            "eval_mb_size": cfg.train.eval_batch_size,
            "device": self.device,
            "evaluator": EvaluationPlugin(loggers=[]),
        }
        plugins: list = [self.budget, *self.extra_plugins]
        name = self.name
        if name in (MethodName.ewc, MethodName.online_ewc):
            online = name == MethodName.online_ewc
            ewc = FisherEWCPlugin(
                hp["ewc_lambda"] / 2,  # their lambda/2 convention; Avalanche adds lambda * sum
                mode="online" if online else "separate",
                decay_factor=hp["ewc_gamma"] if online else None,
                fisher_batch_size=hp["fisher_batch_size"],
            )
            return Naive(plugins=[*plugins, ewc], **common)
        if name == MethodName.si:
            # Avalanche's SI penalty is lambda/2 sum Omega (w - w*)^2: lambda = 2c.
            si = SIPlugin(si_lambda=2 * hp["si_c"], eps=hp["si_epsilon"])
            return Naive(plugins=[*plugins, si], **common)
        if name == MethodName.lwf:
            return LwF(
                alpha=hp["lwf_alpha"],
                temperature=hp["lwf_temperature"],
                plugins=plugins,
                **common,
            )
        if name == MethodName.replay:
            return Replay(mem_size=hp["replay_mem_size"], plugins=plugins, **common)
        if name == MethodName.joint:
            return JointTraining(plugins=plugins, **common)
        return Naive(plugins=plugins, **common)  # finetune, separate, lora

    # --- training -----------------------------------------------------------------
    def stream(self):
        if self.multi_head:
            labels = list(range(self.num_tasks))
        else:
            labels = [0] * self.num_tasks  # no task label in CL2 / CL3
        cl3_shared = self.scenario == Scenario.cl3 and not self.per_task
        offsets = [t * self.head_size if cl3_shared else 0 for t in range(self.num_tasks)]
        return avalanche_stream(self.benchmark, labels, offsets).train_stream

    def train_task(self, t: int, on_step, start_step: int = 0) -> None:
        """Train task t for its iterations (joint: all tasks at once, with the budget of the
        whole sequence); ``on_step(step, {"loss": loss})`` after each iteration."""
        assert start_step == 0, "baselines resume from the start of a task"
        tasks = range(self.num_tasks) if self.trains_once else [t]
        self.budget.budget = sum(map(self.num_iters, tasks))
        self.budget.on_step = lambda step, loss: on_step(step, {"loss": loss})
        if self.trains_once:
            self.train_joint(self.experiences)
        else:
            self.fit_task(t, self.experiences[t])

    def fit_task(self, t: int, experience) -> None:
        """Train task t on ``experience`` for ``self.budget.budget`` iterations."""
        if self.name == MethodName.separate or not self.models:
            self.models.append(self.new_model())
            self.strategy = self.make_strategy(self.models[-1])
        model = self.models[-1]
        if isinstance(model, ClassIncrementalNet) and self.scenario == Scenario.cl3:
            model.num_active = (t + 1) * self.head_size
        if self.name == MethodName.lora:
            train_only_lora_task(model, t)
        self.strategy.train(
            experience,
            eval_streams=[],
            drop_last=True,
            reset_optimizer_state=self.hparams["reset_optimizer"],
        )

    def train_joint(self, experiences: list) -> None:
        model = self.new_model()
        self.models.append(model)
        if isinstance(model, ClassIncrementalNet) and self.scenario == Scenario.cl3:
            model.num_active = self.heads.out_features
        self.strategy = self.make_strategy(model)
        self.strategy.train(experiences, eval_streams=[], drop_last=True)

    # --- checkpoint state ---------------------------------------------------------
    def state_dict(self) -> dict:
        """Models, optimizer, Avalanche's clock and every plugin's state (EWC's Fisher and
        anchors, SI's importances, LwF's previous model, the replay buffer's samples);
        complete between tasks, which is where a baseline resumes."""
        strategy = self.strategy
        if strategy is None:
            return {"models": []}
        return {
            "models": [model_state(m) for m in self.models],
            "optimizer": strategy.optimizer.state_dict(),
            "clock": {k: v for k, v in vars(strategy.clock).items() if isinstance(v, int)},
            "plugins": [plugin_state(p) for p in strategy.plugins],
        }

    def load_state_dict(self, state: dict, task_id: int, mid_task: bool = False) -> None:
        """Rebuild models and strategy from :meth:`state_dict` (never mid-task)."""
        assert not mid_task, "baselines resume from the start of a task"
        self.models = []
        for saved in state["models"]:
            self.models.append(self.new_model())
            load_model_state(self.models[-1], saved)
        if not self.models:
            return
        model = self.models[-1]
        strategy = self.strategy = self.make_strategy(model)
        # Avalanche maps parameters by name to carry optimizer state across tasks
        # (method.reset_optimizer=false); the first call would otherwise reset it.
        strategy.optimized_param_id = dict(model.named_parameters())
        strategy.optimizer.load_state_dict(state["optimizer"])
        vars(strategy.clock).update(state["clock"])
        for plugin, saved in zip(strategy.plugins, state["plugins"], strict=True):
            load_plugin_state(plugin, saved, model)

    # --- evaluation ---------------------------------------------------------------
    def task_logits(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Per-task methods: logits [B, head_size] of task k's model and head."""
        model = self.models[k] if self.name == MethodName.separate else self.models[0]
        return model.forward_single_task(x, k)

    @torch.no_grad()
    def evaluate(self, j: int, data: TaskData, num_learned: int) -> tuple[float, float | None]:
        """Test accuracy (percent) on task j after ``num_learned`` tasks, and (per-task
        methods without a task id) the task-inference accuracy."""
        for model in self.models:
            model.eval()
        infer = self.per_task and self.scenario != Scenario.cl1
        correct, task_right, n = 0, 0, 0
        for x, y in data.test_batches(self.cfg.train.eval_batch_size):
            n += len(y)
            if infer:
                logits = torch.stack([self.task_logits(k, x) for k in range(num_learned)])
                task, cls = infer_task_and_class(logits)
                hit = cls == y
                task_right += int((task == j).sum())
                if self.heads.num_heads > 1:
                    hit &= task == j
            elif self.per_task:
                hit = self.task_logits(j, x).argmax(1) == y
            elif self.multi_head:  # CL1
                hit = self.models[0].forward_single_task(x, j).argmax(1) == y
            else:
                model = self.models[0]
                if self.scenario == Scenario.cl3:
                    model.num_active = num_learned * self.head_size
                    y = y + j * self.head_size
                hit = model(x).argmax(1) == y
            correct += int(hit.sum())
        if self.name == MethodName.lora:
            set_lora_task(self.models[0], 0)
        return 100.0 * correct / n, (100.0 * task_right / n if infer else None)

    # --- results ------------------------------------------------------------------
    def results_fields(self) -> dict:
        """Sizes, stored parameters and hyperparameters for ``results.json``."""
        return {
            "num_params_hnet": None,
            "num_params_target": base_params(self.models[0]),
            "compression_ratio": None,
            **self.stored_params(),
            "method_hparams": self.hparams,
            "implementation": "avalanche",
        }

    # --- stored parameters ----------------------------------------------------------
    def stored_params(self) -> dict:
        """What must be kept to serve (and keep learning) all tasks, in numbers."""
        t, name = self.num_tasks, self.name
        net = self.models[0]
        if name == MethodName.lora:
            adapters = lora_params_per_task(net)
            base = base_params(net)
            per_task, total = adapters, base + (t - 1) * adapters
            note = "frozen target (trained on task 1) + low-rank adapters of tasks 2..T"
        else:
            p = base_params(net)
            per_task, total, note = 0, p, "one target network"
            if name == MethodName.separate:
                per_task, total, note = p, t * p, "one target network per task"
            elif name == MethodName.ewc:
                per_task, total = 2 * p, p + 2 * p * t
                note = "target + Fisher and parameters of every task"
            elif name == MethodName.online_ewc:
                total, note = 3 * p, "target + running Fisher + parameters after the last task"
            elif name == MethodName.si:
                total, note = 3 * p, "target + importance Omega + parameters after the last task"
            elif name == MethodName.lwf:
                total, note = 2 * p, "target + copy of the previous target (distillation)"
            elif name == MethodName.replay:
                buffer = self.hparams["replay_mem_size"] * (self.benchmark.in_features + 1)
                total = p + buffer
                note = f"target + {self.hparams['replay_mem_size']} stored samples (inputs, labels)"
            elif name == MethodName.joint:
                note = "one target network (and all tasks' training data at once)"
        return {
            "params_stored_per_task": per_task,
            "params_stored_total": total,
            "params_stored_note": note,
        }


def base_params(model: nn.Module) -> int:
    """Scalars of the target network itself (all heads; LoRA adapters left out)."""
    return sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
