"""train.eval_every_task: which entries of the accuracy matrix a run measures, what the
summaries make of the missing ones, and the per-task cost in results.json."""

from __future__ import annotations

import csv
import json
import math

import pytest
from resume_runs import results, train
from test_train_run import compose_config

from hypercl.config import EvalEvery
from hypercl.experiment import tasks_to_evaluate
from hypercl.metrics import summarize
from hypercl.train import run

SMALL = ("experiment=split_mnist_cl3", "train.iters_per_task=30", "seed=4", "num_threads=1")


def test_tasks_to_evaluate_per_mode():
    assert [tasks_to_evaluate(t, 3, EvalEvery.all) for t in range(3)] == [[0], [0, 1], [0, 1, 2]]
    assert [tasks_to_evaluate(t, 3, EvalEvery.diagonal) for t in range(3)] == [
        [0],
        [1],
        [0, 1, 2],
    ]
    assert [tasks_to_evaluate(t, 3, EvalEvery.none) for t in range(3)] == [[], [], [0, 1, 2]]


def test_summaries_leave_missing_entries_missing():
    diagonal = [[90.0, None, None], [None, 80.0, None], [70.0, 75.0, 60.0]]
    s = summarize(diagonal)
    assert s["during_acc"] == [90.0, 80.0, 60.0] and s["during_acc_mean"] == pytest.approx(230 / 3)
    assert s["forgetting"] == [20.0, 5.0] and s["bwt"] == pytest.approx(-12.5)
    none = [[None, None, None], [None, None, None], [70.0, 75.0, 60.0]]
    s = summarize(none)
    assert s["during_acc"] == [None, None, 60.0] and s["during_acc_mean"] is None
    assert s["forgetting"] == [None, None] and s["forgetting_mean"] is None
    assert s["bwt"] is None and s["final_acc_mean"] == pytest.approx(205 / 3)


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory, mnist_dir):
    """The same seed with eval_every_task all, diagonal and none."""
    out = {}
    for mode in ("all", "diagonal", "none"):
        run_dir = tmp_path_factory.mktemp(mode)
        cfg = compose_config(*SMALL, f"data_dir={mnist_dir}", f"train.eval_every_task={mode}")
        out[mode] = (run(cfg, run_dir), run_dir)
    return out


def test_diagonal_and_none_give_the_final_row_of_all(three_runs):
    full = three_runs["all"][0]["acc_matrix"]
    diagonal = three_runs["diagonal"][0]["acc_matrix"]
    none = three_runs["none"][0]["acc_matrix"]
    assert diagonal[-1] == full[-1] and none[-1] == full[-1]
    assert all(a is not None for a in full[-1])
    for i in range(4):  # rows before the last
        assert diagonal[i] == [full[i][i] if j == i else None for j in range(5)]
        assert none[i] == [None] * 5
    assert three_runs["diagonal"][0]["during_acc"] == three_runs["all"][0]["during_acc"]
    assert three_runs["diagonal"][0]["eval_every_task"] == "diagonal"


def test_none_has_no_during_accuracy_and_blank_cells(three_runs):
    results_none, run_dir = three_runs["none"]
    assert results_none["during_acc_mean"] is None and results_none["bwt"] is None
    assert results_none["forgetting_mean"] is None
    assert results_none["final_acc_mean"] == three_runs["all"][0]["final_acc_mean"]
    on_disk = json.loads((run_dir / "results.json").read_text())  # null, not NaN or 0
    assert on_disk["during_acc"][:4] == [None] * 4
    rows = list(csv.reader((run_dir / "accuracy_matrix.csv").open()))
    assert rows[1][1:] == [""] * 5 and all(cell != "" for cell in rows[5][1:])


def test_per_task_cost_fields(three_runs):
    r = three_runs["all"][0]
    assert r["task_steps"] == [30] * 5
    assert all(t > 0 for t in r["task_train_time_s"])
    assert sum(r["task_train_time_s"]) <= r["train_time_s"] + 1e-9
    assert r["task_step_time_s"] == [t / 30 for t in r["task_train_time_s"]]
    memory = r["task_reg_memory_bytes"]
    # stored targets, fast: the head (+ its Gram matrices and scratch) is fixed; one row
    # block per previous task is added (split_mnist: 12 chunks of a 10-unit layer, float32)
    assert memory[0] == 0 and memory[1] > 0
    assert [b - a for a, b in zip(memory[1:], memory[2:], strict=False)] == [12 * 10 * 4] * 3


def test_resumed_diagonal_run_gives_the_same_matrix(tmp_path, mnist_dir, three_runs):
    args = (*SMALL, "train.eval_every_task=diagonal", "train.checkpoint_every=10")
    for point in ("task2:checkpoint10", "task3:evaluate"):
        proc = train(args, tmp_path, mnist_dir, kill_at=point)
        assert proc.returncode == -9, f"{point}: {proc.returncode} {proc.stderr[-2000:]}"
    proc = train(args, tmp_path, mnist_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    resumed = results(tmp_path)
    assert resumed["acc_matrix"] == three_runs["diagonal"][0]["acc_matrix"]
    assert resumed["resumed"] is True
    times = resumed["task_train_time_s"]
    assert all(t is not None and t > 0 and not math.isnan(t) for t in times)
