"""Runs grouped into table rows: one per (benchmark, scenario, method, iterations per task)
for MNIST, beside the paper; one per (benchmark, target, method, budget) for Split-CIFAR,
with every task's accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hypercl.report.paper import FULL_BUDGET, explanation, note, paper_values
from hypercl.report.runs import (
    code_status,
    iters_per_task,
    mean_matrix,
    method_label,
    method_order,
    number,
    sem,
)

# Epochs per task of the paper's settings (conf/experiment/split_cifar10_100_<target>.yaml).
FULL_EPOCHS = {"resnet32": 200, "zenkenet": 80}
CIFAR_METHOD_ORDER = ["hnet", "finetune", "from_scratch"]
# The columns that name a row: MNIST (:func:`summary_frame`) and Split-CIFAR (:func:`cifar_frame`).
ROW_KEYS = ["benchmark", "num_tasks", "scenario", "method", "iters_per_task"]
CIFAR_KEYS = ["benchmark", "num_tasks", "target", "method", "budget"]


def runs_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per run."""
    rows = []
    for r in runs:
        rows.append(
            {
                "benchmark": r["benchmark"],
                "num_tasks": len(r["acc_matrix"]),
                "scenario": r["scenario"],
                "method": method_label(r),
                "iters_per_task": iters_per_task(r),
                "seed": r["seed"],
                "final_acc": r["final_acc_mean"],
                "during_acc": number(r["during_acc_mean"]),  # NaN: not measured
                "params_stored_total": r.get("params_stored_total"),
                "params_stored_per_task": r.get("params_stored_per_task"),
                "wall_time_s": r.get("wall_time_s"),
                "device": r.get("device"),
                "stale": r.get("_stale", True),
            }
        )
    return pd.DataFrame(rows)


def summary_frame(
    runs: pd.DataFrame, reference: pd.DataFrame, explanations: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per (benchmark, num_tasks, scenario, method, iters_per_task) of
    :func:`runs_frame`, with the paper's value and the generated note."""
    rows = []
    for key, group in runs.groupby(ROW_KEYS, sort=False):
        row = dict(zip(ROW_KEYS, key, strict=True))
        full = FULL_BUDGET.get(row["benchmark"])
        stale = int(group["stale"].sum())
        row.update(
            {
                "code": code_status(stale, len(group)),
                "stale_runs": stale,
                "n": len(group),
                "seeds": " ".join(str(s) for s in sorted(group["seed"])),
                "reduced": full is not None and row["iters_per_task"] < full,
                "final_acc_mean": group["final_acc"].mean(),
                "final_acc_sem": sem(group["final_acc"]),
                "during_acc_mean": group["during_acc"].mean(),
                "params_stored_total": _agreed(group["params_stored_total"]),
                "params_stored_per_task": _agreed(group["params_stored_per_task"]),
                "wall_time_s_mean": group["wall_time_s"].mean(),
                "device": " ".join(sorted({str(d) for d in group["device"]})),
            }
        )
        row.update(paper_values(reference, row))
        row["note"] = note(row, full, explanation(explanations, row))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["_m"] = table["method"].map(method_order)
    table = table.sort_values(
        ["benchmark", "num_tasks", "scenario", "_m", "iters_per_task"],
        ascending=[False, True, True, True, False],
    )
    return table.drop(columns="_m").reset_index(drop=True)


def _agreed(values: pd.Series) -> int | None:
    """The value if all runs agree (stored parameters), else None."""
    unique = values.dropna().unique()
    return int(unique[0]) if len(unique) == 1 else None


def cifar_method(run: dict) -> str:
    """The Figure-4 role of a CIFAR run: ``hnet``, ``finetune`` (the hypernetwork trained
    with beta = 0, the ``*_finetune`` presets) or ``from_scratch``."""
    beta = (run.get("method_hparams") or {}).get("beta")
    return "finetune" if run["method"] == "hnet" and beta == 0 else run["method"]


def cifar_budget(run: dict) -> tuple[str, bool]:
    """(label, reduced): epochs per task, training images per task, and test images per
    task where the test sets were subsampled."""
    epochs, subset = run.get("epochs_per_task"), run.get("train_subset")
    full = FULL_EPOCHS.get(run.get("target", ""))
    if epochs is None:
        label, reduced = f"{min(run['task_iters'])} it.", True
    else:
        label, reduced = f"{epochs} ep.", full is None or epochs < full
    if subset is not None:
        label, reduced = f"{label} x {subset} img.", True
    label += " REDUCED" if reduced else ""
    test_subset = run.get("test_subset")
    return label + (f", {test_subset} test img." if test_subset else ""), reduced


def cifar_key(run: dict) -> tuple:
    """The values of :data:`CIFAR_KEYS` that put a CIFAR run in its row."""
    bench, target = run["benchmark"], run.get("target", "")
    return (bench, len(run["acc_matrix"]), target, cifar_method(run), cifar_budget(run)[0])


def cifar_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per (benchmark, target, method, budget): mean final and during accuracy per
    task (``final_t<j>``, ``during_t<j>``, mean over seeds) and over tasks (+- SEM)."""
    cells: dict[tuple, list[dict]] = {}
    for r in runs:
        cells.setdefault(cifar_key(r), []).append(r)
    rows = []
    for (bench, num_tasks, target, method, budget), group in cells.items():
        reduced = cifar_budget(group[0])[1]  # the same for every run of a budget label
        finals = pd.Series([r["final_acc_mean"] for r in group])
        matrices = mean_matrix(group)
        stale = sum(bool(r.get("_stale", True)) for r in group)
        row = {
            "benchmark": bench,
            "num_tasks": num_tasks,
            "target": target,
            "method": method,
            "code": code_status(stale, len(group)),
            "stale_runs": stale,
            "budget": budget,
            "reduced": reduced,
            "n": len(group),
            "seeds": " ".join(str(s) for s in sorted(r["seed"] for r in group)),
            "final_acc_mean": finals.mean(),
            "final_acc_sem": sem(finals),
            "during_acc_mean": float(np.mean([number(r["during_acc_mean"]) for r in group])),
        }
        row.update({f"final_t{j + 1}": matrices[-1][j] for j in range(num_tasks)})
        row.update({f"during_t{j + 1}": matrices[j][j] for j in range(num_tasks)})
        row["wall_time_s_mean"] = float(np.mean([r.get("wall_time_s") or np.nan for r in group]))
        row["device"] = " ".join(sorted({str(r.get("device")) for r in group}))
        rows.append(row)
    table = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(CIFAR_METHOD_ORDER)}
    table["_m"] = table["method"].map(lambda m: order.get(m, 99))
    table = table.sort_values(["benchmark", "target", "_m", "method", "budget"])
    return table.drop(columns="_m").reset_index(drop=True)
