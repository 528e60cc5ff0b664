"""The output regularizer of von Oswald et al. (2020) and its lookahead.

While task ``t`` trains, the hypernetwork's outputs for every earlier task ``j`` are pulled
towards what it produced before task ``t`` started::

    reg = 1/|S| * sum_{j in S} || H(e_j, theta + dtheta) - H*(e_j) ||^2

``H*`` comes from a snapshot taken before task ``t``: ``stored`` keeps what is needed to
reproduce it, ``online`` keeps a frozen copy of theta and recomputes it every step. ``dtheta``
is the lookahead: the step the optimizer would take on the task loss alone (detached).

Two exact implementations (``impl``):

* ``direct`` regenerates all weights of every task in S: cost O(|S| R C h) and memory
  O(|S| num_params) -- the reference.
* ``fast`` uses that the hypernetwork's head is linear: for each row (chunk) of task j,
  ``H = z W^T + b`` and ``H* = z* W*^T + b*``, so with ``dz = z - z*``, ``dW = W - W*``,
  ``db = b - b*``::

      H - H* = dz W^T + z* dW^T + db = u M^T,   u = [dz, z*, 1],   M = [W, dW, db]

  hence ``||H - H*||^2 = u G u^T`` with the small Gram matrix ``G = M^T M``
  [(2h+1), (2h+1)]. Cost O(C h^2 + |S| R h^2): flat in the number of tasks. Every term
  pairs two small differences (dz with W, z* with dW), so nothing cancels catastrophically.
  The padding of the last chunk is excluded by a Gram matrix over its real columns only.
"""

from __future__ import annotations

import math

import torch
from torch.func import functional_call

from hypercl.config import RegImpl, RegTargets
from hypercl.hnets import HyperNetwork


def gram_squared_distance(
    dz: torch.Tensor,
    z_ref: torch.Tensor,
    w: torch.Tensor,
    dw: torch.Tensor,
    db: torch.Tensor,
    last_width: int,
) -> torch.Tensor:
    """Sum over rows of ``||dz W^T + z_ref dW^T + db||^2`` via one Gram matrix.

    Args:
        dz, z_ref: row activations minus their snapshot, and the snapshot [S, R, h].
        w, dw: head weight and its change [C, h]; db: head bias change [C].
        last_width: outputs of the last row (of each task) that count; the rest is padding.

    Returns:
        A scalar.
    """
    m = torch.cat([w, dw, db.unsqueeze(1)], dim=1)  # [C, 2h+1]
    gram_last = m[:last_width].T @ m[:last_width]
    u = torch.cat([dz, z_ref, dz.new_ones(*dz.shape[:2], 1)], dim=2)  # [S, R, 2h+1]
    total = ((u[:, -1] @ gram_last) * u[:, -1]).sum()
    if u.shape[1] > 1:
        gram_full = gram_last + m[last_width:].T @ m[last_width:]
        total = total + ((u[:, :-1] @ gram_full) * u[:, :-1]).sum()
    return total


class OutputRegularizer:
    """Keeps H(e_j) for previous tasks j close to their snapshot.

    Args:
        targets: ``stored`` keeps the snapshot's outputs (direct) or rows and head (fast);
            ``online`` keeps a frozen theta and recomputes.
        impl: ``fast`` (Gram matrices) or ``direct`` (the reference); both are exact.
        subset: if set, each call regularizes a random subset of this many previous tasks.
        generator: CPU generator for the subset draw (part of the run's RNG state).
    """

    def __init__(
        self,
        targets: RegTargets = RegTargets.stored,
        impl: RegImpl = RegImpl.fast,
        subset: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.targets, self.impl = targets, impl
        self.subset = subset
        self.generator = generator
        self.num_prev = 0
        self.snap: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def snapshot(self, hnet: HyperNetwork, num_prev: int) -> None:
        """Record H*(e_j) for tasks 0..num_prev-1; call before training task ``num_prev``."""
        self.num_prev = num_prev
        self.snap = {}
        if num_prev == 0:
            return
        if self.targets == RegTargets.online:
            self.snap = {n: p.detach().clone() for n, p in hnet.theta().items()}
            return
        ids = torch.arange(num_prev, device=hnet.head.weight.device)
        if self.impl == RegImpl.direct:
            self.snap = {"outputs": hnet(ids).clone()}
        else:
            self.snap = {
                "rows": hnet(ids, rows_only=True).clone(),
                "head.weight": hnet.head.weight.detach().clone(),
                "head.bias": hnet.head.bias.detach().clone(),
            }

    @torch.no_grad()
    def reference(self, hnet: HyperNetwork, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """The snapshot for tasks ids [S]: ``outputs`` [S, P] (direct), or ``rows``
        [S, R, h] with ``head.weight`` [C, h] and ``head.bias`` [C] (fast)."""
        if self.targets == RegTargets.online:
            if self.impl == RegImpl.direct:
                return {"outputs": functional_call(hnet, self.snap, (ids,))}
            rows = functional_call(hnet, self.snap, (ids,), {"rows_only": True})
            return {"rows": rows, "head.weight": self.snap["head.weight"],
                    "head.bias": self.snap["head.bias"]}  # fmt: skip
        if self.impl == RegImpl.direct:
            return {"outputs": self.snap["outputs"][ids]}
        return {**self.snap, "rows": self.snap["rows"][ids]}

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
        ref = self.reference(hnet, ids)
        params = dict(hnet.theta()) if theta is None else theta
        if self.impl == RegImpl.direct:
            outputs = functional_call(hnet, params, (ids,))
            return (outputs - ref["outputs"]).pow(2).sum() / ids.numel()
        rows = functional_call(hnet, params, (ids,), {"rows_only": True})
        w, b = params["head.weight"], params["head.bias"]
        total = gram_squared_distance(
            rows - ref["rows"], ref["rows"], w, w - ref["head.weight"], b - ref["head.bias"],
            hnet.last_row_width,
        )  # fmt: skip
        return total / ids.numel()


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
