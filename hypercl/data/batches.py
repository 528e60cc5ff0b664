"""Mini-batches of a task: endless shuffled batches of indices, as the learner draws them."""

from __future__ import annotations

import torch


class BatchSampler:
    """Endless shuffled mini-batches of indices into a tensor of ``n`` rows.

    Each epoch is a fresh permutation drawn from ``generator``; an incomplete last batch of
    an epoch is dropped. Indices live on ``device``.
    """

    def __init__(
        self, n: int, batch_size: int, generator: torch.Generator, device: torch.device
    ) -> None:
        self.n, self.batch_size = n, min(batch_size, n)
        self.generator, self.device = generator, device
        self.perm = torch.empty(0, dtype=torch.long, device=device)
        self.pos = 0

    def state_dict(self) -> dict:
        return {"perm": self.perm.cpu(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.perm, self.pos = state["perm"].to(self.device), state["pos"]

    def next(self) -> torch.Tensor:
        """Indices of the next batch: [batch_size] long."""
        if self.pos + self.batch_size > self.perm.numel():
            self.perm = torch.randperm(self.n, generator=self.generator).to(self.device)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx
