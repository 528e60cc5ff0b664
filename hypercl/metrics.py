"""Continual-learning metrics from the accuracy matrix, and parameter counts.

``acc[i][j]`` is the test accuracy (percent) on task j after training task i; entries with
j > i (tasks not yet seen), and those ``train.eval_every_task`` skips, are ``None``.
"""

from __future__ import annotations

from statistics import mean

from torch import nn

from hypercl.config import Config


def _value(a: float | None) -> float | None:
    return None if a is None else float(a)


def _mean_if_all(values: list[float | None]) -> float | None:
    """The mean, or None if any value is missing (a partial mean would mislead)."""
    return mean(values) if values and all(v is not None for v in values) else None


def during_accuracies(acc: list[list[float | None]]) -> list[float | None]:
    """A[j][j] for every task j: accuracy right after learning it (None where not
    measured: ``train.eval_every_task=none``)."""
    return [_value(acc[j][j]) for j in range(len(acc))]


def final_accuracies(acc: list[list[float | None]]) -> list[float | None]:
    """A[T-1][j]: accuracy on every task after learning the last one."""
    return [_value(a) for a in acc[-1]]


def forgetting(acc: list[list[float | None]]) -> list[float | None]:
    """Per task j < T-1: best accuracy before the end minus the final one (Chaudhry 2018),
    over the rows that measured task j (``diagonal``: A[j][j] only, so a lower bound of the
    full matrix's value); None where no row before the last measured it, or the last did not."""
    last = len(acc) - 1
    out: list[float | None] = []
    for j in range(last):
        before = [acc[i][j] for i in range(j, last) if acc[i][j] is not None]
        out.append(max(before) - acc[last][j] if before and acc[last][j] is not None else None)
    return out


def backward_transfer(acc: list[list[float | None]]) -> float | None:
    """BWT = mean over j < T-1 of A[T-1][j] - A[j][j] (Lopez-Paz & Ranzato 2017); None
    for one task or where a term was not measured."""
    last = len(acc) - 1
    if last == 0:
        return None
    terms = [
        None if acc[last][j] is None or acc[j][j] is None else acc[last][j] - acc[j][j]
        for j in range(last)
    ]
    return _mean_if_all(terms)


def summarize(acc: list[list[float | None]]) -> dict:
    """All accuracy-matrix metrics as a flat dict (percent). Entries that were not measured
    (``train.eval_every_task``) are None, and so is every mean that would need one."""
    during, final, forget = during_accuracies(acc), final_accuracies(acc), forgetting(acc)
    return {
        "during_acc": during,
        "final_acc": final,
        "during_acc_mean": _mean_if_all(during),
        "final_acc_mean": _mean_if_all(final),
        "forgetting": forget,
        "forgetting_mean": _mean_if_all(forget),
        "bwt": backward_transfer(acc),
    }


def task_cost_fields(
    train_time: list[float | None], steps: list[int], reg_bytes: list[int | None] | None
) -> dict:
    """Per-task cost for ``results.json``: training seconds of each task (None for a task
    not trained on its own, e.g. ``joint``), its steps, the mean seconds per step, and the
    bytes the output regularizer held while it trained (None: a method without one)."""
    step_time = [
        None if s is None or n == 0 else s / n for s, n in zip(train_time, steps, strict=True)
    ]
    return {
        "task_train_time_s": train_time,
        "task_steps": steps,
        "task_step_time_s": step_time,
        "task_reg_memory_bytes": reg_bytes,
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
        "eval_every_task": cfg.train.eval_every_task.value,
        "acc_matrix": acc,
        **summarize(acc),
        "task_infer_acc": task_infer,
        "task_infer_acc_mean": sum(task_infer) / len(task_infer) if task_infer else None,
    }
