"""Only one process runs a job in a directory: a second one (the same command started twice)
is refused with one line instead of writing the same checkpoint and results files."""

from __future__ import annotations

import json

from test_cli import hypercl_train

from hypercl.launch.callbacks import LOCK, lock_run_dir, unlock_run_dir

TINY = ("num_threads=1", "train.iters_per_task=5", "train.log_every=5")


def test_a_locked_directory_refuses_a_second_lock_until_released(tmp_path):
    assert lock_run_dir(tmp_path) is None
    err = lock_run_dir(tmp_path)  # a second open file: flock refuses it, as another process
    assert str(err) == (
        f"{tmp_path} is in use: another process is running a job in it. Wait for that one to "
        "end (the same command then resumes it or reports it finished), or choose a new "
        "hydra.run.dir."
    )
    unlock_run_dir(tmp_path)
    assert lock_run_dir(tmp_path) is None
    unlock_run_dir(tmp_path)
    assert (tmp_path / LOCK).read_bytes() == b""  # nothing is written into the lock file


def test_a_run_in_a_directory_in_use_is_refused(tmp_path, mnist_dir):
    run_dir = tmp_path / "run"
    assert lock_run_dir(run_dir) is None  # held by this test process, as by a running job
    try:
        proc = hypercl_train(*TINY, f"hydra.run.dir={run_dir}", data_dir=mnist_dir)
    finally:
        unlock_run_dir(run_dir)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"hypercl: run directory error: {run_dir} is in use: another process is running a job "
        "in it. Wait for that one to end (the same command then resumes it or reports it "
        "finished), or choose a new hydra.run.dir."
    )
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK]  # nothing else written
    proc = hypercl_train(*TINY, f"hydra.run.dir={run_dir}", data_dir=mnist_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]  # once released, the run goes ahead
    assert (run_dir / "results.json").exists()


def test_a_sweep_job_in_a_directory_in_use_fails_and_the_others_run(tmp_path, mnist_dir):
    sweep = tmp_path / "sweep"
    assert lock_run_dir(sweep / "0") is None
    try:
        proc = hypercl_train(
            "-m", *TINY, "seed=1,2", f"hydra.sweep.dir={sweep}", data_dir=mnist_dir
        )
    finally:
        unlock_run_dir(sweep / "0")
    assert proc.returncode != 0
    assert "hypercl: sweep: 1 of 2 jobs failed" in proc.stderr
    status = json.loads((sweep / "sweep_summary.json").read_text())["job_status"]
    failed = next(s for s in status if s["job"] == 0)
    assert (failed["status"], failed["exit_code"]) == ("failed", 2)
    assert "is in use: another process is running a job in it" in failed["message"]
    assert "hydra.sweep.dir" in failed["message"]
    assert not (sweep / "0" / "results.json").exists()
    assert (sweep / "1" / "results.json").exists()
