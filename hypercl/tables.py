"""Results table and figures from run directories: ``python -m hypercl.tables <runs dir>``.

Collects every ``results.json`` under the runs directory (layout
``<runs>/<experiment>/<method>/seed<k>/``, as ``scripts/reproduce_mnist.sh`` writes it) and
writes, for every (benchmark, scenario, method, iterations per task):

* ``<out>/<name>.md`` and ``<out>/<name>.csv``: final accuracy mean +- SEM and n, the
  iteration budget (``REDUCED`` below the preset's full budget), the paper's number beside
  ours (``hypercl/paper_reference.csv``, with its source), stored parameters, wall time,
  and a note where we differ from the paper by more than 2 SEM;
* ``<out>/<name>_figures/``: accuracy-matrix heatmaps (mean over seeds), final per-task
  accuracy bars and during-vs-final bars, one figure of each per (benchmark, scenario).

The output is a pure function of the ``results.json`` files: deleting it and running the
command again recreates it byte for byte.

    python -m hypercl.tables results/runs/mnist                   # -> results/mnist.md, ...
    python -m hypercl.tables results/runs/mnist_reduced --name mnist_reduced
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

REFERENCE_CSV = Path(__file__).resolve().parent / "paper_reference.csv"
# Iterations per task of the paper's settings (the presets conf/experiment/*mnist*.yaml).
FULL_BUDGET = {"split_mnist": 2000, "perm_mnist": 5000}
METHOD_ORDER = [m.value for m in MethodName]  # table rows in the order of the config enum
BENCHMARK_TITLES = {"split_mnist": "Split-MNIST", "perm_mnist": "Permuted-MNIST"}


def load_runs(runs_dir: Path) -> list[dict]:
    """Every results.json under ``runs_dir``, in path order, with its relative path."""
    runs = []
    for path in sorted(runs_dir.rglob("results.json")):
        data = json.loads(path.read_text())
        data["_path"] = path.relative_to(runs_dir).as_posix()
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
                "method": r["method"],
                "iters_per_task": int(min(iters)),
                "seed": r["seed"],
                "final_acc": r["final_acc_mean"],
                "during_acc": r["during_acc_mean"],
                "params_stored_total": r.get("params_stored_total"),
                "params_stored_per_task": r.get("params_stored_per_task"),
                "wall_time_s": r.get("wall_time_s"),
                "device": r.get("device"),
            }
        )
    return pd.DataFrame(rows)


def sem(values: pd.Series) -> float:
    """Standard error of the mean (NaN for one value)."""
    n = len(values)
    return float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan


def summary_frame(runs: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """One row per (benchmark, num_tasks, scenario, method, iters_per_task)."""
    keys = ["benchmark", "num_tasks", "scenario", "method", "iters_per_task"]
    rows = []
    for key, group in runs.groupby(keys, sort=False):
        row = dict(zip(keys, key, strict=True))
        full = FULL_BUDGET.get(row["benchmark"])
        row.update(
            {
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
            & (reference["method"] == row["method"])
        ]
        row["paper_final_acc"] = ref["final_acc"].iloc[0] if len(ref) else math.nan
        row["paper_sem"] = ref["sem"].iloc[0] if len(ref) else math.nan
        row["paper_source"] = ref["source"].iloc[0] if len(ref) else ""
        row["note"] = note(row, full)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["_m"] = table["method"].map(lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 99)
    table = table.sort_values(
        ["benchmark", "num_tasks", "scenario", "_m", "method", "iters_per_task"],
        ascending=[False, True, True, True, True, False],
    )
    return table.drop(columns="_m").reset_index(drop=True)


def _one(values: pd.Series):
    """The value if all runs agree (stored parameters), else None."""
    unique = values.dropna().unique()
    return int(unique[0]) if len(unique) == 1 else None


def note(row: dict, full: int | None) -> str:
    """Generated remarks: reduced budget, n, and differences beyond 2 SEM from the paper."""
    parts = []
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
    return "; ".join(parts)


def _fmt_acc(mean: float, err: float) -> str:
    return f"{mean:.2f}" if math.isnan(err) else f"{mean:.2f} ± {err:.2f}"


def _fmt_int(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,}"


def markdown(table: pd.DataFrame, runs_dir: str, name: str) -> str:
    """The table as markdown, one section per benchmark."""
    lines = [
        f"# {name}: final accuracy by benchmark, scenario and method",
        "",
        f"Generated by `python -m hypercl.tables {runs_dir} --name {name}` from the "
        "`results.json` files under that directory; do not edit by hand.",
        "",
        "Final accuracy: mean over tasks of the test accuracy after the last task (%), mean ± "
        "SEM over n seeds. *iters/task*: training iterations per task (REDUCED: below the "
        "paper's budget). *paper*: `hypercl/paper_reference.csv` (von Oswald et al. 2020, "
        "Table 1; baselines from van de Ven & Tolias 2019). Stored parameters: what must be "
        "kept to serve all tasks (total, and added per task). Notes are generated: budget, n, "
        "and differences from the paper beyond 2 SEM (ours and, where published, the paper's, "
        "combined).",
        "",
    ]
    for (bench, num_tasks), block in table.groupby(["benchmark", "num_tasks"], sort=False):
        title = BENCHMARK_TITLES.get(bench, bench)
        lines += [f"## {title} ({num_tasks} tasks)", ""]
        lines.append(
            "| scenario | method | n | iters/task | final acc. | paper | during acc. "
            "| stored params | per task | wall time (s) | device | note |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for _, r in block.iterrows():
            budget = f"{r['iters_per_task']}" + (" REDUCED" if r["reduced"] else "")
            paper = (
                ""
                if math.isnan(r["paper_final_acc"])
                else _fmt_acc(r["paper_final_acc"], r["paper_sem"])
            )
            lines.append(
                f"| {r['scenario'].upper()} | {r['method']} | {r['n']} | {budget} "
                f"| {_fmt_acc(r['final_acc_mean'], r['final_acc_sem'])} | {paper} "
                f"| {r['during_acc_mean']:.2f} | {_fmt_int(r['params_stored_total'])} "
                f"| {_fmt_int(r['params_stored_per_task'])} | {r['wall_time_s_mean']:.0f} "
                f"| {r['device']} | {r['note']} |"
            )
        lines.append("")
    return "\n".join(lines)


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
        groups.setdefault(cell, {}).setdefault((r["method"], iters), []).append(r)
    for (bench, num_tasks, scenario), by_method in sorted(groups.items()):
        keys = sorted(
            by_method,
            key=lambda k: (METHOD_ORDER.index(k[0]) if k[0] in METHOD_ORDER else 99, k[0], -k[1]),
        )
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


def build(runs_dir: Path, out: Path, name: str, reference_csv: Path = REFERENCE_CSV) -> dict:
    """Write ``<out>/<name>.md``, ``.csv`` and ``<name>_figures/``; returns their paths."""
    runs = load_runs(runs_dir)
    if not runs:
        raise SystemExit(f"hypercl.tables: no results.json under {runs_dir}")
    reference = pd.read_csv(reference_csv)
    table = summary_frame(runs_frame(runs), reference)
    out.mkdir(parents=True, exist_ok=True)
    md_path, csv_path = out / f"{name}.md", out / f"{name}.csv"
    runs_label = runs_dir.as_posix()
    md_path.write_text(markdown(table, runs_label, name) + "\n")
    table.to_csv(csv_path, index=False, float_format="%.4f")
    pngs = figures(runs, table, out / f"{name}_figures")
    return {"markdown": md_path, "csv": csv_path, "figures": pngs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m hypercl.tables", description=__doc__.split("\n\n")[0]
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
    args = parser.parse_args(argv)
    paths = build(args.runs_dir, args.out, args.name, args.reference)
    print(f"wrote {paths['markdown']}, {paths['csv']} and {len(paths['figures'])} figures")


if __name__ == "__main__":
    main()
