"""Target networks without parameters of their own.

A target holds a *template* module on the ``meta`` device (shapes only, no memory) and is
called with a flat weight vector produced by the hypernetwork::

    logits = target(x, flat_weights)       # x: [B, *in_shape], flat_weights: [num_params]

The flat vector is cut into the template's parameters in ``param_shapes`` order and the
template is run with :func:`torch.func.functional_call`, so any ``nn.Module`` (LeNet,
ZenkeNet, ResNet-32, ...) slots in by defining its template.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call

from hypercl.config import Activation

ACTIVATIONS: dict[Activation, type[nn.Module]] = {
    Activation.relu: nn.ReLU,
    Activation.elu: nn.ELU,
    Activation.tanh: nn.Tanh,
    Activation.leaky_relu: nn.LeakyReLU,
}


class FunctionalTarget(nn.Module):
    """Runs a template module with weights given at call time.

    Args:
        template: the architecture; its parameters are moved to ``meta`` and never used.
    """

    def __init__(self, template: nn.Module) -> None:
        super().__init__()
        self.template = template.to("meta")
        self.param_names = [name for name, _ in self.template.named_parameters()]
        self.param_shapes = [tuple(p.shape) for p in self.template.parameters()]
        self.param_numels = [math.prod(s) for s in self.param_shapes]

    @property
    def num_params(self) -> int:
        """Length of the flat weight vector this target consumes."""
        return sum(self.param_numels)

    def unflatten(self, flat_weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """[num_params] -> {parameter name: view of the right shape}."""
        if flat_weights.shape[-1] != self.num_params:
            raise ValueError(
                f"expected {self.num_params} target weights, got {flat_weights.shape[-1]}"
            )
        pieces = flat_weights.split(self.param_numels, dim=-1)
        return {
            name: piece.view(shape)
            for name, piece, shape in zip(self.param_names, pieces, self.param_shapes, strict=True)
        }

    def forward(self, x: torch.Tensor, flat_weights: torch.Tensor) -> torch.Tensor:
        """x: [B, ...], flat_weights: [num_params] -> outputs [B, out]."""
        return functional_call(self.template, self.unflatten(flat_weights), (x,))


def mlp_template(
    in_features: int, hidden: list[int], out_features: int, activation: Activation
) -> nn.Sequential:
    """Flatten -> (Linear -> activation) per hidden size -> Linear."""
    layers: list[nn.Module] = [nn.Flatten()]
    sizes = [in_features, *hidden]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(sizes[-1], out_features))
    return nn.Sequential(*layers)


def build_target(
    name: str, in_features: int, out_features: int, hidden: list[int], activation: Activation
) -> FunctionalTarget:
    """Target network by config name ``mlp``; ``out_features`` covers all heads."""
    if name == "mlp":
        return FunctionalTarget(mlp_template(in_features, hidden, out_features, activation))
    raise ValueError(f"unknown target {name!r}; known: mlp")
