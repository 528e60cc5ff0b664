"""The replay model: a conditional VAE whose decoder weights come per task from a
chunked hypernetwork (HNET+TIR, HNET+R), or are its own (DGR).

As in the official code (``chrhenning/hypercl``, ``mnist/replay/``)::

    encoder:  x [B, D] -> [mu; logvar] [B, 2 * latent]      plain MLP, current task only
    decoder:  [z; c_j] [B, latent + C] -> logits [B, D]      weights w_j = H(e_j)
    sample:   z ~ N(0, I), x = sigmoid(decoder([z; c_j], w_j))

``c_j`` is the one-hot vector of task j over ``C = max(replay.cond_dim, num_tasks)``
units: the official code fixes C = 100 (and so at most 100 tasks); the maximum lifts that
cap and leaves C = 100 (the official network) up to 100 tasks. The hypernetwork has
``num_tasks - 1`` task embeddings: nothing is replayed from the last task.

Every random draw (z, the reparameterization noise) comes from the ``torch.Generator``
passed in (the run's CPU generator), so runs and resumes are reproducible. The training
loops draw them before a step and pass them in, so a step draws nothing and can be
replayed as a CUDA graph (:mod:`hypercl.methods.cuda_graph`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hypercl.config import Activation, ReplayConfig
from hypercl.metrics import count_params
from hypercl.nets.hnets import HyperNetwork, build_hnet
from hypercl.nets.targets import FunctionalTarget, mlp_template


def replay_size(num_prev: int, batch_size: int) -> int:
    """Samples of each earlier task in the replay batch while task ``num_prev`` trains:
    ``ceil(batch_size / num_prev)`` (official ``fake_data_full_range``)."""
    return math.ceil(batch_size / num_prev)


def init_mlp(module: nn.Module) -> nn.Module:
    """Xavier-uniform weight matrices and zero biases (the official code's MLP init)."""
    for p in module.parameters():
        if p.ndim == 1:
            nn.init.zeros_(p)
        else:
            nn.init.xavier_uniform_(p)
    return module


def plain_mlp(in_features: int, hidden: list[int], out_features: int) -> nn.Sequential:
    """An MLP with its own weights (ReLU, official init): [B, ...] -> [B, out_features]."""
    return init_mlp(mlp_template(in_features, list(hidden), out_features, Activation.relu))


class PlainWeights(nn.Module):
    """The decoder's own flat weight vector (DGR), the same for every task id."""

    def __init__(self, template: nn.Module) -> None:
        super().__init__()
        init_mlp(template)
        self.flat = nn.Parameter(torch.cat([p.detach().flatten() for p in template.parameters()]))

    def forward(self, task_ids: torch.Tensor) -> torch.Tensor:
        """task_ids [K] -> [K, num_params] (one view of the same weights)."""
        return self.flat.expand(len(task_ids), -1)


class ReplayVAE(nn.Module):
    """Encoder, decoder template, and the decoder's weights (hypernetwork or plain).

    Args:
        in_features: D, the flat input size (784 Split-MNIST, 1024 Permuted-MNIST).
        num_tasks: tasks of the stream (the decoder hnet gets ``num_tasks - 1`` embeddings).
        dec_hidden: the decoder's hidden layers (``replay.dec_hidden_tir`` / ``_r``).
        cfg: ``replay.*``.
        hnet_decoder: True: a hypernetwork makes the decoder's weights; False: plain (DGR).
    """

    def __init__(
        self,
        in_features: int,
        num_tasks: int,
        dec_hidden: list[int],
        cfg: ReplayConfig,
        hnet_decoder: bool = True,
    ) -> None:
        super().__init__()
        self.in_features, self.latent_dim = in_features, cfg.latent_dim
        self.cond_dim = max(cfg.cond_dim, num_tasks)
        self.encoder = plain_mlp(in_features, cfg.enc_hidden, 2 * cfg.latent_dim)
        template = mlp_template(
            cfg.latent_dim + self.cond_dim, list(dec_hidden), in_features, Activation.relu
        )
        self.dec_hnet: HyperNetwork | None = None
        self.dec_plain: PlainWeights | None = None
        if not hnet_decoder:
            self.dec_plain = PlainWeights(template)  # before the template moves to meta
        # Not a submodule: its template lives on the meta device and holds no state, so
        # .to(device) and state_dict() leave it out (as HNetLearner keeps its target).
        self.__dict__["decoder"] = FunctionalTarget(template)
        if hnet_decoder:
            self.dec_hnet = build_hnet(
                cfg.hnet, self.decoder.num_params, max(1, num_tasks - 1), "replay.hnet", "decoder"
            )

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    def decoder_weights(self, task_ids: torch.Tensor) -> torch.Tensor:
        """task_ids [K] -> the decoder's flat weights [K, num_params (+ chunk padding)]."""
        if self.dec_hnet is not None:
            return self.dec_hnet(task_ids, keep_padding=True)
        return self.dec_plain(task_ids)

    def decode(
        self, z: torch.Tensor, task_ids: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits of the reconstruction (apply a sigmoid for pixels).

        Args:
            z: latent codes [K, n, latent], group k decoded as task ``task_ids[k]``.
            task_ids: [K] long.
            weights: the decoder's weights [K, P] (default: :meth:`decoder_weights`).

        Returns:
            [K, n, D]
        """
        if weights is None:
            weights = self.decoder_weights(task_ids)
        cond = F.one_hot(task_ids, self.cond_dim).to(z.dtype)  # [K, C]
        inputs = torch.cat([z, cond[:, None].expand(*z.shape[:2], self.cond_dim)], dim=2)
        return torch.vmap(self.decoder)(inputs, weights)

    def latents(self, num_tasks: int, n: int, generator: torch.Generator) -> torch.Tensor:
        """z ~ N(0, I) [num_tasks, n, latent], drawn from ``generator``, on the VAE's device."""
        return torch.randn(num_tasks, n, self.latent_dim, generator=generator).to(self.device)

    def noise(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """The reparameterization noise of :meth:`loss`: [num_samples, latent]."""
        return torch.randn((num_samples, self.latent_dim), generator=generator).to(self.device)

    @torch.no_grad()
    def pixels(
        self, z: torch.Tensor, task_ids: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Samples decoded from z [K, n, latent] (group k as task ``task_ids[k]``):
        pixels [K, n, D] in [0, 1]."""
        return torch.sigmoid(self.decode(z, task_ids, weights))

    def sample(
        self,
        task_ids: torch.Tensor,
        n: int,
        generator: torch.Generator,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """n samples of each task in task_ids [K]: z ~ N(0, I) -> pixels [K, n, D] in [0, 1]."""
        z = self.latents(len(task_ids), n, generator)
        return self.pixels(z, task_ids.to(self.device), weights)

    def loss(
        self,
        x: torch.Tensor,
        task_ids: torch.Tensor,
        eps: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE's loss terms on x [K, n, D] (group k of task ``task_ids[k]``), as the
        official code: BCE averaged over pixels and samples, and the KL divergence to
        N(0, I) summed over the latent units, averaged over samples, divided by D.

        Args:
            eps: the reparameterization noise [K * n, latent] (:meth:`noise`).

        Returns:
            (reconstruction, kl): scalars.
        """
        k, n, d = x.shape
        mu, logvar = self.encoder(x.reshape(k * n, d)).chunk(2, dim=1)
        z = mu + eps * torch.exp(0.5 * logvar)
        logits = self.decode(z.view(k, n, -1), task_ids, weights)
        rec = F.binary_cross_entropy_with_logits(logits, x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean() / d
        return rec, kl

    def param_counts(self) -> dict:
        """``results.json``: encoder, decoder weights, decoder hnet (all embeddings
        included; 0 for a plain decoder) and compression = hnet / decoder weights."""
        dec = self.decoder.num_params
        hnet = count_params(self.dec_hnet) if self.dec_hnet is not None else 0
        return {
            "num_params_replay_encoder": count_params(self.encoder),
            "num_params_replay_decoder": dec,
            "num_params_replay_hnet": hnet,
            "replay_compression_ratio": hnet / dec if self.dec_hnet is not None else None,
        }
