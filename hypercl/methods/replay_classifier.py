"""HNET+R and DGR+distill: a plain MLP classifier trained on the current task plus
samples of every earlier task from a replay VAE, distilled against its own copy.

Per task t (official ``train_class_one_t`` without a hypernetwork)::

    snapshot = copy of the classifier (before task t)
    L = (1 - l_rew) * CE(real) + l_rew * KD(replay)          (t = 0: CE(real) only)
    then the VAE trains on task t (t < T - 1), see hypercl.replay.training

KD is the official ``knowledge_distillation_loss``: cross-entropy between the softmax at
temperature T (``replay.kd_temperature``, 2) of the snapshot's logits and of the
classifier's, times T^2. Which outputs (protocols section 2.4):

* CL1: real data on head t; replay of task j on head j;
* CL2: the one shared head for both;
* CL3: a softmax growing over heads 0..t; the real target is the class in head t (zero
  elsewhere); the replay target is the snapshot's logits on heads 0..t-1 and logit 0 on
  head t. Prediction: argmax over the heads of the tasks learned so far.

HNET+R's VAE decoder is made by a hypernetwork protected by the output regularizer; DGR's
decoder has its own weights, protected by replaying its own previous copy.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from hypercl.config import Config, MethodName, Scenario
from hypercl.data.batches import BatchSampler
from hypercl.data.tasks import Benchmark, TaskData
from hypercl.methods.base import OnStep
from hypercl.methods.cuda_graph import graphed_if
from hypercl.metrics import count_params
from hypercl.nets.heads import Heads
from hypercl.replay.training import VAETrainer, adam, vae_iters
from hypercl.replay.vae import ReplayVAE, plain_mlp, replay_size


def distillation_loss(
    logits: torch.Tensor, target_logits: torch.Tensor, temp: float
) -> torch.Tensor:
    """Hinton et al.'s KD loss, as the official code: logits, target_logits [N, C] -> scalar."""
    targets = F.softmax(target_logits / temp, dim=1)
    return -(targets * F.log_softmax(logits / temp, dim=1)).sum(1).mean() * temp**2


