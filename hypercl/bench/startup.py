"""Start-up: wall time from ``python -m hypercl.train`` to its first training step.

Each probe is a fresh process (warm file caches after the warm-up round): the interpreter
alone, ``import torch``, ``import torch._dynamo`` (which ``torch.optim`` imports on its
first optimizer), ``import hypercl.train`` (everything the command line imports), and a
run of a preset with one step per task, timed to the line that logs step 1 of task 1 and
to its exit. Probes are interleaved, one of each per repeat.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hypercl.bench.presets import ROOT

FIRST_STEP = re.compile(r"task 1 step 1/")
IMPORTS = {
    "python -c pass (interpreter)": "pass",
    "import torch": "import torch",
    "import torch, torch._dynamo (torch.optim imports it)": "import torch, torch._dynamo",
    "import hypercl.train (the command line's imports)": "import hypercl.train",
}


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a running process has used so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_process(
    cmd: list[str],
    marker: re.Pattern | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float | None]:
    """Run ``cmd`` (stderr into stdout); return wall and CPU (user + system) seconds until
    the first output line matching ``marker`` (``first``, ``first_cpu``; None if no line
    did) and until it exited (``total``, ``total_cpu``). Raises on failure. CPU seconds
    barely change when other jobs share the cores; wall seconds do."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    tic = clock()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out: dict[str, float | None] = {"first": None, "first_cpu": None}
    tail: list[str] = []
    for line in proc.stdout:
        if out["first"] is None and marker is not None and marker.search(line):
            out["first"], out["first_cpu"] = clock() - tic, _cpu_seconds(proc.pid)
        tail = [*tail[-20:], line]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out["total"], out["total_cpu"] = clock() - tic, usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{''.join(tail)}")
    return out


def run_command(experiment: str, run_dir: Path, threads: int = 1) -> list[str]:
    """``python -m hypercl.train`` of ``experiment`` with one step per task into run_dir."""
    return [sys.executable, "-m", "hypercl.train", f"experiment={experiment}", "seed=1",
            "train.iters_per_task=1", f"num_threads={threads}",
            f"hydra.run.dir={run_dir}"]  # fmt: skip


def bench_startup(rows: list[dict], repeats: int, experiments=("split_mnist_cl1",)) -> None:
    """Median start-up times (rows of section "startup"): the import probes, then per
    preset the time to the first step's log line and to the process's exit. Needs the
    data of the presets (``HYPERCL_DATA_DIR``)."""
    times: dict[str, list[tuple[float, float]]] = {}  # name: [(wall, cpu)]
    with tempfile.TemporaryDirectory(prefix="hypercl_startup_") as tmp:
        for rep in range(repeats + 1):  # round 0 warms the file caches, untimed
            for name, code in IMPORTS.items():
                t = timed_process([sys.executable, "-c", code])
                if rep:
                    times.setdefault(name, []).append((t["total"], t["total_cpu"]))
            for experiment in experiments:
                run_dir = Path(tmp) / f"{experiment}_{rep}"  # a fresh run each time
                t = timed_process(run_command(experiment, run_dir), FIRST_STEP)
                if t["first"] is None:
                    raise RuntimeError(f"{experiment}: no line matched {FIRST_STEP.pattern}")
                if rep:
                    first = f"{experiment}: to the first step's log line"
                    times.setdefault(first, []).append((t["first"], t["first_cpu"]))
                    whole = f"{experiment}: whole run, 1 step per task"
                    times.setdefault(whole, []).append((t["total"], t["total_cpu"]))
    for name, values in times.items():
        wall = [w for w, _ in values]
        rows.append({"section": "startup", "variant": name, "threads": 1,
                     "seconds": statistics.median(wall), "min_seconds": min(wall),
                     "cpu_seconds": statistics.median(c for _, c in values),
                     "repeats": len(values)})  # fmt: skip
