"""The output regularizer of von Oswald et al. (2020) and its lookahead.

While task ``t`` trains, the hypernetwork's outputs for every earlier task ``j`` are pulled
towards what it produced before task ``t`` started::

    reg = 1/|S| * sum_{j in S} || H(e_j, theta + dtheta) - H*(e_j) ||^2

``H*(e_j)`` is either stored (``stored``: [t, num_params] floats) or recomputed from a
frozen copy of theta (``online``: memory independent of the number of tasks). ``dtheta`` is
the lookahead: the step the optimizer would take on the task loss alone (detached).
"""

from __future__ import annotations

import math

import torch
from torch.func import functional_call

from hypercl.config import RegTargets
from hypercl.hnets import HyperNetwork


class OutputRegularizer:
    """Keeps H(e_j) for previous tasks j close to their snapshot.

    Args:
        targets: ``stored`` keeps H*(e_j); ``online`` keeps a frozen theta and recomputes.
        subset: if set, each call regularizes a random subset of this many previous tasks.
        generator: CPU generator for the subset draw (part of the run's RNG state).
    """

    def __init__(
        self,
        targets: RegTargets = RegTargets.stored,
        subset: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.targets = targets
        self.subset = subset
        self.generator = generator
        self.num_prev = 0
        self.stored: torch.Tensor | None = None  # [num_prev, num_params]
        self.frozen_theta: dict[str, torch.Tensor] | None = None

    @torch.no_grad()
    def snapshot(self, hnet: HyperNetwork, num_prev: int) -> None:
        """Record H*(e_j) for tasks 0..num_prev-1; call before training task ``num_prev``."""
        self.num_prev = num_prev
        self.stored, self.frozen_theta = None, None
        if num_prev == 0:
            return
        if self.targets == RegTargets.stored:
            ids = torch.arange(num_prev, device=hnet.head.weight.device)
            self.stored = hnet(ids).detach().clone()
        else:
            self.frozen_theta = {n: p.detach().clone() for n, p in hnet.theta().items()}

    @torch.no_grad()
    def snapshot_outputs(self, hnet: HyperNetwork, task_ids: torch.Tensor) -> torch.Tensor:
        """H*(e_j) for task_ids [S] -> [S, num_params]."""
        if self.stored is not None:
            return self.stored[task_ids]
        assert self.frozen_theta is not None, "snapshot() was not called"
        return functional_call(hnet, self.frozen_theta, (task_ids,))

    def sample_tasks(self, device: torch.device) -> torch.Tensor:
        """The previous tasks S to regularize in this step: [|S|] long."""
        if self.subset is None or self.subset >= self.num_prev:
            return torch.arange(self.num_prev, device=device)
        perm = torch.randperm(self.num_prev, generator=self.generator)
        return perm[: self.subset].to(device)

    def __call__(
        self, hnet: HyperNetwork, theta: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """The regularizer (a scalar, not yet multiplied by beta) at ``theta``.

        Args:
            theta: replacement shared parameters (e.g. theta + dtheta); None: the current.
        """
        device = hnet.head.weight.device
        if self.num_prev == 0:
            return torch.zeros((), device=device)
        ids = self.sample_tasks(device)
        outputs = hnet(ids) if theta is None else functional_call(hnet, theta, (ids,))
        diff = outputs - self.snapshot_outputs(hnet, ids)
        return diff.pow(2).sum() / ids.numel()


@torch.no_grad()
def adam_lookahead(optimizer: torch.optim.Adam, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The update ``optimizer.step()`` would apply to ``params`` with their current grads.

    Replicates :class:`torch.optim.Adam` (no weight decay, no amsgrad) without changing its
    state. A parameter without a gradient gets a zero update.
    """
    groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    deltas = []
    for p in params:
        group = groups[id(p)]
        if group["weight_decay"] or group["amsgrad"] or group["maximize"]:
            raise NotImplementedError("lookahead supports plain Adam only")
        if p.grad is None:
            deltas.append(torch.zeros_like(p))
            continue
        beta1, beta2 = group["betas"]
        state = optimizer.state.get(p, {})
        step = float(state["step"]) + 1 if state else 1.0
        exp_avg = state["exp_avg"] if state else torch.zeros_like(p)
        exp_avg_sq = state["exp_avg_sq"] if state else torch.zeros_like(p)
        m = exp_avg.lerp(p.grad, 1 - beta1)
        v = exp_avg_sq.mul(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        step_size = group["lr"] / (1 - beta1**step)
        denom = (v.sqrt() / math.sqrt(1 - beta2**step)).add_(group["eps"])
        deltas.append(-step_size * m / denom)
    return deltas
