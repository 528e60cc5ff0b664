"""The report: results/bench.csv (every row) and results/bench.md (header and tables)."""

from __future__ import annotations

import csv
import platform
import sys
import time
from pathlib import Path

import torch

from hypercl.bench.device import current_device, on_gpu
from hypercl.environment import git_commit, hardware_name

_S, _MS = "{:.2f}", "{:.4f}"
# The tables of bench.md, in order: (title, section of the rows, columns, {column: format}).
# A table with no rows (its benchmark not run) is left out.
TABLES = [
    ("Training step (seconds per step)", "step",
     ["setting", "threads", "previous_tasks", "variant", "seconds", "gflop", "gflop_per_s"],
     {"seconds": _MS, "gflop": "{:.3f}", "gflop_per_s": "{:.1f}"}),
    ("Where a fast step's time goes (cumulative stages; a piece adds its stage's median "
     "minus the previous stage's)", "step_parts",
     ["setting", "threads", "variant", "seconds", "added_seconds", "share"],
     {"seconds": _MS, "added_seconds": _MS, "share": "{:.0%}"}),
    ("Speed-up of the fast regularizer (direct / fast step time)", "step_ratio",
     ["setting", "threads", "previous_tasks", "ratio"], {"ratio": _S}),
    ("Speed-up of the CUDA graph (eager / graph step time)", "graph_ratio",
     ["setting", "previous_tasks", "variant", "ratio"], {"ratio": _S}),
    ("Matmul peak on the target's own GEMMs (batch of the preset)", "peak",
     ["setting", "threads", "gflop_per_s"], {"gflop_per_s": "{:.1f}"}),
    ("CL3 task inference (seconds)", "inference", ["setting", "threads", "variant", "seconds"],
     {"seconds": "{:.3f}"}),
    ("Inference speed-up (loop / batched)", "inference_ratio",
     ["setting", "threads", "variant", "ratio"], {"ratio": "{:.0f}"}),
    ("Memory: regularizer state, and peak RSS growth over 3 steps of the last task "
     "(Permuted-MNIST settings, 1 thread)", "memory",
     ["setting", "variant", "state_mb", "peak_rss_increase_mb", "peak_cuda_increase_mb"],
     {"state_mb": "{:.1f}", "peak_rss_increase_mb": "{:.0f}",
      "peak_cuda_increase_mb": "{:.0f}"}),
    ("Head layout: forward + both gradient GEMMs of the hypernetwork's head (seconds)",
     "head_layout", ["setting", "threads", "shape", "variant", "seconds"],
     {"seconds": _MS}),
    ("Head layout speed-up ([C, h] / [h, C] time)", "head_layout_ratio",
     ["setting", "threads", "ratio"], {"ratio": _S}),
    ("Allocator: training step (1 previous task) with glibc's default malloc settings "
     "and with hypercl.train.keep_freed_memory, each in its own process", "allocator",
     ["setting", "threads", "variant", "seconds", "minor_faults_per_step"],
     {"seconds": _MS, "minor_faults_per_step": "{:.0f}"}),
    ("Allocator speed-up (default / tuned step time)", "allocator_ratio",
     ["setting", "threads", "ratio"], {"ratio": _S}),
    ("Start-up (1 thread; each probe a fresh process): wall seconds (median, min) and CPU "
     "seconds (user + system, median; robust to other jobs on the cores)", "startup",
     ["variant", "seconds", "min_seconds", "cpu_seconds", "repeats"],
     {"seconds": "{:.2f}", "min_seconds": "{:.2f}", "cpu_seconds": "{:.2f}"}),
    ("torch.compile (inductor) vs eager: training step (seconds per step)", "compile",
     ["setting", "threads", "previous_tasks", "variant", "seconds", "compile_seconds",
      "max_abs_param_diff", "max_abs_weight_diff"],
     {"seconds": _MS, "compile_seconds": "{:.1f}", "max_abs_param_diff": "{:.2e}",
      "max_abs_weight_diff": "{:.2e}"}),
    ("torch.compile speed-up (eager / compiled step time)", "compile_ratio",
     ["setting", "threads", "previous_tasks", "variant", "ratio"], {"ratio": _S}),
    ("Seeds as a batch dimension: N independent training steps, one after another "
     "(sequential) or as one batched step", "batched_seeds",
     ["setting", "threads", "previous_tasks", "seeds", "variant", "seconds",
      "seed_steps_per_s"],
     {"seconds": _MS, "seed_steps_per_s": "{:.1f}"}),
    ("Seeds as a batch dimension: speed-up (sequential / batched time for N seeds)",
     "batched_ratio", ["setting", "threads", "previous_tasks", "seeds", "ratio"],
     {"ratio": _S}),
    ("EWC's per-sample Fisher on N samples of task 1 (seconds; task_seconds: extrapolated "
     "to the task's training set)", "fisher",
     ["setting", "threads", "samples", "variant", "seconds", "ms_per_sample", "task_samples",
      "task_seconds", "max_rel_diff"],
     {"seconds": "{:.3f}", "ms_per_sample": "{:.3f}", "task_seconds": "{:.1f}",
      "max_rel_diff": "{:.1e}"}),
    ("EWC's per-sample Fisher: speed-up (vmap / linear time)", "fisher_ratio",
     ["setting", "threads", "samples", "ratio"], {"ratio": "{:.1f}"}),
    ("Permuted-MNIST-100: training step by previous tasks (seconds per step; ratio over "
     "task 2's step, the same regularizer)", "long_sequence",
     ["setting", "threads", "variant", "previous_tasks", "task", "seconds", "ratio_to_task2"],
     {"seconds": _MS, "ratio_to_task2": _S}),
    ("Replay phases, Permuted-MNIST-10 (seconds per step; a phase timed whole, set-up "
     "included)", "replay_phase",
     ["setting", "threads", "variant", "previous_tasks", "seconds"], {"seconds": _MS}),
    ("Replay phases: speed-up (replay weights made every step / once; on CUDA eager / "
     "graph)", "replay_ratio",
     ["setting", "threads", "variant", "previous_tasks", "ratio"], {"ratio": _S}),
    ("Full-budget runs (real MNIST)", "full_run",
     ["setting", "variant", "seed", "threads", "seconds", "train_seconds", "final_acc_mean"],
     {"seconds": "{:.0f}", "train_seconds": "{:.0f}", "final_acc_mean": _S}),
]  # fmt: skip


