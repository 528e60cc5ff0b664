"""python -m hypercl.tables: the table and figures are a pure function of results.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hypercl.tables import FULL_BUDGET, build

REPO = Path(__file__).resolve().parent.parent


def _results(method, scenario, seed, final, iters, stored=1000):
    # 5 tasks (Split-MNIST): during = final + 1 on every task, final row = final on average
    acc = [
        [final + 1 if j == i else final - 1 if j < i else None for j in range(5)] for i in range(5)
    ]
    acc[-1] = [final - 0.25, final - 0.25, final - 0.25, final - 0.25, final + 1]
    return {
        "benchmark": "split_mnist",
        "scenario": scenario,
        "method": method,
        "seed": seed,
        "iters_per_task": iters,
        "task_iters": [iters] * 5,
        "acc_matrix": acc,
        "final_acc_mean": final,
        "during_acc_mean": final + 1,
        "params_stored_total": stored,
        "params_stored_per_task": 10,
        "wall_time_s": 12.0 + seed,
        "device": "cpu",
    }


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    """Run summaries in the layout <runs>/<experiment>/<method>/seed<k>/results.json."""
    runs = tmp_path / "runs"
    cells = [
        ("hnet", "cl1", [99.0, 99.2, 99.4], 2000),
        ("ewc", "cl1", [90.0, 92.0], 200),
        ("finetune", "cl2", [59.0], 2000),
    ]
    for method, scenario, finals, iters in cells:
        for seed, final in enumerate(finals, start=1):
            d = runs / f"split_mnist_{scenario}" / method / f"seed{seed}"
            d.mkdir(parents=True)
            (d / "results.json").write_text(
                json.dumps(_results(method, scenario, seed, final, iters))
            )
    return runs


def test_rebuilding_after_deleting_gives_the_same_output(runs_dir, tmp_path):
    out = tmp_path / "results"
    paths = build(runs_dir, out, "mnist")
    first = {p: p.read_bytes() for p in [paths["markdown"], paths["csv"], *paths["figures"]]}
    for p in first:
        p.unlink()
    build(runs_dir, out, "mnist")
    assert {p: p.read_bytes() for p in first} == first
    assert len(paths["figures"]) == 6  # 3 figures for each of 2 (benchmark, scenario) cells


def test_table_content(runs_dir, tmp_path):
    paths = build(runs_dir, tmp_path / "results", "mnist")
    table = pd.read_csv(paths["csv"])
    assert list(table["method"]) == ["hnet", "ewc", "finetune"]
    hnet = table.iloc[0]
    assert hnet["n"] == 3 and hnet["final_acc_mean"] == pytest.approx(99.2)
    assert hnet["final_acc_sem"] == pytest.approx(0.2 / 3**0.5, abs=1e-4)
    # 99.2 vs 99.79 +- 0.01: far beyond 2 SEM -> a generated note
    assert hnet["note"].startswith("below paper by 0.59 (")
    ewc = table.iloc[1]
    assert bool(ewc["reduced"]) and f"200 of {FULL_BUDGET['split_mnist']}" in ewc["note"]
    md = paths["markdown"].read_text()
    assert "| CL1 | hnet | 3 | 2000 | 99.20 ± 0.12 | 99.79 ± 0.01 |" in md
    assert "| CL1 | ewc | 2 | 200 REDUCED | 91.00 ± 1.00 | 98.64 |" in md
    assert "n=1, no SEM: below paper by 0.21" in md  # finetune CL2 vs 59.21


@pytest.mark.parametrize("name", ["mnist", "mnist_reduced"])
def test_committed_tables_are_regenerated_exactly(tmp_path, name):
    """results/<name>.md and .csv are what the documented command makes of the committed
    run summaries in results/runs/<name>."""
    runs = REPO / "results" / "runs" / name
    if not (REPO / "results" / f"{name}.md").exists() or not runs.exists():
        pytest.skip(f"no committed {name} table")
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "hypercl.tables", f"results/runs/{name}", "--out", str(out)]
    subprocess.run([*cmd, "--name", name], cwd=REPO, check=True, capture_output=True)
    for suffix in (".md", ".csv"):
        expected = (REPO / "results" / f"{name}{suffix}").read_text()
        assert (out / f"{name}{suffix}").read_text() == expected, name + suffix
