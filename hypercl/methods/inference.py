"""Evaluation with or without the task id: HNET+ENT task inference (CL2/CL3).

Without a task id, every test sample is run under the weights of every learned task
embedding and the task whose head is least uncertain (lowest predictive entropy) wins.
All samples x all embeddings are computed in one batched call per test batch: the
weights of each embedding are generated once, and the target is vmapped over them.
"""

from __future__ import annotations

import torch

from hypercl.nets.targets import FunctionalTarget


def head_logits(
    target: FunctionalTarget,
    x: torch.Tensor,
    weights: torch.Tensor,
    heads: torch.Tensor,
    head_size: int,
    buffers: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Logits of each weight set's own head.

    Args:
        x: inputs [B, ...].
        weights: flat target weights, one row per candidate task [K, num_params].
        heads: index of the output head each candidate uses [K] (long).
        head_size: output units per head.
        buffers: batch-norm statistics of each candidate task, {name: [K, ...]}, or None.

    Returns:
        [K, B, head_size]
    """
    if buffers is None:
        out = torch.vmap(target, in_dims=(None, 0))(x, weights)  # [K, B, num_heads * head_size]
    else:
        out = torch.vmap(target, in_dims=(None, 0, 0))(x, weights, buffers)
    k, b = out.shape[:2]
    out = out.view(k, b, -1, head_size)
    return out[torch.arange(k, device=out.device), :, heads]  # [K, B, head_size]


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Predictive entropy of softmax(logits) over the last dim: [..., C] -> [...]."""
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


def infer_task_and_class(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """logits [K, B, C] -> (task with lowest entropy [B], class under that task [B])."""
    task = entropy(logits).argmin(0)
    chosen = logits[task, torch.arange(logits.shape[1], device=logits.device)]  # [B, C]
    return task, chosen.argmax(-1)
