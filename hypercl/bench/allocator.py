"""Step time with glibc's default malloc settings vs hypercl's ``keep_freed_memory``."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

from hypercl.bench.presets import ROOT, SETTINGS
from hypercl.bench.steps import step_timer
from hypercl.bench.timing import median_time
from hypercl.config import RegImpl


def step_probe(experiment: str, num_prev: int, repeats: int) -> dict:
    """Median seconds and minor page faults per training step (fast regularizer), in this
    process (run by ``--step-probe``)."""
    _, step = step_timer(experiment, num_prev, RegImpl.fast)
    for _ in range(3):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds = median_time(step, repeats, inner=5)
    steps = 1 + repeats * 5  # median_time's warm-up call, then repeats x inner (5)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
    return {"seconds": seconds, "minor_faults_per_step": faults}


def bench_allocator(repeats: int, rows: list[dict], threads: int) -> None:
    """Step time with glibc's default malloc settings vs
    :func:`hypercl.environment.keep_freed_memory`, each in a fresh process (malloc settings
    hold for a whole process). Appends rows of sections "allocator" and "allocator_ratio"."""
    for experiment in SETTINGS:
        results = {}
        for tuned in ("0", "1"):
            proc = subprocess.run(
                [sys.executable, "-m", "hypercl.bench", "--step-probe", experiment,
                 "1", str(threads), "--repeats", str(repeats)],
                cwd=ROOT, capture_output=True, text=True, check=True,
                env={**os.environ, "HYPERCL_MALLOC_TUNING": tuned},
            )  # fmt: skip
            results[tuned] = json.loads(proc.stdout.strip().splitlines()[-1])
            variant = "keep_freed_memory" if tuned == "1" else "glibc default"
            rows.append({"section": "allocator", "setting": experiment, "threads": threads,
                         "previous_tasks": 1, "variant": variant,
                         **results[tuned]})  # fmt: skip
        rows.append({"section": "allocator_ratio", "setting": experiment, "threads": threads,
                     "ratio": results["0"]["seconds"] / results["1"]["seconds"]})  # fmt: skip
