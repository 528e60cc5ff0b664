"""Results table and figures from run directories: ``python -m hypercl.report.tables <runs dir>``.

Collects every ``results.json`` under the runs directory (layout
``<runs>/<experiment>/<method>/seed<k>/``, as ``scripts/reproduce_mnist.sh`` writes it) and
writes, for every (benchmark, scenario, method, iterations per task):

* ``<out>/<name>.md`` and ``<out>/<name>.csv``: final accuracy mean +- SEM and n, the
  iteration budget (``REDUCED`` below the preset's full budget), the paper's number beside
  ours (``hypercl/report/paper_reference.csv``, with its source), stored parameters, wall time,
  and a note where we differ from the paper by more than 2 SEM;
* ``<out>/<name>_figures/``: accuracy-matrix heatmaps (mean over seeds), final per-task
  accuracy bars and during-vs-final bars, one figure of each per (benchmark, scenario).

Notes that explain a difference from the paper are text kept in
``<out>/<name>_explanations.csv`` (benchmark, num_tasks, scenario, method, iters_per_task,
explanation); a difference beyond 2 SEM without one is marked ``unexplained`` and listed.

A row whose runs were made by other code than the current is marked ``stale (code changed
since)`` in its *code* column: a run counts as current if its ``code_fingerprint`` is the
current code's or declared equivalent to it (:mod:`hypercl.fingerprint`); a run without one
(written before fingerprints) is stale. Partly stale rows say how many of their runs are.

Split-CIFAR runs (``split_cifar*`` benchmarks) get their own sections: per target network
and method, the final and during accuracy of every task, the epoch budget (``REDUCED`` below
the preset's epochs or on a training subset), and a bar chart per (benchmark, target) like
Figure 4 of the paper (during and final accuracy per task for every method).

The output is a pure function of the ``results.json`` files and the current code's
fingerprint: deleting it and running the command again recreates it byte for byte; a code
change that makes committed runs stale changes it (their rows get the stale mark).

    python -m hypercl.report.tables results/runs/mnist                   # -> results/mnist.md, ...
    python -m hypercl.report.tables results/runs/mnist_reduced --name mnist_reduced
    python -m hypercl.report.tables results/runs/cifar --name cifar       # -> results/cifar.md, ...
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hypercl.config import MethodName  # noqa: E402
from hypercl.fingerprint import code_fingerprint, is_current  # noqa: E402

REFERENCE_CSV = Path(__file__).resolve().parent / "paper_reference.csv"
# Iterations per task of the paper's settings (the presets conf/experiment/*mnist*.yaml).
FULL_BUDGET = {"split_mnist": 2000, "perm_mnist": 5000}
METHOD_ORDER = [m.value for m in MethodName]  # table rows in the order of the config enum
STALE = "stale (code changed since)"


def code_status(stale_runs: int, n: int) -> str:
    """The *code* cell of a row of ``n`` runs of which ``stale_runs`` are stale: empty when
    none is, ``STALE`` when all are, else ``STALE: k of n runs``."""
    if stale_runs == 0:
        return ""
    return STALE if stale_runs == n else f"{STALE}: {stale_runs} of {n} runs"


def method_label(run: dict) -> str:
    """The method's name in tables; a variant that changes what a baseline measures gets
    its own rows: ``"<method>, one Adam"`` for ``method.reset_optimizer=false``."""
    if (run.get("method_hparams") or {}).get("reset_optimizer") is False:
        return f"{run['method']}, one Adam"
    return run["method"]


def base_method(label: str) -> str:
    """The method name a :func:`method_label` starts with: ``"finetune, one Adam"`` ->
    ``"finetune"``."""
    return label.split(",")[0]


def method_order(label: str) -> tuple[int, str]:
    """Sort key: the config enum's order of the base method, then the label."""
    base = base_method(label)
    return (METHOD_ORDER.index(base) if base in METHOD_ORDER else 99, label)


BENCHMARK_TITLES = {
    "split_mnist": "Split-MNIST",
    "perm_mnist": "Permuted-MNIST",
    "split_cifar10_100": "Split-CIFAR-10/100",
    "split_cifar10": "Split-CIFAR-10",
    "split_cifar100": "Split-CIFAR-100",
}