def host_name() -> str:
    """The CPU's model name (with the GPU's name first when running on one)."""
    return hardware_name(current_device())


def write_report(rows: list[dict], path_md: Path, repeats: int, extra: dict) -> None:
    """Write ``rows`` to ``path_md`` with suffix .csv (all their keys as columns) and the
    markdown report to ``path_md``. ``extra`` holds the header's facts: cpu, cores, load
    (1-minute load average at the start), square_n, square_peak and square_before (GFLOP/s
    of the square matmul at the end and at the start), threads, and optionally inputs (a
    sentence on what the inputs are; default: random tensors) and notes."""
    fields = sorted({k for r in rows for k in r})
    with path_md.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "# hypercl benchmark",
        "",
        f"Generated by `python scripts/bench.py {' '.join(sys.argv[1:])}` "
        f"({time.strftime('%Y-%m-%d %H:%M')}). Raw numbers: "
        f"`results/{path_md.with_suffix('.csv').name}`.",
        "",
        f"- Hardware: {extra['cpu']}, {extra['cores']} cores; torch {torch.__version__}, "
        f"python {platform.python_version()}; hypercl commit {git_commit()}.",
        f"- Each time is the median of {repeats} repeats; ratios are taken between medians "
        "measured in the same run, and the variants of a table (fast/direct, previous tasks, "
        "stages, inference sizes, layouts) are timed interleaved, one repeat of each in turn. "
        + extra.get("inputs", "Inputs are random tensors of the benchmark's shape."),
        *(
            [
                f"- Square {extra['square_n']}x{extra['square_n']} float32 matmul: "
                f"{extra['square_peak']:.1f} GFLOP/s "
                + ("(GPU, TF32 off)" if on_gpu() else f"({extra['threads']} threads)")
                + f"; {extra['square_before']:.1f} at the start. A gap between the two means the "
                "host's speed changed during the run (other jobs or VMs): its times do not "
                "compare."
            ]
            if "square_peak" in extra
            else []
        ),
        *[f"- {note}" for note in extra.get("notes", [])],
        f"- Load average over the minute before the benchmark started: {extra['load']:.2f} "
        "(about 0 on an idle machine; each busy core adds about 1, and other work inflates "
        "every time here).",
        "",
    ]

    def table(title: str, section: str, cols: list[str], fmt: dict) -> None:
        sel = [r for r in rows if r["section"] == section]
        if not sel:
            return
        lines.extend([f"## {title}", ""])
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for r in sel:
            cells = ["" if r.get(c) is None else fmt.get(c, "{}").format(r[c]) for c in cols]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    for spec in TABLES:
        table(*spec)
    path_md.write_text("\n".join(lines))
