"""How a target network's outputs are split into heads (one per task, or one shared)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heads:
    """How the target's outputs are split into heads: ``num_heads`` x ``head_size``."""

    num_heads: int
    head_size: int

    @property
    def out_features(self) -> int:
        return self.num_heads * self.head_size

    def slice(self, task_id: int) -> slice:
        """Output units of task ``task_id`` (a shared head when there is one head)."""
        start = (task_id % self.num_heads) * self.head_size
        return slice(start, start + self.head_size)
