"""One task's training of the replay VAE (:class:`~hypercl.replay.vae.ReplayVAE`).

Hypernetwork decoder (HNET+TIR, HNET+R; official ``train_vae_one_t``), task t::

    L = BCE + KL / D  on the current task's batch, condition t, weights H(e_t)
      + replay.beta * reg(theta + dtheta)     (t > 0; our OutputRegularizer, lookahead)

with three Adam optimizers, fresh each task: the encoder (``replay.enc_lr``), the
hypernetwork's theta, chunk embeddings included (``replay.dec_lr``), and the current task
embedding (``replay.dec_emb_lr``); earlier embeddings stay frozen.

Plain decoder (DGR, van de Ven & Tolias 2019): no regularizer; from task 2 on, the VAE
also trains on samples of every earlier task drawn from its copy taken before the task
(``ceil(B / t)`` per task, each with its own condition), weighted as theirs::

    L = 1/(t+1) * L_vae(current) + (1 - 1/(t+1)) * L_vae(replayed)

with Adam on the encoder and on the decoder's weights (``replay.dec_lr``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch

from hypercl.config import Config, RegImpl, RegTargets, ReplayConfig
from hypercl.data.batches import BatchSampler
from hypercl.data.tasks import TaskData
from hypercl.errors import NonFiniteLossError
from hypercl.methods.cuda_graph import graphed_if
from hypercl.methods.lookahead import lookahead_params
from hypercl.methods.regularizer import OutputRegularizer
from hypercl.progress import kill_point, raise_if_stop_requested
from hypercl.replay.vae import ReplayVAE, replay_size

StepCallback = Callable[[int, dict[str, torch.Tensor]], None]

log = logging.getLogger("hypercl")


def phase_logger(
    phase: str, task_id: int, num_iters: int, log_every: int, lower: dict[str, object]
) -> StepCallback:
    """on_step for a model trained besides the classifier (the VAE, the task-inference
    net): every ``log_every`` steps and at the last, check the loss and log the losses to
    ``train.log``. (The experiment loop's budget, progress bar and W&B curves count the
    classifier's steps only, so ``results.json``'s ``task_iters`` stays the classifier's.)
    After each step: the kill point ``task<t>:<phase> step<s>`` and, after a SIGTERM or
    SIGINT, :class:`~hypercl.progress.StopRequested` (the task resumes from its start).

    Args:
        lower: the config keys that set the phase's learning rates and strength, with
            their values (:meth:`VAETrainer.keys_to_lower` for the VAE).

    Raises:
        NonFiniteLossError: the loss is NaN or infinite.
    """

    def on_step(step: int, losses: dict[str, torch.Tensor]) -> None:
        kill_point(f"task{task_id + 1}:{phase} step{step}")
        raise_if_stop_requested()
        if step % log_every and step != num_iters:
            return
        values = {k: v.item() for k, v in losses.items()}
        if not math.isfinite(values["loss"]):
            raise NonFiniteLossError.of(phase, task_id, step, lower, exact=False)
        text = " ".join(f"{k} {v:.4f}" for k, v in values.items())
        log.info("task %d %s step %d/%d: %s", task_id + 1, phase, step, num_iters, text)

    return on_step


def adam(params: list[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam(0.9, 0.999) as the official code; fused (one pass; the lookahead reuses it),
    and on CUDA ``capturable`` (its state on the device), so a step can be a CUDA graph."""
    capturable = params[0].device.type == "cuda"
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), fused=True, capturable=capturable)


def vae_iters(cfg: ReplayConfig, task_id: int, num_tasks: int, classifier_iters: int) -> int:
    """The VAE's steps after task ``task_id``: ``replay.iters_per_task``, else the
    classifier's; none after the last task (no later task replays it)."""
    if task_id == num_tasks - 1:
        return 0
    return cfg.iters_per_task or classifier_iters


class VAETrainer:
    """Trains a :class:`ReplayVAE` one task at a time.

    Args:
        vae: the replay model (on its device).
        cfg: ``replay.*`` (learning rates, ``beta``).
        batch_size: real samples per step (``train.batch_size``).
        lookahead: evaluate the regularizer at theta + Adam's next step (``method.lookahead``).
        generator: the run's generator (batches, noise, replay samples).
        cuda_graphs: on CUDA, replay each step as a CUDA graph (``train.cuda_graphs``).
    """

    def __init__(
        self,
        vae: ReplayVAE,
        cfg: ReplayConfig,
        batch_size: int,
        lookahead: bool,
        generator: torch.Generator,
        cuda_graphs: bool = False,
    ) -> None:
        self.vae, self.cfg, self.batch_size = vae, cfg, batch_size
        self.lookahead, self.generator, self.cuda_graphs = lookahead, generator, cuda_graphs
        self.regularizer = OutputRegularizer(RegTargets.stored, RegImpl.fast, None, generator)

    @classmethod
    def for_run(cls, vae: ReplayVAE, cfg: Config, generator: torch.Generator) -> VAETrainer:
        """The trainer with the run's settings: ``replay.*``, ``train.batch_size``,
        ``method.lookahead`` and ``train.cuda_graphs``."""
        train = cfg.train
        return cls(
            vae, cfg.replay, train.batch_size, cfg.method.lookahead, generator, train.cuda_graphs
        )

    def keys_to_lower(self) -> dict[str, object]:
        """The ``replay.*`` keys to lower after a NaN loss, with their values: the learning
        rates, and for a hypernetwork decoder its embedding's and the regularizer's strength."""
        keys = ["enc_lr", "dec_lr"]
        if self.vae.dec_hnet is not None:
            keys += ["dec_emb_lr", "beta"]
        return {f"replay.{k}": getattr(self.cfg, k) for k in keys}

    def train_logged(self, task_id: int, data: TaskData, num_iters: int, log_every: int) -> None:
        """:meth:`train_task`, logged (and stopped on a signal) as the phase ``VAE`` of
        :func:`phase_logger`."""
        lower = self.keys_to_lower()
        self.train_task(
            task_id, data, num_iters, phase_logger("VAE", task_id, num_iters, log_every, lower)
        )

    def train_task(
        self, task_id: int, data: TaskData, num_iters: int, on_step: StepCallback | None = None
    ) -> None:
        """Train the VAE on task ``task_id``'s training set for ``num_iters`` steps;
        ``on_step(step, losses)`` after each (``loss`` is the loss minimised)."""
        if num_iters == 0:
            return
        vae, cfg, device, generator = self.vae, self.cfg, self.vae.device, self.generator
        vae.train()
        sampler = BatchSampler(len(data.y_train), self.batch_size, generator, device)
        ids = torch.tensor([task_id], device=device)
        hnet = vae.dec_hnet
        opt_enc = adam(list(vae.encoder.parameters()), cfg.enc_lr)
        replays = hnet is None and task_id > 0  # DGR: replay its copy from before the task
        old = vae.dec_plain.flat.detach().clone().expand(task_id, -1) if replays else None
        if hnet is not None:
            use_reg = cfg.beta > 0 and task_id > 0
            self.regularizer.snapshot(hnet, task_id if use_reg else 0)
            opt_dec = adam(list(hnet.theta().values()), cfg.dec_lr)
            opt_emb = adam([hnet.task_embs[task_id]], cfg.dec_emb_lr)
            optimizers = [opt_enc, opt_dec, opt_emb]
        else:
            opt_dec = adam([vae.dec_plain.flat], cfg.dec_lr)
            optimizers = [opt_enc, opt_dec]
        prev_ids = torch.arange(task_id, device=device)
        w_cur = 1.0 / (task_id + 1)

        def step(x: torch.Tensor, eps: torch.Tensor, *replay_noise: torch.Tensor) -> dict:
            """x [1, B, D], eps [B, latent]; DGR from task 2 on: the replay's z [t, n, latent]
            and eps [t * n, latent]. Returns the detached losses (no host sync)."""
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            rec, kl = vae.loss(x, ids, eps)
            losses = {"loss_rec": rec.detach(), "loss_kl": kl.detach()}
            loss = rec + kl
            if replay_noise:
                z_rep, eps_rep = replay_noise
                x_rep = vae.pixels(z_rep, prev_ids, old)
                rec_rep, kl_rep = vae.loss(x_rep, prev_ids, eps_rep)
                loss = w_cur * loss + (1 - w_cur) * (rec_rep + kl_rep)
                losses["loss_replay"] = (rec_rep + kl_rep).detach()
            loss.backward()
            if hnet is not None and self.regularizer.num_prev > 0:
                theta = lookahead_params(opt_dec, hnet.theta()) if self.lookahead else None
                reg = self.regularizer(hnet, theta)
                (cfg.beta * reg).backward()
                losses["loss_reg"] = reg.detach()
                loss = loss + cfg.beta * reg
            for opt in optimizers:
                opt.step()
            return {"loss": loss.detach(), **losses}

        run = graphed_if(self.cuda_graphs, step, device)
        n_rep = replay_size(task_id, self.batch_size) if replays else 0
        for i in range(1, num_iters + 1):
            x = data.train_batch(sampler.next())[0].flatten(1)[None]  # [1, B, D]
            noise = [vae.noise(x.shape[1], generator)]  # in the order the step uses them
            if replays:
                noise += [
                    vae.latents(task_id, n_rep, generator),
                    vae.noise(task_id * n_rep, generator),
                ]
            losses = run(x, *noise)
            if on_step is not None:
                on_step(i, losses)
        vae.eval()
