"""A training step replayed as a CUDA graph.

A step of the small target networks here launches a few hundred short kernels; on a GPU
the launches, not the arithmetic, set the step time. :class:`GraphedStep` runs the first
``warmup`` steps eagerly (they are real steps, on a side stream as CUDA requires), then
captures one step and replays it: each later call copies its inputs (the batch, and any
noise the step uses, drawn on the host) into static buffers and replays the graph. The
sequence of updates is the same as the eager loop's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Step = Callable[..., dict[str, torch.Tensor]]


class GraphedStep:
    """Calls ``step(*inputs)`` (tensors, e.g. x, y): eagerly for the first ``warmup`` calls,
    then as a graph replay.

    ``step`` must keep its shapes and its Python control flow fixed from call to call, must
    not synchronise with the host, and must draw no random numbers (pass them as inputs: a
    graph would replay one draw). The returned tensors of a replay are the graph's static
    outputs: read (or clone) them before the next call.
    """

    def __init__(self, step: Step, warmup: int = 3) -> None:
        self.step, self.warmup = step, warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.side = torch.cuda.Stream()

    def __call__(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        if self.calls <= self.warmup:
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                out = self.step(*inputs)
            torch.cuda.current_stream().wait_stream(self.side)
            return out
        if self.graph is None:
            self.static_inputs = [t.clone() for t in inputs]
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_out = self.step(*self.static_inputs)
        else:
            for static, t in zip(self.static_inputs, inputs, strict=True):
                static.copy_(t)
        self.graph.replay()
        return self.static_out


def graphed_if(enabled: bool, step: Step, device: torch.device, warmup: int = 3) -> Step:
    """``step`` as a :class:`GraphedStep` where ``enabled`` (``train.cuda_graphs``) and
    ``device`` is CUDA; else ``step`` itself, called eagerly."""
    return GraphedStep(step, warmup) if enabled and device.type == "cuda" else step
