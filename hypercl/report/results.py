"""Files a run leaves in its directory: results.json, accuracy_matrix.{csv,png}."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

RESULTS_FILE = "results.json"
MATRIX_CSV = "accuracy_matrix.csv"
MATRIX_PNG = "accuracy_matrix.png"


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (temp file + rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_matrix_csv(path: Path, acc: list[list[float | None]]) -> None:
    """Rows: after training task i; columns: test task j; blank where not measured (j > i,
    or skipped by ``train.eval_every_task``)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["after_task", *[f"task_{j + 1}" for j in range(len(acc[0]))]])
        for i, row in enumerate(acc):
            writer.writerow([i + 1, *["" if a is None else f"{a:.2f}" for a in row]])


def plot_matrix(path: Path, acc: list[list[float | None]], title: str) -> None:
    """Heatmap of the accuracy matrix (blank where not measured); values written in the
    cells up to 20 tasks, larger matrices at a fixed size without them."""
    import matplotlib  # here, not at import: a run pays for it only when it plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(acc)
    grid = [[math.nan if a is None else a for a in row] for row in acc]
    small = n <= 20
    size = (1.0 + 0.7 * n, 0.8 + 0.6 * n) if small else (10.0, 8.6)
    fig, ax = plt.subplots(figsize=size)
    image = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis")
    for i in range(n if small else 0):
        for j in range(n):
            if acc[i][j] is not None:
                color = "black" if acc[i][j] > 60 else "white"
                ax.text(j, i, f"{acc[i][j]:.1f}", ha="center", va="center", color=color, fontsize=8)
    ticks = list(range(0, n, 1 if small else 10))
    ax.set_xticks(ticks, [str(t + 1) for t in ticks])
    ax.set_yticks(ticks, [str(t + 1) for t in ticks])
    ax.set_xlabel("evaluated task")
    ax.set_ylabel("after training task")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="test accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_run_outputs(run_dir: Path, results: dict, title: str) -> dict[str, Path]:
    """Write results.json and the accuracy matrix as CSV and PNG; returns their paths."""
    paths = {
        "results": run_dir / RESULTS_FILE,
        "matrix_csv": run_dir / MATRIX_CSV,
        "matrix_png": run_dir / MATRIX_PNG,
    }
    write_matrix_csv(paths["matrix_csv"], results["acc_matrix"])
    plot_matrix(paths["matrix_png"], results["acc_matrix"], title)
    write_json(paths["results"], results)
    return paths
