"""The target architecture as a plain ``nn.Module`` with its own weights, for the baselines.

The hypernetwork's target has no weights of its own (:mod:`hypercl.nets.targets`); the
Avalanche baselines train ordinary weights of the *same* architecture: the template of
:func:`hypercl.nets.targets.build_target`, materialised and initialised by PyTorch's defaults.
The output layer is split into heads exactly as :class:`hypercl.methods.learner.Heads` splits it:

* :class:`HeadNet` (an Avalanche ``MultiTaskModule``): the task label picks the head
  (CL1; and the per-task models of ``separate`` / ``lora`` in every scenario);
* :class:`ClassIncrementalNet`: no task label; one output unit per class of the stream
  (``num_tasks * head_size``). ``num_active`` output units (the classes seen so far) take
  part, the others are masked out (CL3, van de Ven & Tolias 2019), or one shared head
  (CL2: ``num_active = head_size`` and a single head).

:class:`LoRALinear` adds a per-task low-rank adapter (Hu et al. 2021) to every ``nn.Linear``.
"""

from __future__ import annotations

import copy
import math

import torch
from avalanche.models import MultiTaskModule
from torch import nn

from hypercl.nets.heads import Heads
from hypercl.nets.targets import FunctionalTarget

MASKED = -1e9  # logit of a class not seen yet: softmax weight exactly 0 in float32


def materialize(target: FunctionalTarget, device: torch.device | str = "cpu") -> nn.Module:
    """A trainable copy of the target's template, freshly initialised (torch's defaults,
    drawn from the global generator)."""
    module = copy.deepcopy(target.template).to_empty(device=device)
    for layer in module.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return module


class HeadNet(MultiTaskModule):
    """``net`` with one output head per task: forward(x, task) -> [B, head_size]."""

    def __init__(self, net: nn.Module, heads: Heads) -> None:
        super().__init__()
        self.net, self.heads = net, heads
        self.max_class_label = heads.head_size  # width of mixed-task outputs (joint, replay)

    def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
        set_lora_task(self.net, task_label)
        return self.net(x)[:, self.heads.slice(task_label)]


class ClassIncrementalNet(nn.Module):
    """``net`` without task labels: the first ``num_active`` outputs, the rest masked.

    CL3: outputs are the classes of the whole stream, ``num_active`` grows by ``head_size``
    per task. CL2: ``num_active = head_size`` (one shared head).
    """

    def __init__(self, net: nn.Module, num_outputs: int, num_active: int) -> None:
        super().__init__()
        self.net, self.num_outputs, self.num_active = net, num_outputs, num_active

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)[:, : self.num_outputs]
        if self.num_active < self.num_outputs:
            mask = torch.arange(self.num_outputs, device=out.device) >= self.num_active
            out = out.masked_fill(mask, MASKED)
        return out


class LoRALinear(nn.Module):
    """``base(x) + scale * x A_t^T B_t^T`` with one adapter (A_t [r, in], B_t [out, r]) per
    task t >= 1; task 0 uses ``base`` alone. B starts at zero, so a new adapter starts as
    the base layer (Hu et al. 2021); A as ``nn.Linear``'s default (Kaiming uniform)."""

    def __init__(self, base: nn.Linear, num_tasks: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.base, self.rank, self.scale = base, rank, alpha / rank
        self.task = 0
        self.lora_a = nn.ParameterList()
        self.lora_b = nn.ParameterList()
        for _ in range(num_tasks - 1):
            a = torch.empty(rank, base.in_features, device=base.weight.device)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            self.lora_a.append(nn.Parameter(a))
            self.lora_b.append(
                nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.task == 0:
            return out
        a, b = self.lora_a[self.task - 1], self.lora_b[self.task - 1]
        return out + self.scale * (x @ a.t()) @ b.t()

    def adapter_params(self, task: int) -> list[nn.Parameter]:
        return [] if task == 0 else [self.lora_a[task - 1], self.lora_b[task - 1]]


def add_lora(net: nn.Module, num_tasks: int, rank: int, alpha: float) -> nn.Module:
    """Replace every ``nn.Linear`` of ``net`` (in place) by a :class:`LoRALinear`."""
    for name, child in list(net.named_children()):
        if isinstance(child, nn.Linear):
            setattr(net, name, LoRALinear(child, num_tasks, rank, alpha))
        else:
            add_lora(child, num_tasks, rank, alpha)
    return net


def lora_layers(net: nn.Module) -> list[LoRALinear]:
    return [m for m in net.modules() if isinstance(m, LoRALinear)]


def set_lora_task(net: nn.Module, task: int) -> None:
    """Route every adapted layer through task ``task``'s adapter (no-op without adapters)."""
    for layer in lora_layers(net):
        layer.task = task


def train_only_lora_task(net: nn.Module, task: int) -> None:
    """Task 0 trains the base weights; task t >= 1 only its own adapters (base frozen)."""
    layers = lora_layers(net)
    for p in net.parameters():
        p.requires_grad_(task == 0)
    for layer in layers:
        for p in layer.adapter_params(task):
            p.requires_grad_(True)
        if task == 0:
            for p in [*layer.lora_a, *layer.lora_b]:
                p.requires_grad_(False)


def lora_params_per_task(net: nn.Module) -> int:
    """Scalars of one task's adapters (all layers)."""
    return sum(
        layer.rank * (layer.base.in_features + layer.base.out_features)
        for layer in lora_layers(net)
    )
