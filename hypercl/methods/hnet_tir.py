"""HNET+TIR: the hypernetwork classifier, with the task inferred by a network trained on
generative replay (``method=hnet method.task_inference=tir``, CL2/CL3).

Per task t (the official order differs, see docs/replay.md; the result is the same since
the classifier sees no replay)::

    1. classifier: HNetLearner on task t, exactly as CL1-style HNET (no replay)
    2. task-inference MLP (t > 0): (1 - l_rew) * CE(real -> t) + l_rew * CE(replay_j -> j)
       over its outputs 0..t; replay: ceil(B / t) VAE samples of each task j < t,
       labelled by the task that generated them (hard targets)
    3. VAE on task t (t < T - 1); its decoder's hypernetwork is protected by the output
       regularizer (hypercl.replay.training)

At test time the inference net's argmax over the tasks learned so far picks, per sample,
the classifier's embedding (and in CL3 its head), batched over the test batch as ENT.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hypercl.config import Config
from hypercl.data.batches import BatchSampler
from hypercl.data.tasks import Benchmark, TaskData
from hypercl.methods.base import OnStep
from hypercl.methods.cuda_graph import graphed_if
from hypercl.methods.hnet import HNetMethod
from hypercl.methods.inference import head_logits
from hypercl.metrics import count_params
from hypercl.replay.training import VAETrainer, adam, phase_logger, vae_iters
from hypercl.replay.vae import ReplayVAE, plain_mlp, replay_size


class HNetTIRMethod:
    """HNET+TIR as a :class:`~hypercl.methods.base.Method`."""

    resumes_mid_task = False  # a task resumes from its start (three models train in turn)
    trains_once = False

    def __init__(
        self, cfg: Config, benchmark: Benchmark, generator: torch.Generator, device: torch.device
    ) -> None:
        self.cfg, self.tasks, self.generator = cfg, benchmark.tasks, generator
        self.num_tasks = benchmark.num_tasks
        self.classifier = HNetMethod(cfg, benchmark, generator, device)
        self.learner = self.classifier.learner
        d = benchmark.in_features
        # the classifier's architecture, one output per task (official: n_out = num_tasks)
        self.infer_net = plain_mlp(d, cfg.target.hidden, self.num_tasks).to(device)
        self.vae = ReplayVAE(d, self.num_tasks, cfg.replay.dec_hidden_tir, cfg.replay).to(device)
        self.vae_trainer = VAETrainer.for_run(self.vae, cfg, generator)

    def describe(self) -> str:
        c = self.vae.param_counts()
        return (
            f"{self.classifier.describe()}; task-inference net {count_params(self.infer_net)}; "
            f"replay decoder {c['num_params_replay_decoder']} from hnet "
            f"{c['num_params_replay_hnet']}"
        )

    def classifier_iters(self, task_id: int) -> int:
        return self.classifier.num_iters(task_id)

    def infer_iters(self, task_id: int) -> int:
        """Task 1 trains no inference net (one task: nothing to tell apart)."""
        return self.classifier_iters(task_id) if task_id > 0 else 0

    def num_iters(self, task_id: int) -> int:
        """The classifier's steps (the inference net's and the VAE's are logged apart,
        see ``phase_logger``)."""
        return self.classifier_iters(task_id)

    def train_task(self, task_id: int, on_step: OnStep, start_step: int) -> None:
        data, log_every = self.tasks[task_id], self.cfg.train.log_every
        self.classifier.train_task(task_id, on_step, 0)
        iters = self.infer_iters(task_id)
        lower = {"train.lr": self.cfg.train.lr}
        self.train_infer_net(
            task_id, data, phase_logger("task-inference net", task_id, iters, log_every, lower)
        )
        iters = vae_iters(self.cfg.replay, task_id, self.num_tasks, self.classifier_iters(task_id))
        self.vae_trainer.train_logged(task_id, data, iters, log_every)

    def train_infer_net(self, task_id: int, data: TaskData, on_step: OnStep) -> None:
        """The task-inference net on task ``task_id`` plus replay of the earlier tasks."""
        if task_id == 0:
            return
        cfg, net, vae = self.cfg, self.infer_net, self.vae
        device = next(net.parameters()).device
        optimizer = adam(list(net.parameters()), cfg.train.lr)
        sampler = BatchSampler(len(data.y_train), cfg.train.batch_size, self.generator, device)
        w_rep, n_rep = cfg.replay.replay_weight, replay_size(task_id, cfg.train.batch_size)
        prev_ids = torch.arange(task_id, device=device)
        real = torch.full((sampler.batch_size,), task_id, device=device)
        labels = prev_ids.repeat_interleave(n_rep)  # the task that generated each sample
        with torch.no_grad():  # the decoder does not train here: its weights, made once
            replay_weights = vae.decoder_weights(prev_ids)

        def step(x: torch.Tensor, z: torch.Tensor) -> dict:
            """x [B, ...], the replay's z [t, n, latent] -> detached losses (no host sync)."""
            optimizer.zero_grad(set_to_none=True)
            loss_real = F.cross_entropy(net(x)[:, : task_id + 1], real)
            x_rep = vae.pixels(z, prev_ids, replay_weights)  # [t, n, D]
            loss_rep = F.cross_entropy(net(x_rep.flatten(0, 1))[:, : task_id + 1], labels)
            loss = (1 - w_rep) * loss_real + w_rep * loss_rep
            loss.backward()
            optimizer.step()
            return {"loss": loss.detach(), "loss_real": loss_real.detach(),
                    "loss_replay": loss_rep.detach()}  # fmt: skip

        run = graphed_if(cfg.train.cuda_graphs, step, device)
        net.train()
        for i in range(1, self.infer_iters(task_id) + 1):
            x, _ = data.train_batch(sampler.next())
            on_step(i, run(x, vae.latents(task_id, n_rep, self.generator)))
        net.eval()

    @torch.no_grad()
    def evaluate(self, task_id: int, data: TaskData, num_learned: int) -> tuple[float, float]:
        """Accuracy and task-inference accuracy (percent). The task of each sample is the
        inference net's argmax over the ``num_learned`` tasks; the class is the argmax of
        that task's weights (and, in CL3, its head); CL3 counts a wrong task as wrong."""
        learner = self.learner
        learner.hnet.eval()
        learner.target.eval()
        self.infer_net.eval()
        ids = torch.arange(num_learned, device=learner.device)
        weights = learner.hnet(ids)  # [K, num_params], generated once
        buffers = learner.stacked_bn_stats(ids.tolist())
        num_heads, head_size = learner.heads.num_heads, learner.heads.head_size
        correct, task_right = 0, 0
        for x, y in data.test_batches(self.cfg.train.eval_batch_size):
            task = self.infer_net(x)[:, :num_learned].argmax(1)  # [B]
            logits = head_logits(learner.target, x, weights, ids % num_heads, head_size, buffers)
            cls = logits[task, torch.arange(len(x), device=x.device)].argmax(-1)  # [B]
            hit = cls == y
            if num_heads > 1:
                hit &= task == task_id
            correct += int(hit.sum())
            task_right += int((task == task_id).sum())
        n = len(data.y_test)
        return 100.0 * correct / n, 100.0 * task_right / n

    def regularizer_bytes(self) -> int:
        """Bytes both output regularizers hold now (classifier's and decoder's hnet)."""
        return self.classifier.regularizer_bytes() + self.vae_trainer.regularizer.memory_bytes()

    def state_dict(self) -> dict:
        return {
            "classifier": self.classifier.state_dict(),
            "infer_net": self.infer_net.state_dict(),
            "vae": self.vae.state_dict(),
        }

    def load_state_dict(self, state: dict, task_id: int, mid_task: bool) -> None:
        self.classifier.load_state_dict(state["classifier"], task_id, False)
        self.infer_net.load_state_dict(state["infer_net"])
        self.vae.load_state_dict(state["vae"])

    def results_fields(self) -> dict:
        fields = self.classifier.results_fields()
        hparams = {
            **fields.get("method_hparams", {}),
            "replay_beta": self.cfg.replay.beta,
            "replay_weight": self.cfg.replay.replay_weight,
            "dec_hidden": list(self.cfg.replay.dec_hidden_tir),
        }
        return {
            **fields,
            "method_variant": "hnet+tir",
            "num_params_infer_net": count_params(self.infer_net),
            **self.vae.param_counts(),
            "method_hparams": hparams,
        }
