"""scripts/run_queue.sh: workers share a queue file, each line runs once, a restarted worker
first re-runs the line it had claimed, and a failing line stops the worker undone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "run_queue.sh"


def run_worker(queue: Path, runs: Path, worker: str) -> subprocess.Popen:
    env = {**os.environ, "RUNS": str(runs)}
    return subprocess.Popen(
        ["bash", str(SCRIPT), str(queue), worker],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_two_workers_run_every_line_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    lines = [f"sleep 0.5; echo {k} >> $RUNS/../out/{k}" for k in range(6)]
    queue = tmp_path / "queue.txt"
    queue.write_text("# a comment\n\n" + "\n".join(lines) + "\n")
    runs = tmp_path / "runs"
    workers = [run_worker(queue, runs, w) for w in "AB"]
    assert [w.wait(timeout=30) for w in workers] == [0, 0]
    assert sorted(p.name for p in out.iterdir()) == [str(k) for k in range(6)]
    assert all((out / str(k)).read_text() == f"{k}\n" for k in range(6))  # each ran once
    assert sorted((runs / "queue.done").read_text().splitlines()) == sorted(lines)
    log = (runs / "queue.log").read_text()
    assert "A start" in log and "B start" in log  # both took lines


def test_a_restarted_worker_resumes_its_claimed_line_first(tmp_path: Path) -> None:
    queue = tmp_path / "queue.txt"
    queue.write_text("echo first >> $RUNS/order\necho second >> $RUNS/order\n")
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "queue.claimed.A").write_text("echo second >> $RUNS/order\n")  # killed mid-line
    assert run_worker(queue, runs, "A").wait(timeout=30) == 0
    assert (runs / "order").read_text() == "second\nfirst\n"


def test_a_failing_line_stops_the_worker_and_stays_undone(tmp_path: Path) -> None:
    queue = tmp_path / "queue.txt"
    queue.write_text("exit 3\necho never >> $RUNS/never\n")
    runs = tmp_path / "runs"
    worker = run_worker(queue, runs, "A")
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 3
    assert "A: stopping, the line failed (rc 3); fix it or remove it, then restart" in err
    assert (runs / "queue.done").read_text() == ""
    assert (runs / "queue.claimed.A").read_text() == "exit 3\n"  # re-run first on restart
    assert not (runs / "never").exists()
