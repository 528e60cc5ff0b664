"""Wall time and accuracy of a preset run at full budget on real MNIST."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from hypercl.bench.device import current_device, on_gpu
from hypercl.bench.presets import ROOT


def bench_full_run(
    rows: list[dict], threads: int, experiment: str, impl: str = "fast", seed: int = 1
) -> None:
    """Run a preset at full budget (real MNIST) with the ``impl`` regularizer, through
    ``python -m hypercl.train`` into results/bench_runs/, and record its wall time and
    accuracy (a row of section "full_run"). One run, not a median."""
    name = (
        experiment + ("" if impl == "fast" else f"_{impl}") + ("" if seed == 1 else f"_seed{seed}")
    )
    run_dir = ROOT / "results" / "bench_runs" / (name + ("_gpu" if on_gpu() else ""))
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, not a resumption of the last
    proc = subprocess.run(
        [sys.executable, "-m", "hypercl.train", f"experiment={experiment}", f"seed={seed}",
         f"num_threads={threads}", f"device={current_device().type}", f"method.reg_impl={impl}",
         f"hydra.run.dir={run_dir}"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    res = json.loads((run_dir / "results.json").read_text())
    rows.append({"section": "full_run", "setting": experiment, "variant": impl,
                 "seed": seed, "threads": threads, "seconds": res["wall_time_s"],
                 "train_seconds": res["train_time_s"],
                 "final_acc_mean": res["final_acc_mean"]})  # fmt: skip
