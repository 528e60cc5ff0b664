"""Checkpoint and resume: a run killed with SIGKILL in the middle of task 2 and resumed
ends with the same accuracy matrix as an uninterrupted run; a run is deterministic on CPU;
a finished run is not run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_cli import REPO, hypercl_train
from wandb_records import run_info

ARGS = (
    "experiment=split_mnist_cl1",
    "seed=3",
    "num_threads=1",
    "train.iters_per_task=100",
    "train.checkpoint_every=10",
    "train.log_every=10",
)


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mnist_dir) -> dict:
    """An uninterrupted run of ARGS."""
    run_dir = tmp_path_factory.mktemp("reference")
    proc = hypercl_train(*ARGS, f"hydra.run.dir={run_dir}", data_dir=mnist_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return results(run_dir)


def test_same_seed_gives_identical_accuracy_matrix(reference, tmp_path, mnist_dir):
    proc = hypercl_train(*ARGS, f"hydra.run.dir={tmp_path}", data_dir=mnist_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert results(tmp_path)["acc_matrix"] == reference["acc_matrix"]
    assert results(tmp_path)["resumed"] is False


def test_sigkill_in_task_2_then_resume_gives_the_uninterrupted_result(
    reference, tmp_path, mnist_dir
):
    run_dir = tmp_path / "run"
    args = [*ARGS, "logger=wandb", f"hydra.run.dir={run_dir}"]
    env = dict(os.environ, WANDB_SILENT="true", HYPERCL_DATA_DIR=str(mnist_dir))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypercl.train", *args],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    log, deadline = run_dir / "train.log", time.monotonic() + 300
    while "checkpoint saved: task 2, step 20" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before task 2"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "results.json").exists()
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert state["progress"]["task"] == 1 and 20 <= state["learner"]["step"] < 100  # mid task 2

    resumed = hypercl_train(*args, data_dir=mnist_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in log.read_text()
    assert results(run_dir)["acc_matrix"] == reference["acc_matrix"]
    assert results(run_dir)["resumed"] is True
    # W&B: the resumed job logs to the same run id as the killed one (whose file, killed
    # before it was flushed, may hold no run record).
    runs = sorted(run_dir.glob("wandb/offline-run-*"))
    assert len(runs) == 2 and {p.name.rsplit("-", 1)[1] for p in runs} == {state["wandb_run_id"]}
    assert run_info(next(runs[-1].glob("run-*.wandb"))).run_id == state["wandb_run_id"]


def test_finished_run_is_not_run_again(reference, tmp_path, mnist_dir):
    args = (*ARGS[:3], "train.iters_per_task=3", f"hydra.run.dir={tmp_path}")
    assert hypercl_train(*args, data_dir=mnist_dir).returncode == 0
    before = (tmp_path / "results.json").read_bytes()
    again = hypercl_train(*args, data_dir=mnist_dir)
    assert again.returncode == 0
    assert f"this run already finished; its results are in {tmp_path / 'results.json'}" in (
        again.stdout
    )
    assert (tmp_path / "results.json").read_bytes() == before
