"""Hypernetworks: task embedding -> all weights of a target network.

Both kinds share one structure, which the regularizer relies on::

    rows(task_ids)  -> Z  [B, R, h]         (R = 1 for the full net, n_chunks for chunked)
    head(Z)         -> [B, R, out]          (one linear layer: Z @ W^T + b, W^T stored)
    forward(ids)    -> [B, num_params]      (rows flattened, padding cut off)

Parameters fall into ``theta`` (everything shared across tasks, chunk embeddings included)
and ``task_embs`` (one vector per task). Only the current task's embedding is handed to the
optimizer, so the others stay frozen.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hypercl.config import Activation, ConfigError, HNetConfig, HNetKind
from hypercl.nets.targets import ACTIVATIONS


def _mlp(sizes: list[int], activation: Activation) -> nn.Sequential:
    """Linear -> activation for each consecutive pair in ``sizes`` (empty: identity)."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class HeadLinear(nn.Module):
    """The hypernetwork's last layer: x [..., in] -> x @ weight_t + bias [..., out].

    Like :class:`torch.nn.Linear` with W = ``weight_t.T`` [out, in], but stored transposed:
    ``out`` (a chunk, or all target weights) is huge and ``in`` (the last hidden size)
    tiny, and every GEMM of the step that touches W (forward, both gradients, the
    regularizer's Gram matrices) then writes or reduces along the long row-major axis.
    MKL on this CPU runs the tall [out, in] layout's GEMMs much slower when ``in`` is
    small (``scripts/bench.py``, "head layout", measures both layouts for split_mnist's
    h = 10 and perm_mnist's h = 25).
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight_t = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform W (drawn as nn.Linear's [out, in] would be), zero bias."""
        with torch.no_grad():
            self.weight_t.copy_(
                nn.init.xavier_uniform_(self.weight_t.new_empty(self.weight_t.T.shape)).T
            )
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = torch.addmm(self.bias, x.reshape(-1, self.in_features), self.weight_t)
        return flat.reshape(*x.shape[:-1], self.out_features)


class HyperNetwork(nn.Module):
    """Base class: task embeddings, a trunk producing rows ``Z`` and a linear ``head``."""

    def __init__(self, num_params: int, num_tasks: int, task_emb_dim: int) -> None:
        super().__init__()
        self.num_params = num_params
        self.task_embs = nn.ParameterList(
            nn.Parameter(torch.randn(task_emb_dim)) for _ in range(num_tasks)
        )
        self.head: HeadLinear  # set by subclasses

    @property
    def num_tasks(self) -> int:
        return len(self.task_embs)

    def theta(self) -> dict[str, nn.Parameter]:
        """Shared parameters (all but the task embeddings), by name."""
        return {n: p for n, p in self.named_parameters() if not n.startswith("task_embs.")}

    def embeddings(self, task_ids: torch.Tensor) -> torch.Tensor:
        """task_ids: [B] (long) -> task embeddings [B, task_emb_dim]."""
        return torch.stack(list(self.task_embs))[task_ids]

    def rows(self, task_ids: torch.Tensor) -> torch.Tensor:
        """task_ids: [B] -> last hidden activations Z: [B, R, h]."""
        raise NotImplementedError

    @property
    def num_rows(self) -> int:
        """R: rows per task (chunks); the last one may be cut short."""
        return 1

    @property
    def last_row_width(self) -> int:
        """How many outputs of the last row are real weights (the rest is padding)."""
        return self.num_params - (self.num_rows - 1) * self.head.out_features

    def forward(
        self, task_ids: torch.Tensor, rows_only: bool = False, keep_padding: bool = False
    ) -> torch.Tensor:
        """task_ids: [B] (long) -> flat target weights [B, num_params].

        With ``rows_only``, stop before the head and return Z [B, R, h] (for use with
        :func:`torch.func.functional_call`, which calls ``forward``). With ``keep_padding``,
        return all R x C outputs [B, R * C], the last row's padding included (a target
        ignores it; the training step saves a copy of the weights this way).
        """
        z = self.rows(task_ids)
        if rows_only:
            return z
        flat = self.head(z).flatten(1)
        return flat if keep_padding else flat[:, : self.num_params]

    def reset_parameters(self) -> None:
        """Xavier-uniform weight matrices, zero biases, embeddings ~ N(0, 1)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, HeadLinear):
                module.reset_parameters()


class FullHyperNetwork(HyperNetwork):
    """An MLP from the task embedding straight to all ``num_params`` weights (R = 1)."""

    def __init__(
        self,
        num_params: int,
        num_tasks: int,
        task_emb_dim: int,
        hidden: list[int],
        activation: Activation = Activation.relu,
    ) -> None:
        super().__init__(num_params, num_tasks, task_emb_dim)
        self.trunk = _mlp([task_emb_dim, *hidden], activation)
        self.head = HeadLinear(hidden[-1] if hidden else task_emb_dim, num_params)
        self.reset_parameters()

    def rows(self, task_ids: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.embeddings(task_ids)).unsqueeze(1)


class ChunkedHyperNetwork(HyperNetwork):
    """One small MLP maps [task embedding; chunk embedding] to a chunk of the weights.

    The flat weight vector is cut into ``ceil(num_params / chunk_size)`` chunks; the chunk
    embeddings [n_chunks, chunk_emb_dim] are learned and shared across tasks.
    """

    def __init__(
        self,
        num_params: int,
        num_tasks: int,
        task_emb_dim: int,
        chunk_size: int,
        chunk_emb_dim: int,
        hidden: list[int],
        activation: Activation = Activation.relu,
    ) -> None:
        super().__init__(num_params, num_tasks, task_emb_dim)
        self.chunk_size = chunk_size
        self.num_chunks = math.ceil(num_params / chunk_size)
        self.chunk_embs = nn.Parameter(torch.randn(self.num_chunks, chunk_emb_dim))
        in_dim = task_emb_dim + chunk_emb_dim
        self.trunk = _mlp([in_dim, *hidden], activation)
        self.head = HeadLinear(hidden[-1] if hidden else in_dim, chunk_size)
        self.reset_parameters()

    @property
    def num_rows(self) -> int:
        return self.num_chunks

    def rows(self, task_ids: torch.Tensor) -> torch.Tensor:
        task = self.embeddings(task_ids)  # [B, e]
        batch = task.shape[0]
        inputs = torch.cat(
            [
                task.unsqueeze(1).expand(batch, self.num_chunks, task.shape[1]),
                self.chunk_embs.unsqueeze(0).expand(batch, *self.chunk_embs.shape),
            ],
            dim=2,
        )  # [B, n_chunks, e + c]
        return self.trunk(inputs)


def build_hnet(
    cfg: HNetConfig, num_params: int, num_tasks: int, key: str = "hnet", target: str = "target"
) -> HyperNetwork:
    """Hypernetwork for a ``target`` network with ``num_params`` weights, from the config
    at ``key`` (named in the error for a chunk larger than the target)."""
    if cfg.kind == HNetKind.full:
        return FullHyperNetwork(
            num_params, num_tasks, cfg.task_emb_dim, list(cfg.hidden), cfg.activation
        )
    if cfg.chunk_size > num_params:
        raise ConfigError(
            f"{key}.chunk_size={cfg.chunk_size} is invalid: larger than the {target} network's "
            f"{num_params} weights; choose a chunk size <= {num_params}."
        )
    return ChunkedHyperNetwork(
        num_params,
        num_tasks,
        cfg.task_emb_dim,
        cfg.chunk_size,
        cfg.chunk_emb_dim,
        list(cfg.hidden),
        cfg.activation,
    )