def load_runs(runs_dir: Path, current: str | None = None) -> list[dict]:
    """Every results.json under ``runs_dir``, in path order, with its relative path and
    ``_stale``: whether the code that made it is not ``current`` (a fingerprint; default:
    this code's) or declared equivalent to it."""
    current = current or code_fingerprint()
    runs = []
    for path in sorted(runs_dir.rglob("results.json")):
        data = json.loads(path.read_text())
        data["_path"] = path.relative_to(runs_dir).as_posix()
        data["_stale"] = not is_current(data.get("code_fingerprint"), current)
        if "params_stored_total" not in data:
            data.update(stored_params_fallback(data, path.parent / "config.yaml"))
        runs.append(data)
    return runs


def stored_params_fallback(results: dict, config_yaml: Path) -> dict:
    """Stored parameters of hypernetwork runs written before results.json recorded them:
    the hypernetwork with all embeddings, and one task embedding per task (from the run's
    config.yaml). Other runs: unknown."""
    if results.get("method") != "hnet" or results.get("num_params_hnet") is None:
        return {}
    per_task = None
    if config_yaml.exists():
        import yaml

        per_task = yaml.safe_load(config_yaml.read_text())["hnet"]["task_emb_dim"]
    return {"params_stored_total": results["num_params_hnet"], "params_stored_per_task": per_task}


def runs_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per run."""
    rows = []
    for r in runs:
        iters = r.get("task_iters") or [r["iters_per_task"]]
        rows.append(
            {
                "benchmark": r["benchmark"],
                "num_tasks": len(r["acc_matrix"]),
                "scenario": r["scenario"],
                "method": method_label(r),
                "iters_per_task": int(min(iters)),
                "seed": r["seed"],
                "final_acc": r["final_acc_mean"],
                "during_acc": r["during_acc_mean"],
                "params_stored_total": r.get("params_stored_total"),
                "params_stored_per_task": r.get("params_stored_per_task"),
                "wall_time_s": r.get("wall_time_s"),
                "device": r.get("device"),
                "stale": r.get("_stale", True),
            }
        )
    return pd.DataFrame(rows)


def sem(values: pd.Series) -> float:
    """Standard error of the mean (NaN for one value)."""
    n = len(values)
    return float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan


def summary_frame(
    runs: pd.DataFrame, reference: pd.DataFrame, explanations: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per (benchmark, num_tasks, scenario, method, iters_per_task)."""
    keys = ["benchmark", "num_tasks", "scenario", "method", "iters_per_task"]
    rows = []
    for key, group in runs.groupby(keys, sort=False):
        row = dict(zip(keys, key, strict=True))
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
                "params_stored_total": _one(group["params_stored_total"]),
                "params_stored_per_task": _one(group["params_stored_per_task"]),
                "wall_time_s_mean": group["wall_time_s"].mean(),
                "device": " ".join(sorted({str(d) for d in group["device"]})),
            }
        )
        ref = reference[
            (reference["benchmark"] == row["benchmark"])
            & (reference["num_tasks"] == row["num_tasks"])
            & (reference["scenario"] == row["scenario"])
            & (reference["method"] == base_method(row["method"]))
        ]
        row["paper_final_acc"] = ref["final_acc"].iloc[0] if len(ref) else math.nan
        row["paper_sem"] = ref["sem"].iloc[0] if len(ref) else math.nan
        row["paper_source"] = ref["source"].iloc[0] if len(ref) else ""
        row["note"] = note(row, full, explanation(explanations, row))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["_m"] = table["method"].map(method_order)
    table = table.sort_values(
        ["benchmark", "num_tasks", "scenario", "_m", "iters_per_task"],
        ascending=[False, True, True, True, False],
    )
    return table.drop(columns="_m").reset_index(drop=True)


def _one(values: pd.Series):
    """The value if all runs agree (stored parameters), else None."""
    unique = values.dropna().unique()
    return int(unique[0]) if len(unique) == 1 else None


EXPLANATION_KEYS = ["benchmark", "num_tasks", "scenario", "method", "iters_per_task"]
UNEXPLAINED = "unexplained"


def load_explanations(path: Path) -> pd.DataFrame:
    """The hand-written explanations of differences from the paper (empty if no file)."""
    if not path.exists():
        return pd.DataFrame(columns=[*EXPLANATION_KEYS, "explanation"])
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise SystemExit(f"hypercl.report.tables: {path} is empty; give it a header line") from None
    missing = sorted(set(EXPLANATION_KEYS + ["explanation"]) - set(table.columns))
    if missing:
        raise SystemExit(f"hypercl.report.tables: {path} lacks the column(s) {', '.join(missing)}")
    return table


