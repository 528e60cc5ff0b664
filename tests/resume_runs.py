"""Shared by the resume tests (test_resume_*.py, one file per configuration, so that
pytest-xdist runs them side by side). A run killed at named points (``HYPERCL_KILL_AT``,
see :func:`hypercl.experiment.kill_point`) and re-run with the same command must end with
the uninterrupted run's accuracy matrix, bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_cli import REPO

# Each configuration: its overrides, and the chain of kill points one run dies at in turn
# (every re-run resumes from what the previous kill left). Budgets: 20 steps a task,
# a checkpoint every 10 (hnet: mid-task checkpoints; baselines resume from a task's start).
SMALL = ("num_threads=1", "train.iters_per_task=20", "train.checkpoint_every=10")
SMALL += ("train.log_every=5",)
HNET_CHAIN = (
    "task1:step5",  # before the first checkpoint exists
    "task1:done",  # right after an after-task checkpoint (the reported defect)
    "task2:checkpoint10",  # right after a mid-task checkpoint
    "task2:evaluate",  # during the end-of-task evaluation
    "results",  # after results.json
)
CONFIGS = {
    "hnet_cl1": (("experiment=split_mnist_cl1", "seed=3", *SMALL), HNET_CHAIN),
    "hnet_cl3": (("experiment=split_mnist_cl3", "seed=2", *SMALL), HNET_CHAIN),
    "ewc_cl1": (
        # the Fisher from mini-batch gradients (128 a batch), not per sample: the same state
        # to checkpoint, 5x cheaper
        (
            "experiment=split_mnist_cl1",
            "method=ewc",
            "method.fisher_batch_size=128",
            "seed=1",
            *SMALL,
        ),
        ("task1:step5", "task1:done", "task2:step15", "task2:evaluate", "results"),
    ),
    "cifar_smoke": (
        (
            "experiment=split_cifar10_100_zenkenet_smoke",
            "num_threads=1",
            "train.epochs_per_task=2",
            "train.checkpoint_every=5",
        ),
        ("task1:step3", "task1:done", "task2:checkpoint5", "task2:evaluate", "results"),
    ),
}


def train(args, run_dir: Path, data_dir: Path, kill_at: str | None = None, signal: str = "KILL"):
    env = dict(os.environ, WANDB_SILENT="true", HYPERCL_DATA_DIR=str(data_dir))
    env["PYTHONPATH"] = str(REPO)
    env.pop("HYPERCL_KILL_AT", None)
    if kill_at is not None:
        env.update(HYPERCL_KILL_AT=kill_at, HYPERCL_KILL_SIGNAL=signal)
    return subprocess.run(
        [sys.executable, "-m", "hypercl.train", *args, f"hydra.run.dir={run_dir}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def assert_kill_chain_gives_the_uninterrupted_matrix(name: str, tmp_path: Path, data_dir: Path):
    """Run CONFIGS[name] uninterrupted, then once more dying at each point of its chain in
    turn; the resumed run's matrix must equal the uninterrupted one and a re-run of the
    finished run must change nothing."""
    args, chain = CONFIGS[name]
    reference = train(args, tmp_path / "reference", data_dir)
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = results(tmp_path / "reference")["acc_matrix"]

    run_dir = tmp_path / "run"
    for point in chain:
        proc = train(args, run_dir, data_dir, kill_at=point)
        assert proc.returncode == -9, f"{point}: {proc.returncode} {proc.stderr[-2000:]}"
        assert (run_dir / "results.json").exists() == (point == "results"), point
    log = (run_dir / "train.log").read_text()
    assert "resuming from" in log and "the end of task 1 (evaluated)" in log  # task1:done
    assert results(run_dir)["acc_matrix"] == expected
    assert results(run_dir)["resumed"] is True

    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    again = train(args, run_dir, data_dir)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"this run already finished; its results are in {run_dir / 'results.json'}" in (
        again.stdout
    )
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if k != "train.log"} == {
        k: v for k, v in before.items() if k != "train.log"
    }
