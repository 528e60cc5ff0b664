"""The hypernetwork learner as a :class:`~hypercl.methods.base.Method` of the loop."""

from __future__ import annotations

import torch

from hypercl.config import Config, MethodName, Scenario
from hypercl.data.tasks import Benchmark, TaskData
from hypercl.methods.base import OnStep
from hypercl.methods.learner import HNetLearner, build_learner
from hypercl.metrics import hnet_stored_params, param_counts
from hypercl.nets.heads import Heads


class HNetMethod:
    """:class:`~hypercl.methods.learner.HNetLearner` (HNET, ENT inference, from_scratch)."""

    resumes_mid_task = True
    trains_once = False

    def __init__(
        self, cfg: Config, benchmark: Benchmark, generator: torch.Generator, device: torch.device
    ) -> None:
        self.cfg, self.tasks = cfg, benchmark.tasks
        # CL2 shares one head; CL1 and CL3 have one head per task (CL3 infers which).
        num_heads = 1 if cfg.scenario == Scenario.cl2 else benchmark.num_tasks
        heads = Heads(num_heads, benchmark.head_size)
        self.infer_task = cfg.scenario != Scenario.cl1
        self.learner: HNetLearner = build_learner(
            cfg,
            benchmark.in_features,
            heads,
            benchmark.num_tasks,
            generator,
            device,
            benchmark.input_shape,
        )
        self.counts = param_counts(self.learner.hnet, self.learner.target.num_params)

    def describe(self) -> str:
        c = self.counts
        return (
            f"target {c['num_params_target']} weights, hypernetwork {c['num_params_hnet']} "
            f"(ratio {c['compression_ratio']:.3f})"
        )

    def num_iters(self, task_id: int) -> int:
        return self.learner.num_iters(self.tasks[task_id])

    def train_task(self, task_id: int, on_step: OnStep, start_step: int) -> None:
        self.learner.train_task(task_id, self.tasks[task_id], on_step, resume=start_step > 0)

    def evaluate(
        self, task_id: int, data: TaskData, num_learned: int
    ) -> tuple[float, float | None]:
        return self.learner.evaluate(task_id, data, num_learned, self.infer_task)

    def state_dict(self) -> dict:
        return self.learner.state_dict()

    def load_state_dict(self, state: dict, task_id: int, mid_task: bool) -> None:
        # task_id == num_tasks: all trained (only the results were left to write)
        data = self.tasks[min(task_id, len(self.tasks) - 1)]
        self.learner.load_state_dict(state, task_id, data, mid_task)

    def regularizer_bytes(self) -> int:
        """Bytes the output regularizer holds now (per-task cost in ``results.json``)."""
        return self.learner.regularizer.memory_bytes()

    def results_fields(self) -> dict:
        learner, cfg = self.learner, self.cfg
        variant = "hnet+ent" if self.infer_task else "hnet"  # CL1: TIR and ENT are plain HNET
        return {
            **self.counts,
            "method_variant": variant if cfg.method.name == MethodName.hnet else "from_scratch",
            "method_hparams": {"beta": cfg.method.beta},
            **hnet_stored_params(learner.hnet, learner.target.buffer_numel, cfg.target.per_task_bn),
        }
