"""Figures from run summaries: for MNIST, accuracy-matrix heatmaps, final per-task accuracy
bars and during-vs-final bars per (benchmark, scenario); for Split-CIFAR, the paper's
Figure 4 per (benchmark, target). PNGs are written without a software tag, so that they are
byte-identical from run to run."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hypercl.report.runs import (  # noqa: E402
    BENCHMARK_TITLES,
    TARGET_TITLES,
    iters_per_task,
    mean_matrix,
    method_label,
    method_order,
)


def mnist_figures(runs: list[dict], out_dir: Path) -> list[Path]:
    """Heatmaps, final per-task bars and during-vs-final bars per (benchmark, scenario)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    groups: dict[tuple, dict[tuple, list[dict]]] = {}
    for r in runs:
        cell = (r["benchmark"], len(r["acc_matrix"]), r["scenario"])
        key = (method_label(r), iters_per_task(r))
        groups.setdefault(cell, {}).setdefault(key, []).append(r)
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
        # NaN (no bar) where a diagonal entry was not measured (train.eval_every_task=none)
        during = [np.mean(np.diag(m)) for m in matrices]
        final = [np.mean(m[-1]) for m in matrices]
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