def explanation(explanations: pd.DataFrame | None, row: dict) -> str:
    """The explanation written for this (benchmark, num_tasks, scenario, method, budget)."""
    if explanations is None or explanations.empty:
        return ""
    match = explanations
    for key in EXPLANATION_KEYS:
        match = match[match[key] == row[key]]
    return str(match["explanation"].iloc[0]) if len(match) else ""


def note(row: dict, full: int | None, explained: str = "") -> str:
    """Generated remarks: reduced budget, n, and differences beyond 2 SEM from the paper,
    followed by the explanation written for the cell (``unexplained`` where a difference
    beyond 2 SEM has none)."""
    parts = []
    beyond = False
    if row["reduced"]:
        parts.append(f"REDUCED budget: {row['iters_per_task']} of {full} iterations per task")
    paper = row["paper_final_acc"]
    if not math.isnan(paper):
        diff = row["final_acc_mean"] - paper
        ours, theirs = row["final_acc_sem"], row["paper_sem"]
        combined = math.sqrt(ours**2 + (0 if math.isnan(theirs) else theirs**2))
        side = "above" if diff > 0 else "below"
        if row["n"] < 2:
            parts.append(f"n=1, no SEM: {side} paper by {abs(diff):.2f}")
        elif combined > 0 and abs(diff) > 2 * combined:
            parts.append(f"{side} paper by {abs(diff):.2f} ({abs(diff) / combined:.1f} SEM)")
            beyond = True
    if explained:
        parts.append(explained)
    elif beyond and not row["reduced"]:
        parts.append(UNEXPLAINED)
    return "; ".join(parts)


def _fmt_acc(mean: float, err: float) -> str:
    return f"{mean:.2f}" if math.isnan(err) else f"{mean:.2f} ± {err:.2f}"


def _fmt_int(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,}"


def header(runs_dir: str, name: str) -> list[str]:
    """Title and provenance of a generated table."""
    return [
        f"# {name}: final accuracy by benchmark, scenario and method",
        "",
        f"Generated by `python -m hypercl.report.tables {runs_dir} --name {name}` from the "
        "`results.json` files under that directory; do not edit by hand.",
        "",
    ]


