"""A training step replayed as a CUDA graph.

A step of the small target networks here launches a few hundred short kernels; on a GPU
the launches, not the arithmetic, set the step time. :class:`GraphedStep` runs the first
``warmup`` steps eagerly (they are real steps, on a side stream as CUDA requires), then
captures one step and replays it: each later call copies the batch into static input
buffers and replays the graph. The sequence of updates is the same as the eager loop's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Step = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


class GraphedStep:
    """Calls ``step(x, y)``: eagerly for the first ``warmup`` calls, then as a graph replay.

    ``step`` must keep its shapes and its Python control flow fixed from call to call, and
    must not synchronise with the host. The returned tensors of a replay are the graph's
    static outputs: read (or clone) them before the next call.
    """

    def __init__(self, step: Step, warmup: int = 3) -> None:
        self.step, self.warmup = step, warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.side = torch.cuda.Stream()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        if self.calls <= self.warmup:
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                out = self.step(x, y)
            torch.cuda.current_stream().wait_stream(self.side)
            return out
        if self.graph is None:
            self.static_x, self.static_y = x.clone(), y.clone()
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_out = self.step(self.static_x, self.static_y)
        else:
            self.static_x.copy_(x)
            self.static_y.copy_(y)
        self.graph.replay()
        return self.static_out
