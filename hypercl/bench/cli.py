"""Command line of the benchmark: ``python -m hypercl.bench`` / ``python scripts/bench.py``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

import hypercl.bench
from hypercl.bench.allocator import bench_allocator, step_probe
from hypercl.bench.device import on_gpu, use_device
from hypercl.bench.full_runs import bench_full_run
from hypercl.bench.matmul import bench_head_layout, square_matmul_peak, target_matmul_peak
from hypercl.bench.memory import bench_memory, memory_probe
from hypercl.bench.presets import CIFAR_SETTINGS, ROOT, SETTINGS
from hypercl.bench.report import host_name, write_report
from hypercl.bench.step_parts import bench_step_parts
from hypercl.bench.steps import bench_steps
from hypercl.bench.task_inference import bench_inference
from hypercl.environment import keep_freed_memory


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