class ReplayClassifierMethod:
    """HNET+R (``method=hnet_replay``) or DGR+distill (``method=dgr``) as a Method."""

    resumes_mid_task = False  # a task resumes from its start (the state between tasks)
    trains_once = False

    def __init__(
        self, cfg: Config, benchmark: Benchmark, generator: torch.Generator, device: torch.device
    ) -> None:
        self.cfg, self.tasks, self.generator = cfg, benchmark.tasks, generator
        self.num_tasks, self.scenario = benchmark.num_tasks, cfg.scenario
        self.heads = Heads(
            1 if cfg.scenario == Scenario.cl2 else self.num_tasks, benchmark.head_size
        )
        d = benchmark.in_features
        self.net = plain_mlp(d, cfg.target.hidden, self.heads.out_features).to(device)
        hnet_decoder = cfg.method.name == MethodName.hnet_replay
        self.vae = ReplayVAE(
            d, self.num_tasks, cfg.replay.dec_hidden_r, cfg.replay, hnet_decoder
        ).to(device)
        self.vae_trainer = VAETrainer.for_run(self.vae, cfg, generator)

    def describe(self) -> str:
        c = self.vae.param_counts()
        kind = "hypernetwork" if self.vae.dec_hnet is not None else "plain"
        return (
            f"classifier {count_params(self.net)} weights; replay VAE: encoder "
            f"{c['num_params_replay_encoder']}, decoder {c['num_params_replay_decoder']} "
            f"({kind}, hnet {c['num_params_replay_hnet']})"
        )

    def classifier_iters(self, task_id: int) -> int:
        return self.cfg.train.task_iters(len(self.tasks[task_id].y_train))

    def num_iters(self, task_id: int) -> int:
        """The classifier's steps (the VAE's are logged apart, see ``phase_logger``)."""
        return self.classifier_iters(task_id)

    def out_slice(self, task_id: int) -> slice:
        """Training outputs of task ``task_id``: its head (CL1), the shared head (CL2),
        or heads 0..task_id (CL3)."""
        if self.scenario == Scenario.cl3:
            return slice(0, (task_id + 1) * self.heads.head_size)
        return self.heads.slice(task_id)

    def train_task(self, task_id: int, on_step: OnStep, start_step: int) -> None:
        data = self.tasks[task_id]
        self.train_classifier(task_id, data, on_step)
        iters = vae_iters(self.cfg.replay, task_id, self.num_tasks, self.classifier_iters(task_id))
        self.vae_trainer.train_logged(task_id, data, iters, self.cfg.train.log_every)

    def train_classifier(self, task_id: int, data: TaskData, on_step: OnStep) -> None:
        cfg, device, vae = self.cfg, next(self.net.parameters()).device, self.vae
        snapshot = copy.deepcopy(self.net).eval() if task_id > 0 else None
        for p in snapshot.parameters() if snapshot is not None else []:
            p.requires_grad_(False)
        optimizer = adam(list(self.net.parameters()), cfg.train.lr)
        sampler = BatchSampler(len(data.y_train), cfg.train.batch_size, self.generator, device)
        out, hs = self.out_slice(task_id), self.heads.head_size
        shift = task_id * hs if self.scenario == Scenario.cl3 else 0  # CL3: zero-padded target
        w_rep, temp = cfg.replay.replay_weight, cfg.replay.kd_temperature
        prev_ids = torch.arange(task_id, device=device)
        if snapshot is not None:
            n_rep = replay_size(task_id, cfg.train.batch_size)
            with torch.no_grad():  # the decoder does not train here: its weights, made once
                replay_weights = vae.decoder_weights(prev_ids)

        def step(x: torch.Tensor, y: torch.Tensor, *z: torch.Tensor) -> dict:
            """x [B, ...], y [B]; from task 2 on the replay's z [t, n, latent]. Returns the
            detached losses (no host sync)."""
            optimizer.zero_grad(set_to_none=True)
            loss_real = F.cross_entropy(self.net(x)[:, out], y + shift)
            losses = {"loss_real": loss_real.detach()}
            loss = loss_real
            if snapshot is not None:
                x_rep = vae.pixels(z[0], prev_ids, replay_weights)  # [t, n, D]
                loss_rep = distillation_loss(*self.replay_logits(task_id, x_rep, snapshot), temp)
                loss = (1 - w_rep) * loss_real + w_rep * loss_rep
                losses["loss_replay"] = loss_rep.detach()
            loss.backward()
            optimizer.step()
            return {"loss": loss.detach(), **losses}

        run = graphed_if(cfg.train.cuda_graphs, step, device)
        self.net.train()
        for i in range(1, self.classifier_iters(task_id) + 1):
            x, y = data.train_batch(sampler.next())
            z = [vae.latents(task_id, n_rep, self.generator)] if snapshot is not None else []
            on_step(i, run(x, y, *z))
        self.net.eval()

    def replay_logits(
        self, task_id: int, x_rep: torch.Tensor, snapshot: torch.nn.Module
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Student and target logits [t * n, C] of the replayed x_rep [t, n, D] (group j:
        task j), on the outputs the scenario trains (see the module docstring)."""
        t, n, _ = x_rep.shape
        flat = x_rep.flatten(0, 1)
        student = self.net(flat)
        with torch.no_grad():
            target = snapshot(flat)
        hs = self.heads.head_size
        if self.scenario == Scenario.cl3:
            new_head = target.new_zeros(len(flat), hs)  # logit 0 for the new head
            return student[:, : (task_id + 1) * hs], torch.cat(
                [target[:, : task_id * hs], new_head], 1
            )
        if self.scenario == Scenario.cl2:
            return student[:, :hs], target[:, :hs]
        # CL1: sample group j on head j
        cols = torch.arange(t, device=flat.device)[:, None] * hs + torch.arange(
            hs, device=flat.device
        )
        cols = cols[:, None].expand(t, n, hs).reshape(t * n, hs)  # row j repeated n times
        return student.gather(1, cols), target.gather(1, cols)

    @torch.no_grad()
    def evaluate(self, task_id: int, data: TaskData, num_learned: int) -> tuple[float, None]:
        """Accuracy (percent); CL3: argmax over the heads of the ``num_learned`` tasks."""
        self.net.eval()
        hs = self.heads.head_size
        correct = 0
        for x, y in data.test_batches(self.cfg.train.eval_batch_size):
            logits = self.net(x)
            if self.scenario == Scenario.cl3:
                hit = logits[:, : num_learned * hs].argmax(1) == y + task_id * hs
            else:
                hit = logits[:, self.heads.slice(task_id)].argmax(1) == y
            correct += int(hit.sum())
        return 100.0 * correct / len(data.y_test), None

    def regularizer_bytes(self) -> int | None:
        """Bytes the decoder hnet's output regularizer holds now (None for DGR)."""
        if self.vae.dec_hnet is None:
            return None
        return self.vae_trainer.regularizer.memory_bytes()

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "vae": self.vae.state_dict()}

    def load_state_dict(self, state: dict, task_id: int, mid_task: bool) -> None:
        self.net.load_state_dict(state["net"])
        self.vae.load_state_dict(state["vae"])

    def results_fields(self) -> dict:
        counts = self.vae.param_counts()
        net = count_params(self.net)
        hnet = self.vae.dec_hnet
        replay_model = counts["num_params_replay_encoder"] + (
            counts["num_params_replay_hnet"]
            if hnet is not None
            else counts["num_params_replay_decoder"]
        )
        return {
            "method_variant": "hnet+r" if hnet is not None else "dgr+distill",
            "num_params_target": net,
            **counts,
            # kept across tasks: classifier, encoder, decoder hnet (or weights)
            "params_stored_total": net + replay_model,
            "params_stored_per_task": hnet.task_embs[0].numel() if hnet is not None else 0,
            "method_hparams": {
                "replay_beta": self.cfg.replay.beta,
                "replay_weight": self.cfg.replay.replay_weight,
                "kd_temperature": self.cfg.replay.kd_temperature,
                "dec_hidden": list(self.cfg.replay.dec_hidden_r),
            },
        }
