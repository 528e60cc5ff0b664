"""Hypernetwork-harness baselines: ``from_scratch`` and the ``*_finetune`` presets.

* ``*_finetune`` presets: the hypernetwork trained task after task without its regularizer
  (``method.beta = 0``) and with one set of batch-norm statistics for all tasks
  (``target.per_task_bn = false``); the learner is the usual one.
* ``from_scratch``: no hypernetwork. Every task gets its own target weights, freshly
  initialised by PyTorch's default initialisation of the template's layers, trained on that
  task only and kept unchanged afterwards. :class:`ScratchWeights` stores them behind the
  hypernetwork's interface (``forward(task_ids) -> [B, num_params]``, ``theta()``,
  ``task_embs``), so the learner trains only task t's vector while on task t.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from hypercl.nets.targets import FunctionalTarget


def fresh_target_weights(target: FunctionalTarget, generator: torch.Generator) -> torch.Tensor:
    """Flat weights [num_params] of a freshly initialised copy of the target's template.

    Each layer's own ``reset_parameters`` (PyTorch's default init) draws from torch's
    global generator, which is reseeded from ``generator`` for the draw.
    """
    module = copy.deepcopy(target.template).to_empty(device="cpu")
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in module.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
    return torch.cat([p.detach().flatten() for p in module.parameters()])


class ScratchWeights(nn.Module):
    """Independent target weights per task: ``task_embs[t]`` is task t's flat vector.

    Nothing is shared (``theta()`` is empty), so training task t never changes another.
    """

    def __init__(self, target: FunctionalTarget, num_tasks: int, generator: torch.Generator):
        super().__init__()
        self.num_params = target.num_params
        self.task_embs = nn.ParameterList(
            nn.Parameter(fresh_target_weights(target, generator)) for _ in range(num_tasks)
        )

    @property
    def num_tasks(self) -> int:
        return len(self.task_embs)

    def theta(self) -> dict[str, nn.Parameter]:
        """No shared parameters."""
        return {}

    def forward(self, task_ids: torch.Tensor, keep_padding: bool = False) -> torch.Tensor:
        """task_ids: [B] (long) -> each task's own weights [B, num_params] (there is no
        padding: ``keep_padding`` is accepted for the hypernetwork's interface)."""
        return torch.stack(list(self.task_embs))[task_ids]
