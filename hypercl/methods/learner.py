"""The hypernetwork learner: trains one task at a time, predicts with any task's weights.

One training step on task t (batch x [B, ...], local labels y [B])::

    w      = H(e_t)                                  # [num_params], generated once
    L_task = CE(target(x, w)[:, head_t], y)
    L_task.backward()                                # grads on theta and e_t
    dtheta = Adam's next step on those grads         # lookahead (detached), optional
    (beta * reg(theta + dtheta)).backward()          # adds the regularizer's grads
    optimizer.step()
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from hypercl.config import Config, MethodConfig, MethodName, TrainConfig, keys_to_lower
from hypercl.data.batches import BatchSampler
from hypercl.data.tasks import TaskData
from hypercl.errors import NonFiniteLossError
from hypercl.methods.cuda_graph import GraphedStep
from hypercl.methods.inference import head_logits, infer_task_and_class
from hypercl.methods.lookahead import lookahead_params
from hypercl.methods.regularizer import OutputRegularizer
from hypercl.methods.scratch import ScratchWeights
from hypercl.nets.heads import Heads
from hypercl.nets.hnets import HyperNetwork, build_hnet
from hypercl.nets.targets import FunctionalTarget, build_target

StepCallback = Callable[[int, dict[str, torch.Tensor]], None]


class HNetLearner:
    """Continual learning with a task-conditioned hypernetwork (von Oswald et al., 2020)."""

    def __init__(
        self,
        hnet: HyperNetwork | ScratchWeights,
        target: FunctionalTarget,
        heads: Heads,
        method: MethodConfig,
        train: TrainConfig,
        generator: torch.Generator,
        per_task_bn: bool = True,
    ) -> None:
        self.hnet, self.target, self.heads = hnet, target, heads
        self.method, self.train_cfg = method, train
        self.generator = generator
        # Batch-norm running statistics by task (targets with buffers only). Without
        # per_task_bn every task's entry is the same dict: one set shared by all tasks.
        self.per_task_bn = per_task_bn
        self.bn_stats: dict[int, dict[str, torch.Tensor]] = {}
        self.regularizer = OutputRegularizer(
            method.reg_targets, method.reg_impl, method.reg_subset, generator
        )
        # The task being trained: its optimizer, batch order and steps done (checkpointed).
        self.optimizer: torch.optim.Adam | None = None
        self.sampler: BatchSampler | None = None
        self.step = 0
        # On the device, updated inside the step: steps taken, first step with a NaN/inf loss.
        self.step_count = torch.zeros((), dtype=torch.long, device=self.device)
        self.first_bad_step = torch.zeros((), dtype=torch.long, device=self.device)
        if method.ignore_other_heads and heads.num_heads > 1:
            self.regularizer.ignore_other_heads(
                [target.output_indices(heads.slice(k)) for k in range(heads.num_heads)]
            )

    @property
    def device(self) -> torch.device:
        return next(self.hnet.parameters()).device

    def make_optimizer(self, task_id: int) -> torch.optim.Adam:
        """Adam over theta and the current task's embedding only (earlier ones stay frozen).

        The fused kernel does the whole update in one pass (4x faster than the default on CPU).
        On CUDA it is ``capturable`` (state on the device), so a step can be a CUDA graph.
        """
        params = [*self.hnet.theta().values(), self.hnet.task_embs[task_id]]
        betas = (self.train_cfg.adam_beta1, 0.999)
        capturable = self.device.type == "cuda"
        return torch.optim.Adam(
            params, lr=self.train_cfg.lr, betas=betas, fused=True, capturable=capturable
        )

    def use_cuda_graph(self) -> bool:
        """Replay each step as a CUDA graph: on CUDA, unless a random subset of previous
        tasks is drawn on the host every step (a graph would freeze the draw)."""
        return (
            self.train_cfg.cuda_graphs
            and self.device.type == "cuda"
            and self.method.reg_subset is None
        )

    def task_loss(self, task_id: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of task ``task_id``'s head on a batch x [B, ...], y [B]."""
        ids = torch.full((1,), task_id, device=self.device)  # a fill: no host copy
        weights = self.hnet(ids, keep_padding=True).squeeze(0)  # a view: no copy backward
        logits = self.target(x, weights, self.bn_stats.get(task_id))[:, self.heads.slice(task_id)]
        return F.cross_entropy(logits, y)

    def train_step(self, task_id: int, optimizer: torch.optim.Adam, x, y) -> dict:
        """One optimizer step; returns detached losses (no host sync): ``loss`` (the loss
        minimised), ``loss_task``, ``loss_reg``."""
        optimizer.zero_grad(set_to_none=True)
        loss_task = self.task_loss(task_id, x, y)
        loss_task.backward()
        loss_reg = torch.zeros((), device=self.device)
        if self.regularizer.num_prev > 0 and self.method.beta > 0:
            override = None
            if self.method.lookahead:
                override = lookahead_params(
                    optimizer, self.hnet.theta(), self.method.lookahead_adam
                )
            loss_reg = self.regularizer(self.hnet, override)
            (self.method.beta * loss_reg).backward()
        optimizer.step()
        with torch.no_grad():  # device-side bookkeeping: no host sync, fine in a CUDA graph
            self.step_count.add_(1)
            bad = ~torch.isfinite(loss_task + loss_reg) & (self.first_bad_step == 0)
            self.first_bad_step.copy_(torch.where(bad, self.step_count, self.first_bad_step))
            loss = loss_task + self.method.beta * loss_reg  # the loss minimised
        return {"loss": loss, "loss_task": loss_task.detach(), "loss_reg": loss_reg.detach()}

    def check_finite(self, task_id: int) -> None:
        """Raise :class:`NonFiniteLossError` if a loss of this task was NaN or infinite."""
        bad = int(self.first_bad_step)
        if bad:
            lower = keys_to_lower(self.method, self.train_cfg)
            raise NonFiniteLossError.of("classifier", task_id, bad, lower)

    def iters_per_epoch(self, data: TaskData) -> int:
        """Full batches in one pass over the task's training set (the last partial is dropped)."""
        return self.train_cfg.iters_per_epoch(len(data.y_train))

    def num_iters(self, data: TaskData) -> int:
        """Training steps for a task: ``epochs_per_task`` epochs if set, else ``iters_per_task``."""
        return self.train_cfg.task_iters(len(data.y_train))

    def init_bn_stats(self, task_id: int) -> None:
        """Fresh running statistics for task ``task_id`` (or the shared set without per-task BN)."""
        if not self.target.has_buffers or task_id in self.bn_stats:
            return
        if self.per_task_bn or not self.bn_stats:
            self.bn_stats[task_id] = self.target.init_buffers(self.device)
        else:
            self.bn_stats[task_id] = next(iter(self.bn_stats.values()))

    def begin_task(self, task_id: int, data: TaskData) -> None:
        """Regularizer snapshot, fresh batch-norm statistics, optimizer and batch order."""
        # Without a regularizer (beta 0: finetune, from_scratch) there is nothing to snapshot.
        self.regularizer.snapshot(self.hnet, task_id if self.method.beta > 0 else 0)
        self.init_bn_stats(task_id)
        self.optimizer = self.make_optimizer(task_id)
        self.sampler = BatchSampler(
            len(data.y_train), self.train_cfg.batch_size, self.generator, self.device
        )
        self.step = 0

    def train_task(
        self,
        task_id: int,
        data: TaskData,
        on_step: StepCallback | None = None,
        resume: bool = False,
    ) -> None:
        """Train task ``task_id`` for :meth:`num_iters` steps on data (on device).

        With ``resume``, go on after step ``self.step`` of a state restored by
        :meth:`load_state_dict`; else start the task with :meth:`begin_task`. The learning
        rate follows ``train.lr_milestones``/``lr_factors`` (epochs of this task);
        batch-norm statistics of the task are updated in place.
        """
        if not resume:
            self.begin_task(task_id, data)
        optimizer, sampler = self.optimizer, self.sampler
        self.step_count = torch.full((), self.step, dtype=torch.long, device=self.device)
        self.first_bad_step = torch.zeros((), dtype=torch.long, device=self.device)
        self.hnet.train()
        self.target.train()
        per_epoch = self.iters_per_epoch(data)
        step_fn = partial(self.train_step, task_id, optimizer)
        graphed, graph_lr = None, None
        num_iters = self.num_iters(data)
        for step in range(self.step + 1, num_iters + 1):
            lr = self.train_cfg.lr * lr_factor(self.train_cfg, (step - 1) // per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if self.use_cuda_graph() and lr != graph_lr:  # a graph holds the lr it captured
                graphed, graph_lr = GraphedStep(step_fn, warmup=3), lr
            x, y = data.train_batch(sampler.next())
            losses = graphed(x, y) if graphed is not None else step_fn(x, y)
            self.step = step
            if step % self.train_cfg.log_every == 0 or step == num_iters:
                self.check_finite(task_id)
            if on_step is not None:
                on_step(step, losses)

    def state_dict(self) -> dict:
        """Everything that changes while training: parameters, optimizer and regularizer
        states, batch-norm statistics, batch order, steps done in the current task."""
        return {
            "hnet": self.hnet.state_dict(),
            "bn_stats": self.bn_stats,
            "regularizer": self.regularizer.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "sampler": self.sampler.state_dict() if self.sampler else None,
            "step": self.step,
        }

    def load_state_dict(
        self, state: dict, task_id: int, data: TaskData, mid_task: bool = True
    ) -> None:
        """Restore a :meth:`state_dict` taken while training task ``task_id`` on ``data``.

        Without ``mid_task`` (a state taken between tasks) only parameters, regularizer and
        batch-norm statistics are restored; :meth:`begin_task` then starts the next task.
        """
        device = self.device
        self.hnet.load_state_dict(state["hnet"])
        moved: dict[int, dict[str, torch.Tensor]] = {}  # shared statistics stay shared
        self.bn_stats = {}
        for task, stats in state["bn_stats"].items():
            if id(stats) not in moved:
                moved[id(stats)] = {k: v.to(device) for k, v in stats.items()}
            self.bn_stats[task] = moved[id(stats)]
        snap = state["regularizer"]
        snap = {**snap, "snap": {k: v.to(device) for k, v in snap["snap"].items()}}
        self.regularizer.load_state_dict(snap, self.hnet)
        self.optimizer, self.sampler, self.step = None, None, 0
        if not mid_task:
            return
        self.optimizer = self.make_optimizer(task_id)
        if state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.sampler = BatchSampler(
            len(data.y_train), self.train_cfg.batch_size, self.generator, device
        )
        if state["sampler"] is not None:
            self.sampler.load_state_dict(state["sampler"])
        self.step = state["step"]

    @torch.no_grad()
    def evaluate(self, task_id: int, data: TaskData, num_learned: int, infer_task: bool):
        """Test accuracy (percent) on task ``task_id``, and task-inference accuracy.

        With ``infer_task`` the task id is not given: it is inferred among the first
        ``num_learned`` embeddings (HNET+ENT). The prediction counts as correct when the
        class is right within the inferred task's head; with several heads (CL3) that
        requires the inferred task to be right too. Without ``infer_task`` (CL1) the second
        value is None.
        """
        self.hnet.eval()
        self.target.eval()
        ids = torch.arange(num_learned) if infer_task else torch.tensor([task_id])
        ids = ids.to(self.device)
        weights = self.hnet(ids)  # [K, num_params], generated once
        buffers = self.stacked_bn_stats(ids.tolist())
        heads = ids % self.heads.num_heads
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        task_right = torch.zeros_like(correct)
        for x, y in data.test_batches(self.train_cfg.eval_batch_size):
            logits = head_logits(self.target, x, weights, heads, self.heads.head_size, buffers)
            task, cls = infer_task_and_class(logits)
            hit = cls == y
            if infer_task:
                task_right += (ids[task] == task_id).sum()
                if self.heads.num_heads > 1:
                    hit &= ids[task] == task_id
            correct += hit.sum()
        n = len(data.y_test)
        acc = 100.0 * correct.item() / n
        return acc, (100.0 * task_right.item() / n if infer_task else None)

    def stacked_bn_stats(self, task_ids: list[int]) -> dict[str, torch.Tensor] | None:
        """Running statistics of each task, stacked: {name: [K, ...]}; None without BN."""
        if not self.target.has_buffers:
            return None
        missing = [t for t in task_ids if t not in self.bn_stats]
        if missing:
            raise ValueError(f"no batch-norm statistics for tasks {missing}: train them first")
        names = self.target.buffer_specs
        return {n: torch.stack([self.bn_stats[t][n] for t in task_ids]) for n in names}


def lr_factor(train: TrainConfig, epoch: int) -> float:
    """Multiplier of ``train.lr`` in ``epoch`` (0-based) of a task: the factor of the last
    milestone reached, 1 before the first."""
    factor = 1.0
    for milestone, f in zip(train.lr_milestones, train.lr_factors, strict=True):
        if epoch >= milestone:
            factor = f
    return factor


def build_learner(
    cfg: Config,
    in_features: int,
    heads: Heads,
    num_tasks: int,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    input_shape: tuple[int, ...] | None = None,
) -> HNetLearner:
    """Target, hypernetwork and learner for ``num_tasks`` tasks of ``in_features`` inputs
    (conv targets also need the ``input_shape`` (C, H, W))."""
    target = build_target(
        cfg.target.name,
        in_features,
        heads.out_features,
        list(cfg.target.hidden),
        cfg.target.activation,
        input_shape,
    )
    if cfg.method.name == MethodName.from_scratch:
        hnet = ScratchWeights(target, num_tasks, generator).to(device)
    else:
        hnet = build_hnet(cfg.hnet, target.num_params, num_tasks).to(device)
    return HNetLearner(
        hnet, target, heads, cfg.method, cfg.train, generator, cfg.target.per_task_bn
    )
