"""Target networks without parameters of their own.

A target holds a *template* module on the ``meta`` device (shapes only, no memory) and is
called with a flat weight vector produced by the hypernetwork::

    logits = target(x, flat_weights)       # x: [B, *in_shape], flat_weights: [num_params]

The flat vector is cut into the template's parameters in ``param_shapes`` order and the
template is run with :func:`torch.func.functional_call`, so any ``nn.Module`` (LeNet,
ZenkeNet, ResNet-32, ...) slots in by defining its template.

Templates with batch norm (ResNet-32) have *buffers* (running statistics) besides the
generated weights. They are not generated: the caller keeps one set per task
(:meth:`FunctionalTarget.init_buffers`) and passes it in::

    stats = target.init_buffers(device)    # fresh running statistics of one task
    target.train(); target(x, w, stats)     # batch statistics; ``stats`` updated in place
    target.eval();  target(x, w, stats)     # normalises with ``stats``

Without buffers (``None``) batch norm always normalises with the batch's own statistics.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from hypercl.config import Activation, ConfigError

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
        self.buffer_specs = {
            name: (tuple(b.shape), b.dtype) for name, b in self.template.named_buffers()
        }

    @property
    def has_buffers(self) -> bool:
        """Whether the template keeps running statistics (batch norm)."""
        return bool(self.buffer_specs)

    def init_buffers(self, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """Fresh running statistics: ``running_var`` ones, everything else zeros."""
        return {
            name: (torch.ones if name.endswith("running_var") else torch.zeros)(
                shape, dtype=dtype, device=device
            )
            for name, (shape, dtype) in self.buffer_specs.items()
        }

    @property
    def buffer_numel(self) -> int:
        """Scalars in one set of running statistics (0 without batch norm)."""
        return sum(math.prod(shape) for shape, _ in self.buffer_specs.values())

    @property
    def num_params(self) -> int:
        """Length of the flat weight vector this target consumes."""
        return sum(self.param_numels)

    def output_indices(self, units: slice) -> torch.Tensor:
        """Flat indices [k] of the output layer's weights and biases of output ``units``.

        The output layer is the template's last parameter pair, a weight [out, in] and a
        bias [out] (every template here ends with ``nn.Linear``).
        """
        (w_name, b_name), (w_shape, b_shape) = self.param_names[-2:], self.param_shapes[-2:]
        if not (w_name.endswith("weight") and b_name.endswith("bias") and len(w_shape) == 2):
            raise ValueError(f"the template's last parameters {w_name}, {b_name} are no Linear")
        start_w = sum(self.param_numels[:-2])
        start_b = start_w + self.param_numels[-2]
        fan_in = w_shape[1]
        start, stop, _ = units.indices(b_shape[0])
        return torch.cat(
            [
                torch.arange(start_w + start * fan_in, start_w + stop * fan_in),
                torch.arange(start_b + start, start_b + stop),
            ]
        )

    def unflatten(self, flat_weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """[num_params + padding] -> {parameter name: view of the right shape}; entries
        beyond num_params (a chunked hypernetwork's padding) are ignored."""
        padding = flat_weights.shape[-1] - self.num_params
        if padding < 0:
            raise ValueError(
                f"expected {self.num_params} target weights, got {flat_weights.shape[-1]}"
            )
        # One split for weights and padding: its backward writes the gradient once
        # (a slice first would add a zero-filled copy of the whole vector).
        pieces = flat_weights.split([*self.param_numels, padding], dim=-1)[:-1]
        return {
            name: piece.view(shape)
            for name, piece, shape in zip(self.param_names, pieces, self.param_shapes, strict=True)
        }

    def forward(
        self,
        x: torch.Tensor,
        flat_weights: torch.Tensor,
        buffers: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """x: [B, ...], flat_weights: [num_params (+ padding)] -> outputs [B, out].

        Args:
            buffers: running statistics from :meth:`init_buffers` (updated in place in
                training mode, used in eval mode); None: batch statistics in both modes.
        """
        tensors = self.unflatten(flat_weights)
        if self.has_buffers:
            tensors.update(buffers if buffers is not None else dict.fromkeys(self.buffer_specs))
        return functional_call(self.template, tensors, (x,))


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


class ResNetBlock(nn.Module):
    """Basic residual block of the CIFAR ResNet (He et al. 2016, sec. 4.2).

    conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut, then ReLU. When the block
    changes the shape, the shortcut is option A: subsample by ``stride`` and zero-pad the
    new channels (no parameters). Convolutions have biases, as in von Oswald et al. (2020).
    [B, c_in, H, W] -> [B, c_out, H / stride, W / stride].
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, c_out - c_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """Option A: x[:, :, ::stride, ::stride], zero channels split before and after."""
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet-(6n+2): conv 16 -> 3 stages of n blocks (16, 32, 64 filters) -> pool -> FC.

    n = 5 is ResNet-32. [B, 3, 32, 32] -> [B, out_features].
    """

    def __init__(self, out_features: int, n: int = 5, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        blocks: list[nn.Module] = []
        c_in = 16
        for stage, c_out in enumerate((16, 32, 64)):
            for i in range(n):
                blocks.append(ResNetBlock(c_in, c_out, 2 if stage > 0 and i == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def zenkenet_template(out_features: int, in_channels: int = 3, side: int = 32) -> nn.Sequential:
    """ZenkeNet (Zenke et al. 2017): [B, 3, 32, 32] -> [B, out_features].

    conv32 (same) -> conv32 (valid) -> maxpool -> channel dropout 0.25 -> conv64 (same) ->
    conv64 (valid) -> maxpool -> channel dropout 0.25 -> FC 512 -> dropout 0.5 -> FC out;
    ReLU after every conv and the hidden FC layer. Channel dropout (``Dropout2d``) zeroes
    whole feature maps, as the official code's ZenkeNet does (mnets/zenkenet.py).
    """
    flat = ((side - 2) // 2 - 2) // 2  # spatial size after the two valid convs and pools
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout2d(0.25),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout2d(0.25),
        nn.Flatten(),
        nn.Linear(64 * flat * flat, 512),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(512, out_features),
    )


def build_target(
    name: str,
    in_features: int,
    out_features: int,
    hidden: list[int],
    activation: Activation,
    input_shape: tuple[int, ...] | None = None,
) -> FunctionalTarget:
    """Target network by config name; ``out_features`` covers all heads.

    ``mlp`` uses ``in_features``, ``hidden`` and ``activation``; ``resnet32`` and
    ``zenkenet`` need images, ``input_shape`` = (channels, side, side).
    """
    if name == "mlp":
        return FunctionalTarget(mlp_template(in_features, hidden, out_features, activation))
    if name in ("resnet32", "zenkenet"):
        if input_shape is None or len(input_shape) != 3 or input_shape[1] != input_shape[2]:
            raise ConfigError(
                f"target.name={name!r} is invalid for inputs of shape {input_shape}: it needs "
                "square images (channels, side, side); use an image benchmark such as "
                "split_cifar10_100."
            )
        channels, side = input_shape[0], input_shape[1]
        if name == "resnet32":
            return FunctionalTarget(ResNet(out_features, n=5, in_channels=channels))
        return FunctionalTarget(zenkenet_template(out_features, channels, side))
    raise ValueError(f"unknown target {name!r}; known: mlp, resnet32, zenkenet")
