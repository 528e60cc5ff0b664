"""Avalanche plugins of the baselines (an exact iteration budget, EWC's per-sample
Fisher, SI with Zenke et al.'s importance) and the checkpoint state of every plugin and
model, so that a baseline resumes exactly."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import torch
from avalanche.benchmarks.utils.classification_dataset import (
    _make_taskaware_tensor_classification_dataset,
)
from avalanche.core import SupervisedPlugin
from avalanche.models import MultiTaskModule
from avalanche.training.plugins import LwFPlugin, ReplayPlugin
from avalanche.training.plugins.ewc import EWCPlugin
from avalanche.training.plugins.synaptic_intelligence import SynapticIntelligencePlugin
from avalanche.training.storage_policy import ReservoirSamplingBuffer
from avalanche.training.utils import ParamData, zerolike_params_dict
from torch import nn
from torch.utils.data import DataLoader


class IterationBudget(SupervisedPlugin):
    """Stops an Avalanche strategy after exactly ``budget`` training iterations.

    The runner sets ``budget`` before each ``strategy.train``; the strategy gets that many
    epochs (each has at least one iteration) and is stopped after the last iteration.
    ``on_step(step, loss)`` is called after every iteration.
    """

    def __init__(self, on_step: Callable[[int, torch.Tensor], None] | None = None) -> None:
        super().__init__()
        self.budget, self.step, self.on_step = 0, 0, on_step

    def before_training_exp(self, strategy, **kwargs) -> None:
        strategy.train_epochs = self.budget
        strategy._stop_training = False  # a stop at the very end of the last exp lingers
        self.step = 0

    def after_training_iteration(self, strategy, **kwargs) -> None:
        self.step += 1
        if self.on_step is not None:
            self.on_step(self.step, strategy.loss.detach())
        if self.step >= self.budget:
            strategy.stop_training()


class FisherEWCPlugin(EWCPlugin):
    """Avalanche's EWC plugin with the Fisher computed from ``fisher_batch_size`` samples
    per gradient (Avalanche uses the training mini-batch size; 1 gives the per-sample
    empirical Fisher that van de Ven & Tolias' lambda values are calibrated for).

    The per-sample Fisher is Avalanche's value (the mean over the task's samples of each
    squared gradient, true labels), computed from one backward pass per block of
    ``vmap_block`` samples instead of one per sample (both tested equal to Avalanche's
    loop): :func:`linear_fisher` when every parameter belongs to an ``nn.Linear`` (the MLP
    baselines), else :func:`per_sample_fisher` (``torch.func.vmap``).
    """

    def __init__(self, *args, fisher_batch_size: int = 1, vmap_block: int = 256, **kwargs):
        super().__init__(*args, **kwargs)
        self.fisher_batch_size, self.vmap_block = fisher_batch_size, vmap_block

    def compute_importances(self, model, criterion, optimizer, dataset, device, batch_size, **kw):
        if self.fisher_batch_size == 1:
            exact = linear_fisher if only_linear_params(model) else per_sample_fisher
            return exact(model, criterion, dataset, device, self.vmap_block)
        return super().compute_importances(
            model, criterion, optimizer, dataset, device, self.fisher_batch_size, **kw
        )


def only_linear_params(model: nn.Module) -> bool:
    """Whether every parameter of ``model`` is the weight or bias of an ``nn.Linear``."""
    linear = {id(p) for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters()}
    return all(id(p) in linear for p in model.parameters())


def linear_fisher(
    model: nn.Module, criterion, dataset, device, block: int = 256
) -> dict[str, ParamData]:
    """:func:`per_sample_fisher` for a model whose parameters all belong to ``nn.Linear``
    layers, from one backward pass per block.

    A linear layer y = W a + b gives sample n the gradient d_n a_n^T (d_n = dloss_n/dy_n
    [out], a_n its input [in]), so the sum over the block of the squared per-sample
    gradients is (d^2)^T (a^2) [out, in] for W and sum_n d_n^2 for b: one GEMM instead of
    materialising B gradients of the whole network. Exact as long as samples do not
    interact (``model.eval()``: no batch statistics, no dropout) and ``criterion`` is a
    mean of per-sample losses (its value times B is their sum).
    """
    model.eval()
    layers = {m: name for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    importances = zerolike_params_dict(model)
    multi_task = isinstance(model, MultiTaskModule)
    seen: list[tuple[nn.Linear, torch.Tensor, torch.Tensor]] = []  # (layer, input, output)

    def keep(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        seen.append((layer, inputs[0].detach(), output))
        return output.clone()  # what follows may write into its output (masked units)

    hooks = [layer.register_forward_hook(keep) for layer in layers]
    try:
        for xs, ys, task in _task_blocks(dataset, device, block):
            seen.clear()
            with torch.enable_grad():
                out = model(xs, task) if multi_task else model(xs)
                loss = criterion(out, ys) * len(xs)  # the sum of per-sample losses
                grads = torch.autograd.grad(loss, [o for _, _, o in seen], allow_unused=True)
            if len({id(layer) for layer, _, _ in seen}) < len(seen) or any(
                a.dim() != 2 for _, a, _ in seen
            ):
                raise ValueError("linear_fisher needs each nn.Linear applied once, to [B, in]")
            for (layer, a, _), d in zip(seen, grads, strict=True):
                if d is None:  # a head of another task
                    continue
                name = layers[layer]
                prefix = f"{name}." if name else ""
                importances[f"{prefix}weight"].data += d.square().T @ a.square()
                if layer.bias is not None:
                    importances[f"{prefix}bias"].data += d.square().sum(0)
    finally:
        for hook in hooks:
            hook.remove()
    return _mean_over_samples(importances, len(dataset), model)


@torch.no_grad()
def per_sample_fisher(
    model: nn.Module, criterion, dataset, device, block: int = 256
) -> dict[str, ParamData]:
    """Mean over ``dataset`` of the squared gradient of ``criterion`` on each single sample,
    per parameter (Avalanche's ``EWCPlugin.compute_importances`` with batch size 1)."""
    model.eval()
    params = {n: p.detach() for n, p in model.named_parameters()}
    importances = zerolike_params_dict(model)
    multi_task = isinstance(model, MultiTaskModule)

    def sample_loss(params, x, y, task: int):
        args = (x.unsqueeze(0), task) if multi_task else (x.unsqueeze(0),)
        return criterion(torch.func.functional_call(model, params, args), y.unsqueeze(0))

    per_sample_grads = torch.func.vmap(torch.func.grad(sample_loss), in_dims=(None, 0, 0, None))
    for xs, ys, task in _task_blocks(dataset, device, block):
        for name, g in per_sample_grads(params, xs, ys, task).items():
            importances[name].data += g.pow(2).sum(0)
    return _mean_over_samples(importances, len(dataset), model)


def _task_blocks(dataset, device, block: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """``dataset`` in blocks of ``block`` samples, each split by task label (one task per
    experience in practice): (x [b, ...], y [b], task), on ``device``."""
    for x, y, tasks in DataLoader(dataset, batch_size=block, collate_fn=dataset.collate_fn):
        x, y = x.to(device), y.to(device)
        for task in tasks.unique().tolist():
            rows = tasks == task
            yield x[rows], y[rows], task


def _mean_over_samples(
    importances: dict[str, ParamData], count: int, model: nn.Module
) -> dict[str, ParamData]:
    """Sums of squared gradients over ``count`` samples -> their means; ``model`` back in
    training mode (the Fishers run it in eval mode)."""
    for imp in importances.values():
        imp.data /= float(count)
    model.train()
    return importances


class SIPlugin(SynapticIntelligencePlugin):
    """Avalanche's SI plugin with two changes, so that it computes Zenke et al.'s (and van
    de Ven & Tolias') importance:

    * On the CPU, Avalanche's ``extract_weights`` stores ``param.detach().cpu().flatten()``,
      which *is* the live parameter there (``.cpu()`` copies only from a GPU). The anchor
      w* and the weights before each step then alias the current weights: every update
      is measured as zero and the penalty is zero. The snapshots are cloned here.
    * Avalanche clips each parameter's importance at 0.001 (``update_ewc_data(clip_to=
      0.001)``); the published c values assume no clipping, so none is applied.
    """

    @staticmethod
    def _detach_copies(data: dict) -> None:
        for item in data.values():
            item.data = item.data.clone()

    def before_training_exp(self, strategy, **kwargs) -> None:
        super().before_training_exp(strategy, **kwargs)
        self._detach_copies(self.ewc_data[0])  # the anchor w* = weights at the task's start

    def before_training_iteration(self, strategy, **kwargs) -> None:
        super().before_training_iteration(strategy, **kwargs)
        self._detach_copies(self.syn_data["old_theta"])

    def after_training_exp(self, strategy, **kwargs) -> None:
        SynapticIntelligencePlugin.update_ewc_data(
            strategy.model,
            self.ewc_data,
            self.syn_data,
            float("inf"),
            self.excluded_parameters,
            1,
            eps=self.eps,
        )


# Plugin attributes that hold what a plugin has learned (all else is configuration).
PLUGIN_STATE = {
    FisherEWCPlugin: ("saved_params", "importances"),
    SIPlugin: ("ewc_data", "syn_data"),
}


def model_state(model: nn.Module) -> dict:
    """Parameters and buffers, and the tasks and classes each Avalanche ``MultiTaskModule``
    has seen (not in ``state_dict``; a multi-task forward depends on them)."""
    seen = {
        name: (set(m.known_train_tasks_labels), m.max_class_label)
        for name, m in model.named_modules()
        if isinstance(m, MultiTaskModule)
    }
    return {"tensors": model.state_dict(), "multi_task": seen}


def load_model_state(model: nn.Module, state: dict) -> None:
    """Restore :func:`model_state` into a model of the same structure."""
    model.load_state_dict(state["tensors"])
    modules = dict(model.named_modules())
    for name, (tasks, max_class) in state["multi_task"].items():
        modules[name].known_train_tasks_labels = set(tasks)
        modules[name].max_class_label = max_class


def plugin_state(plugin) -> dict:
    """What ``plugin`` has learned so far, as tensors and numbers (for a checkpoint)."""
    if isinstance(plugin, LwFPlugin):
        lwf = plugin.lwf
        prev = None if lwf.prev_model is None else model_state(lwf.prev_model)
        return {
            "prev_model": prev,
            "prev_classes_by_task": dict(lwf.prev_classes_by_task),
            "expcount": lwf.expcount,
        }
    if isinstance(plugin, ReplayPlugin):
        policy = plugin.storage_policy
        groups = {k: buffer_samples(g) for k, g in policy.buffer_groups.items()}
        return {"groups": groups, "max_size": policy.max_size, "num_exps": policy._num_exps}
    for kind, names in PLUGIN_STATE.items():
        if isinstance(plugin, kind):
            return {name: getattr(plugin, name) for name in names}
    return {}


def load_plugin_state(plugin, state: dict, model: nn.Module) -> None:
    """Restore :func:`plugin_state` into a fresh ``plugin`` of a strategy over ``model``."""
    if isinstance(plugin, LwFPlugin):
        lwf = plugin.lwf
        if state["prev_model"] is not None:
            lwf.prev_model = copy.deepcopy(model)
            load_model_state(lwf.prev_model, state["prev_model"])
        lwf.prev_classes_by_task.update(state["prev_classes_by_task"])
        lwf.expcount = state["expcount"]
    elif isinstance(plugin, ReplayPlugin):
        policy = plugin.storage_policy
        policy.max_size, policy._num_exps = state["max_size"], state["num_exps"]
        for key, saved in state["groups"].items():
            group = ReservoirSamplingBuffer(saved["max_size"])
            (task,) = saved["t"].unique().tolist()  # a group holds one experience
            group.buffer = _make_taskaware_tensor_classification_dataset(
                saved["x"], saved["y"], task_labels=task, targets=saved["y"].tolist()
            )
            group._buffer_weights = saved["weights"]
            policy.buffer_groups[key] = group
    else:
        for name, value in state.items():
            setattr(plugin, name, value)


def buffer_samples(group: ReservoirSamplingBuffer) -> dict:
    """A replay group's samples as tensors: inputs as the strategy sees them (transforms
    applied), labels, task labels, and the reservoir weights."""
    items = [group.buffer[i] for i in range(len(group.buffer))]
    x, y, t = (torch.stack([torch.as_tensor(item[k]) for item in items]) for k in range(3))
    return {"x": x, "y": y, "t": t, "weights": group._buffer_weights, "max_size": group.max_size}
