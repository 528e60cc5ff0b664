"""Continual-learning metrics from the accuracy matrix, and parameter counts.

``acc[i][j]`` is the test accuracy (percent) on task j after training task i; entries with
j > i (tasks not yet seen) are ``None``.
"""

from __future__ import annotations

from statistics import mean

from torch import nn

from hypercl.config import Config


def during_accuracies(acc: list[list[float | None]]) -> list[float]:
    """A[j][j] for every task j: accuracy right after learning it."""
    return [float(acc[j][j]) for j in range(len(acc))]


def final_accuracies(acc: list[list[float | None]]) -> list[float]:
    """A[T-1][j]: accuracy on every task after learning the last one."""
    return [float(a) for a in acc[-1]]


def forgetting(acc: list[list[float | None]]) -> list[float]:
    """Per task j < T-1: best accuracy before the end minus the final one (Chaudhry 2018)."""
    last = len(acc) - 1
    return [max(acc[i][j] for i in range(j, last)) - acc[last][j] for j in range(last)]


def backward_transfer(acc: list[list[float | None]]) -> float | None:
    """BWT = mean over j < T-1 of A[T-1][j] - A[j][j] (Lopez-Paz & Ranzato 2017)."""
    last = len(acc) - 1
    if last == 0:
        return None
    return mean(acc[last][j] - acc[j][j] for j in range(last))


def summarize(acc: list[list[float | None]]) -> dict:
    """All accuracy-matrix metrics as a flat dict (percent; None where undefined)."""
    during, final, forget = during_accuracies(acc), final_accuracies(acc), forgetting(acc)
    return {
        "during_acc": during,
        "final_acc": final,
        "during_acc_mean": mean(during),
        "final_acc_mean": mean(final),
        "forgetting": forget,
        "forgetting_mean": mean(forget) if forget else None,
        "bwt": backward_transfer(acc),
    }


def count_params(module: nn.Module) -> int:
    """Number of trainable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def param_counts(hnet: nn.Module, num_target_weights: int) -> dict:
    """Hypernetwork size (all embeddings included), target size and their ratio."""
    num_hnet = count_params(hnet)
    return {
        "num_params_hnet": num_hnet,
        "num_params_target": num_target_weights,
        "compression_ratio": num_hnet / num_target_weights,
    }


def hnet_stored_params(hnet: nn.Module, buffer_numel: int, per_task_bn: bool) -> dict:
    """What the hypernetwork methods keep to serve every task (``results.json``).

    ``hnet`` / ``finetune``-style runs: the hypernetwork with all chunk and task embeddings;
    a new task adds one task embedding. ``from_scratch`` (:class:`ScratchWeights`): one target
    per task. Batch-norm running statistics (``buffer_numel`` per set) are added once per
    task with ``per_task_bn``, else once.
    """
    num_tasks = len(hnet.task_embs)
    per_task = hnet.task_embs[0].numel() + (buffer_numel if per_task_bn else 0)
    total = count_params(hnet) + buffer_numel * (num_tasks if per_task_bn else 1)
    return {"params_stored_per_task": per_task, "params_stored_total": total}


def validation_summary(val_acc: list[list[float | None]] | None) -> dict:
    """``val_acc_matrix`` and the final mean validation accuracy (empty without validation)."""
    if val_acc is None:
        return {}
    final = [a for a in val_acc[-1] if a is not None]
    return {"val_acc_matrix": val_acc, "val_final_acc_mean": sum(final) / len(final)}


def accuracy_fields(
    cfg: Config,
    benchmark_name: str,
    task_iters: list[int],
    acc: list[list[float | None]],
    task_infer: list[float | None] | None,
) -> dict:
    """The first fields of ``results.json``: what ran, and its accuracies (``task_infer``:
    task-inference accuracy per task, None without task inference)."""
    return {
        "experiment": cfg.name,
        "benchmark": benchmark_name,
        "scenario": cfg.scenario.value,
        "method": cfg.method.name.value,
        "target": cfg.target.name.value,
        "seed": cfg.seed,
        "iters_per_task": cfg.train.iters_per_task,
        "epochs_per_task": cfg.train.epochs_per_task,
        "train_subset": cfg.benchmark.train_subset,
        "test_subset": cfg.benchmark.test_subset,
        "task_iters": task_iters,
        "acc_matrix": acc,
        **summarize(acc),
        "task_infer_acc": task_infer,
        "task_infer_acc_mean": sum(task_infer) / len(task_infer) if task_infer else None,
    }