def mnist_markdown(table: pd.DataFrame, name: str) -> list[str]:
    """The MNIST table as markdown, one section per benchmark."""
    lines = [
        "Final accuracy: mean over tasks of the test accuracy after the last task (%), mean ± "
        "SEM over n seeds. *iters/task*: training iterations per task (REDUCED: below the "
        "paper's budget). *paper*: `hypercl/report/paper_reference.csv` (von Oswald et al. 2020, "
        "Table 1; baselines from van de Ven & Tolias 2019). Stored parameters: what must be "
        "kept to serve all tasks (total, and added per task). Notes are generated: budget, n, "
        "and differences from the paper beyond 2 SEM (ours and, where published, the paper's, "
        f"combined), followed by the explanation kept in `{name}_explanations.csv` "
        "(`unexplained` where there is none). *code*: `stale (code changed since)` where "
        "the row's runs were made by other code than the current one (no `code_fingerprint` in "
        "their `results.json`, or one neither equal nor declared equivalent to the current "
        "code's, see `hypercl/fingerprint.py`); `k of n runs` where only some were.",
        "",
    ]
    for (bench, num_tasks), block in table.groupby(["benchmark", "num_tasks"], sort=False):
        title = BENCHMARK_TITLES.get(bench, bench)
        lines += [f"## {title} ({num_tasks} tasks)", ""]
        lines.append(
            "| scenario | method | code | n | iters/task | final acc. | paper | during acc. "
            "| stored params | per task | wall time (s) | device | note |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for _, r in block.iterrows():
            budget = f"{r['iters_per_task']}" + (" REDUCED" if r["reduced"] else "")
            paper = (
                ""
                if math.isnan(r["paper_final_acc"])
                else _fmt_acc(r["paper_final_acc"], r["paper_sem"])
            )
            lines.append(
                f"| {r['scenario'].upper()} | {r['method']} | {r['code']} | {r['n']} | {budget} "
                f"| {_fmt_acc(r['final_acc_mean'], r['final_acc_sem'])} | {paper} "
                f"| {r['during_acc_mean']:.2f} | {_fmt_int(r['params_stored_total'])} "
                f"| {_fmt_int(r['params_stored_per_task'])} | {r['wall_time_s_mean']:.0f} "
                f"| {r['device']} | {r['note']} |"
            )
        lines.append("")
    return lines


def mean_matrix(runs: list[dict]) -> np.ndarray:
    """Mean accuracy matrix over runs (NaN above the diagonal)."""
    stack = np.array(
        [[[np.nan if a is None else a for a in row] for row in r["acc_matrix"]] for r in runs]
    )
    return stack.mean(axis=0)


def figures(runs: list[dict], table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Heatmaps, final per-task bars and during-vs-final bars per (benchmark, scenario)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    groups: dict[tuple, dict[tuple, list[dict]]] = {}
    for r in runs:
        iters = int(min(r.get("task_iters") or [r["iters_per_task"]]))
        cell = (r["benchmark"], len(r["acc_matrix"]), r["scenario"])
        groups.setdefault(cell, {}).setdefault((method_label(r), iters), []).append(r)
    for (bench, num_tasks, scenario), by_method in sorted(groups.items()):
        keys = sorted(by_method, key=lambda k: (method_order(k[0]), -k[1]))
        labels = [f"{m} ({i} it.)" for m, i in keys]
        stem = f"{bench}{num_tasks}_{scenario}"
        title = f"{BENCHMARK_TITLES.get(bench, bench)}-{num_tasks} {scenario.upper()}"
        matrices = [mean_matrix(by_method[k]) for k in keys]
        written.append(
            _plot_heatmaps(out_dir / f"{stem}_acc_matrices.png", matrices, labels, title)
        )
        finals = [m[-1] for m in matrices]
        written.append(
            _plot_bars(
                out_dir / f"{stem}_final_per_task.png",
                finals,
                labels,
                [f"task {j + 1}" for j in range(num_tasks)],
                f"{title}: final accuracy per task (mean over seeds)",
            )
        )
        during = [np.nanmean(np.diag(m)) for m in matrices]
        final = [np.nanmean(m[-1]) for m in matrices]
        written.append(
            _plot_bars(
                out_dir / f"{stem}_during_vs_final.png",
                [np.array([d, f]) for d, f in zip(during, final, strict=True)],
                labels,
                ["during (A[j][j])", "final (A[T][j])"],
                f"{title}: during vs final accuracy (mean over tasks and seeds)",
            )
        )
    return written


def _plot_heatmaps(path: Path, matrices, labels, title: str) -> Path:
    k = len(matrices)
    cols = min(k, 4)
    rows = math.ceil(k / cols)
    n = matrices[0].shape[0]
    fig, axes = plt.subplots(
        rows, cols, figsize=(0.5 + cols * (0.45 * n + 1.2), rows * (0.45 * n + 1.2))
    )
    axes = np.atleast_1d(axes).ravel()
    for ax, matrix, label in zip(axes, matrices, labels, strict=False):
        ax.imshow(matrix, vmin=0, vmax=100, cmap="viridis")
        if n <= 10:
            for i in range(n):
                for j in range(n):
                    if not np.isnan(matrix[i, j]):
                        color = "black" if matrix[i, j] > 60 else "white"
                        ax.text(
                            j,
                            i,
                            f"{matrix[i, j]:.0f}",
                            ha="center",
                            va="center",
                            fontsize=6,
                            color=color,
                        )
        ax.set_title(label, fontsize=8)
        ax.set_xticks(range(n), [str(t + 1) for t in range(n)], fontsize=6)
        ax.set_yticks(range(n), [str(t + 1) for t in range(n)], fontsize=6)
    for ax in axes[k:]:
        ax.axis("off")
    fig.suptitle(
        f"{title}: accuracy matrices (rows: after task i, cols: task j; mean over seeds)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def _plot_bars(path: Path, values, labels, groups, title: str) -> Path:
    num_groups, k = len(groups), len(values)
    width = 0.8 / k
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * num_groups + 0.25 * k * num_groups), 3.5))
    x = np.arange(num_groups)
    for i, (vals, label) in enumerate(zip(values, labels, strict=True)):
        ax.bar(x + (i - (k - 1) / 2) * width, vals, width, label=label)
    ax.set_xticks(x, groups, fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


# --- Split-CIFAR: per-task accuracies, epoch budgets, Figure 4 ---------------------------

# Epochs per task of the paper's settings (conf/experiment/split_cifar10_100_<target>.yaml).
FULL_EPOCHS = {"resnet32": 200, "zenkenet": 80}
CIFAR_METHOD_ORDER = ["hnet", "finetune", "from_scratch"]
TARGET_TITLES = {"resnet32": "ResNet-32", "zenkenet": "ZenkeNet"}


def is_cifar(run: dict) -> bool:
    return run["benchmark"].startswith("split_cifar")


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


def cifar_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per (benchmark, target, method, budget): mean final and during accuracy per
    task (``final_t<j>``, ``during_t<j>``, mean over seeds) and over tasks (+- SEM)."""
    cells: dict[tuple, list[dict]] = {}
    for r in runs:
        key = (r["benchmark"], len(r["acc_matrix"]), r.get("target", ""), cifar_method(r))
        cells.setdefault((*key, cifar_budget(r)), []).append(r)
    rows = []
    for (bench, num_tasks, target, method, (budget, reduced)), group in cells.items():
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
            "during_acc_mean": float(np.mean([r["during_acc_mean"] for r in group])),
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


def cifar_markdown(table: pd.DataFrame) -> list[str]:
    """Markdown sections of the CIFAR table, one per (benchmark, target)."""
    lines = [
        "Split-CIFAR: test accuracy (%) of every task after the last task (final) and right "
        "after training it (during), mean over n seeds; mean over tasks +- SEM over seeds. "
        "*finetune*: the same hypernetwork trained with beta = 0 and one set of batch-norm "
        "statistics (the `*_finetune` presets, the paper's fine-tuning); *from_scratch*: a "
        "fresh target network per task. *budget*: epochs per task (REDUCED below the "
        "paper's, or on a random training subset of that many images per task; test img.: "
        "accuracies on a random subset of that many test images per task). The paper "
        "gives these results only as a figure (its Figure 4), so no reference values are "
        "listed. *code*: `stale (code changed since)` where the row's runs were made by other "
        "code than the current one (see `hypercl/fingerprint.py`).",
        "",
    ]
    for (bench, num_tasks, target), block in table.groupby(
        ["benchmark", "num_tasks", "target"], sort=False
    ):
        title = f"{BENCHMARK_TITLES.get(bench, bench)} ({num_tasks} tasks), "
        lines += [f"## {title}{TARGET_TITLES.get(target, target)}", ""]
        tasks = [f"T{j + 1}" for j in range(num_tasks)]
        lines.append(
            "| method | code | n | seeds | budget | final acc. | during acc. | "
            + " | ".join(f"final {t}" for t in tasks)
            + " | "
            + " | ".join(f"during {t}" for t in tasks)
            + " | wall time (s) | device |"
        )
        lines.append("|---" * (9 + 2 * num_tasks) + "|")
        for _, r in block.iterrows():
            finals = " | ".join(f"{r[f'final_t{j + 1}']:.2f}" for j in range(num_tasks))
            durings = " | ".join(f"{r[f'during_t{j + 1}']:.2f}" for j in range(num_tasks))
            lines.append(
                f"| {r['method']} | {r['code']} | {r['n']} | {r['seeds']} | {r['budget']} "
                f"| {_fmt_acc(r['final_acc_mean'], r['final_acc_sem'])} "
                f"| {r['during_acc_mean']:.2f} | {finals} | {durings} "
                f"| {r['wall_time_s_mean']:.0f} | {r['device']} |"
            )
        lines.append("")
    return lines


def cifar_figures(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per (benchmark, target), as the paper's Figure 4: for every task, the during (light,
    hatched) and final (solid) test accuracy of every method, mean over seeds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (bench, num_tasks, target), block in table.groupby(
        ["benchmark", "num_tasks", "target"], sort=False
    ):
        k = len(block)
        width = 0.8 / (2 * k)
        budgets = block["budget"].unique()
        fig, ax = plt.subplots(figsize=(max(6, 1.3 * num_tasks) + 2.2, 3.5))
        x = np.arange(num_tasks)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (_, r) in enumerate(block.iterrows()):
            label = r["method"] if len(budgets) == 1 else f"{r['method']} ({r['budget']})"
            color = colors[i % len(colors)]
            during = [r[f"during_t{j + 1}"] for j in range(num_tasks)]
            final = [r[f"final_t{j + 1}"] for j in range(num_tasks)]
            left = x - 0.4 + (2 * i + 0.5) * width
            ax.bar(
                left, during, width, color=color, alpha=0.45, hatch="//", label=label + " during"
            )
            ax.bar(left + width, final, width, color=color, label=f"{label} final")
        ax.set_xticks(x, [f"task {j + 1}" for j in range(num_tasks)], fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_ylabel("test accuracy (%)")
        title = f"{BENCHMARK_TITLES.get(bench, bench)}, {TARGET_TITLES.get(target, target)}"
        if len(budgets) == 1:
            title += f"; {budgets[0]}"
        ax.set_title(f"{title}\nduring (hatched) and final accuracy per task, mean over seeds",
                     fontsize=9)  # fmt: skip
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        path = out_dir / f"{bench}_{target}_per_task.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
    return written


def build(
    runs_dir: Path,
    out: Path,
    name: str,
    reference_csv: Path = REFERENCE_CSV,
    explanations_csv: Path | None = None,
    current_fingerprint: str | None = None,
) -> dict:
    """Write ``<out>/<name>.md``, ``.csv`` and ``<name>_figures/`` (CIFAR runs next to
    MNIST runs: their CSV is ``<name>_cifar.csv``); returns their paths, the cells
    whose difference from the paper is unexplained and the stale rows. Explanations:
    ``explanations_csv``, by default ``<out>/<name>_explanations.csv``. Staleness is judged
    against ``current_fingerprint`` (default: this code's :func:`code_fingerprint`)."""
    current = current_fingerprint or code_fingerprint()
    runs = load_runs(runs_dir, current)
    if not runs:
        raise SystemExit(f"hypercl.report.tables: no results.json under {runs_dir}")
    reference = pd.read_csv(reference_csv)
    explanations = load_explanations(explanations_csv or out / f"{name}_explanations.csv")
    mnist_runs = [r for r in runs if not is_cifar(r)]
    cifar_runs = [r for r in runs if is_cifar(r)]
    out.mkdir(parents=True, exist_ok=True)
    md_path, figures_dir = out / f"{name}.md", out / f"{name}_figures"
    lines = header(runs_dir.as_posix(), name)
    paths: dict = {
        "markdown": md_path,
        "figures": [],
        "unexplained": [],
        "fingerprint": current,
        "stale": [],
        "rows": 0,
    }
    if mnist_runs:
        table = summary_frame(runs_frame(mnist_runs), reference, explanations)
        lines += mnist_markdown(table, name)
        paths["csv"] = out / f"{name}.csv"
        table.to_csv(paths["csv"], index=False, float_format="%.4f")
        paths["figures"] += figures(mnist_runs, table, figures_dir)
        unexplained = table[table["note"].str.endswith(UNEXPLAINED)]
        paths["unexplained"] = [
            f"{r.benchmark} {r.scenario} {r.method} ({r.iters_per_task} it.)"
            for r in unexplained.itertuples()
        ]
        paths["rows"] += len(table)
        paths["stale"] += [
            f"{r.benchmark} {r.scenario} {r.method} ({r.iters_per_task} it.): {r.code}"
            for r in table.itertuples()
            if r.code
        ]
    if cifar_runs:
        cifar = cifar_frame(cifar_runs)
        lines += cifar_markdown(cifar)
        paths["cifar_csv"] = out / (f"{name}_cifar.csv" if mnist_runs else f"{name}.csv")
        cifar.to_csv(paths["cifar_csv"], index=False, float_format="%.4f")
        paths["figures"] += cifar_figures(cifar, figures_dir)
        paths["rows"] += len(cifar)
        paths["stale"] += [
            f"{r.benchmark} {r.target} {r.method} ({r.budget}): {r.code}"
            for r in cifar.itertuples()
            if r.code
        ]
    md_path.write_text("\n".join(lines) + "\n")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m hypercl.report.tables", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "runs_dir", type=Path, help="directory with <experiment>/<method>/seed<k>/results.json"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="output directory (default: results)"
    )
    parser.add_argument("--name", default="mnist", help="file name stem (default: mnist)")
    parser.add_argument(
        "--reference", type=Path, default=REFERENCE_CSV, help="paper reference values (CSV)"
    )
    parser.add_argument(
        "--explanations",
        type=Path,
        default=None,
        help="explanations of differences from the paper (CSV; default: "
        "<out>/<name>_explanations.csv)",
    )
    args = parser.parse_args(argv)
    paths = build(args.runs_dir, args.out, args.name, args.reference, args.explanations)
    tables = [str(p) for key in ("markdown", "csv", "cifar_csv") if (p := paths.get(key))]
    print(f"wrote {', '.join(tables)} and {len(paths['figures'])} figures")
    print(
        f"code fingerprint {paths['fingerprint']}: {len(paths['stale'])} of {paths['rows']} "
        f"rows {STALE}"
    )
    if paths["unexplained"]:
        print(
            "differences from the paper beyond 2 SEM without an explanation: "
            + "; ".join(paths["unexplained"])
        )


if __name__ == "__main__":
    main()
