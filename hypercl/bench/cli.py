"""Command line of the benchmark: ``python -m hypercl.bench`` / ``python scripts/bench.py``."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

import hypercl.bench
from hypercl.bench.allocator import bench_allocator, step_probe
from hypercl.bench.batched_seeds import bench_batched_seeds
from hypercl.bench.compiled import bench_compile
from hypercl.bench.device import on_gpu, use_device
from hypercl.bench.fisher import bench_fisher, fisher_notes
from hypercl.bench.full_runs import bench_full_run
from hypercl.bench.long_sequence import bench_long_sequence
from hypercl.bench.matmul import bench_head_layout, square_matmul_peak, target_matmul_peak
from hypercl.bench.memory import bench_memory, memory_probe
from hypercl.bench.presets import CIFAR_SETTINGS, ROOT, SETTINGS
from hypercl.bench.replay import bench_replay
from hypercl.bench.report import host_name, write_report
from hypercl.bench.startup import bench_startup
from hypercl.bench.step_parts import bench_step_parts
from hypercl.bench.steps import bench_steps
from hypercl.bench.task_inference import bench_inference
from hypercl.environment import keep_freed_memory

STARTUP_OUT = ROOT / "results" / "bench_startup.md"
THROUGHPUT_OUT = ROOT / "results" / "bench_throughput.md"
FISHER_OUT = ROOT / "results" / "bench_fisher.md"
LONG_OUT = ROOT / "results" / "bench_long_sequence.md"
REPLAY_OUT = ROOT / "results" / "bench_replay.md"


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog, description=hypercl.bench.__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--loop-images", type=int, default=100)
    parser.add_argument("--memory-tasks", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--full-runs", action="store_true")
    parser.add_argument("--skip-micro", action="store_true", help="only the full-budget runs")
    parser.add_argument(
        "--parts-only", action="store_true",
        help="micro benchmarks: only the target GEMM peak and where a step's time goes",
    )  # fmt: skip
    parser.add_argument(
        "--full-settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS)
    )
    parser.add_argument(
        "--full-impls", nargs="+", choices=["fast", "direct"], default=["fast"],
        help="regularizers of the full-budget runs (both: does the fast one change the accuracy?)",
    )  # fmt: skip
    parser.add_argument("--full-seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench.md")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--cifar", action="store_true", help="also time ResNet-32/ZenkeNet steps")
    parser.add_argument(
        "--startup", action="store_true",
        help="only start-up: imports and time to a run's first step (results/bench_startup.md)",
    )  # fmt: skip
    parser.add_argument(
        "--batched-seeds", action="store_true",
        help="only N seeds' steps, sequential vs batched (results/bench_throughput.md)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument(
        "--compile", action="store_true",
        help="only torch.compile vs eager steps (results/bench_throughput.md)",
    )  # fmt: skip
    parser.add_argument(
        "--fisher", action="store_true",
        help="only EWC's per-sample Fisher, vmap vs linear, on real MNIST "
        "(results/bench_fisher.md)",
    )  # fmt: skip
    parser.add_argument(
        "--long-sequence", action="store_true",
        help="only Permuted-MNIST-100's step by previous tasks and reg_subset "
        "(results/bench_long_sequence.md)",
    )  # fmt: skip
    parser.add_argument(
        "--replay", action="store_true",
        help="only the replay methods' training phases on Permuted-MNIST-10 "
        "(results/bench_replay.md)",
    )  # fmt: skip
    parser.add_argument(
        "--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS),
        help="presets of --batched-seeds and --compile",
    )  # fmt: skip
    # Internal: one measurement in a fresh process, printed as a JSON line.
    parser.add_argument("--memory-probe", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--step-probe", nargs=3, help=argparse.SUPPRESS)
    return parser


def run_micro(args: argparse.Namespace, rows: list[dict], threads: int) -> None:
    """The micro benchmarks with ``threads`` threads (only two with ``--parts-only``)."""
    torch.set_num_threads(threads)
    for experiment in SETTINGS:
        rows.append({"section": "peak", "setting": experiment, "variant": "target GEMMs",
                     "threads": threads,
                     "gflop_per_s": target_matmul_peak(experiment, args.repeats)})  # fmt: skip
    bench_step_parts(args.repeats, rows)
    if args.parts_only:
        return
    bench_steps(args.repeats, rows, SETTINGS)
    if args.cifar:  # 6 tasks: the last one has 5 previous tasks
        bench_steps(args.repeats, rows, CIFAR_SETTINGS, prev_tasks=(1, 5))
    bench_inference(args.repeats, rows, args.loop_images)
    bench_head_layout(args.repeats, rows, threads)
    if not on_gpu():
        bench_allocator(args.repeats, rows, threads)


def per_thread_count(
    args: argparse.Namespace, default_out: Path, extra: dict, bench: Callable[[list], None]
) -> None:
    """``bench(rows)`` once per thread count of ``args.threads``, the report (``args.out``
    if given, else ``default_out``) written after each; then print it."""
    rows: list[dict] = []
    out = args.out if args.out != parser().get_default("out") else default_out
    for threads in args.threads:
        torch.set_num_threads(threads)
        bench(rows)
        extra["threads"] = threads
        write_report(rows, out, args.repeats, extra)
    print(out.read_text())


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """Run the benchmark as the command line ``argv`` (default: ``sys.argv[1:]``) says."""
    args = parser(prog).parse_args(argv)
    keep_freed_memory()  # as hypercl.train does (off with HYPERCL_MALLOC_TUNING=0)
    load = os.getloadavg()[0]  # before any work of ours: what else is running
    use_device(args.device)
    if on_gpu():  # threads do not matter for GPU work: one pass
        args.threads = [max(args.threads)]
    if args.memory_probe:
        torch.set_num_threads(1)
        print(json.dumps(memory_probe(int(args.memory_probe[0]), *args.memory_probe[1:])))
        return
    if args.step_probe:
        experiment, num_prev, threads = args.step_probe
        torch.set_num_threads(int(threads))
        print(json.dumps(step_probe(experiment, int(num_prev), args.repeats)))
        return
    assert args.repeats >= 5, "report medians of at least 5 repeats"
    if args.batched_seeds or args.compile:
        notes = [
            "Batched seeds: N learners (own initialisation, optimizer, random batch each) "
            "take one step each in turn (sequential), or one step of all N stacked along a "
            "leading dim (hypercl.bench.batched_seeds, bmm over seeds; the same parameters "
            "per seed, tests/test_bench_batched_seeds.py). Task 2 of 10, one previous task "
            "regularized, fast regularizer, lookahead, fused Adam. seed_steps_per_s = N / "
            "seconds.",
            "torch.compile: hypercl.bench.compiled (task loss and regularizer compiled with "
            "inductor; the lookahead and fused Adam stay eager). compile_seconds: the first "
            "two steps minus two eager steps; max_abs_param_diff (hypernetwork) and "
            "max_abs_weight_diff (generated target weights of the tasks so far): after 20 "
            "identical steps.",
        ]
        if load >= 1:
            notes.append(
                f"Other jobs ran on this machine (load {load:.1f} on {os.cpu_count()} cores): "
                "every time is inflated. With more runnable threads than cores, a 2-thread "
                "step waits at each op for a descheduled OpenMP peer, which costs many small "
                "ops (sequential) more than a few large ones (batched): 2-thread ratios from "
                "such a run measure the contention, not the batching. Rerun on a quiet machine."
            )
        extra = {"cpu": host_name(), "cores": os.cpu_count(), "load": load, "notes": notes}

        def throughput(rows: list[dict]) -> None:
            if args.batched_seeds:
                bench_batched_seeds(args.repeats, rows, args.settings, args.seeds)
            if args.compile:
                bench_compile(args.repeats, rows, args.settings)

        per_thread_count(args, THROUGHPUT_OUT, extra, throughput)
        return
    if args.fisher:
        extra = {"cpu": host_name(), "cores": os.cpu_count(), "load": load,
                 "inputs": "Inputs are real MNIST training samples.",
                 "notes": fisher_notes(load)}  # fmt: skip
        per_thread_count(args, FISHER_OUT, extra, partial(bench_fisher, args.repeats))
        return
    if args.long_sequence:
        extra = {"cpu": host_name(), "cores": os.cpu_count(), "load": load}
        per_thread_count(args, LONG_OUT, extra, partial(bench_long_sequence, args.repeats))
        return
    if args.replay:
        extra = {"cpu": host_name(), "cores": os.cpu_count(), "load": load}
        per_thread_count(args, REPLAY_OUT, extra, partial(bench_replay, args.repeats))
        return
    if args.startup:
        rows: list[dict] = []
        bench_startup(rows, args.repeats)
        out = args.out if args.out != parser().get_default("out") else STARTUP_OUT
        extra = {"cpu": host_name(), "cores": os.cpu_count(), "load": load, "threads": 1}
        write_report(rows, out, args.repeats, extra)
        print(out.read_text())
        return
    square_n = 8192 if on_gpu() else 2048
    torch.set_num_threads(max(args.threads))
    square_before = square_matmul_peak(args.repeats, square_n)  # the host's speed, at start
    rows: list[dict] = []
    for threads in [] if args.skip_micro else args.threads:
        run_micro(args, rows, threads)
    threads = max(args.threads)
    torch.set_num_threads(threads)
    square = square_matmul_peak(args.repeats, square_n)
    if not (args.skip_micro or args.parts_only):
        bench_memory(rows, args.memory_tasks)
    extra = {"cpu": host_name(), "cores": os.cpu_count(), "load": load, "square_peak": square,
             "square_before": square_before, "square_n": square_n,
             "threads": threads}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_report(rows, args.out, args.repeats, extra)
    for experiment in args.full_settings if args.full_runs else []:  # report after each run
        for seed in args.full_seeds:
            for impl in args.full_impls:
                bench_full_run(rows, threads, experiment, impl, seed)
                extra["square_peak"] = square_matmul_peak(args.repeats, square_n)  # at its end
                write_report(rows, args.out, args.repeats, extra)
    print(args.out.read_text())
