"""Speed and memory benchmark of hypercl; writes results/bench.md and results/bench.csv.

    python scripts/bench.py                  # step times, FLOP rates, inference, memory
    python scripts/bench.py --full-runs      # + wall time of the full-budget runs (long)
    python scripts/bench.py --skip-micro --full-runs --out results/bench_full_runs.md
    python scripts/bench.py --parts-only --out results/bench_step_parts.md   # where time goes
    python scripts/bench.py --device cuda --full-runs --out results/bench_gpu.md   # a GPU

Every time is the median of ``--repeats`` (>= 5) repeats; every speed-up is a ratio of two
medians measured in the same run, the variants compared timed interleaved (one repeat of
each in turn, so drift in the host's speed hits all alike). Inputs are random tensors of the
benchmark's shape (speed does not depend on pixel values); the full-budget runs use real
MNIST.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from hypercl.config import Config, RegImpl, RegTargets
from hypercl.methods.cuda_graph import GraphedStep
from hypercl.methods.inference import entropy, head_logits, infer_task_and_class
from hypercl.methods.learner import HNetLearner, build_learner
from hypercl.methods.lookahead import lookahead_params
from hypercl.nets.heads import Heads
from hypercl.train import git_commit, keep_freed_memory

REPO = Path(__file__).resolve().parent.parent
SETTINGS = {"split_mnist_cl1": ((1, 28, 28), 2), "perm_mnist10_cl1": ((1024,), 10)}
# Step times only (--cifar): the convolutional targets, 6 tasks of 10 classes.
CIFAR_SETTINGS = {
    "split_cifar10_100_resnet32": ((3, 32, 32), 10),
    "split_cifar10_100_zenkenet": ((3, 32, 32), 10),
}
DEVICE = torch.device("cpu")  # set by --device


def sync() -> None:
    """Wait for the device, so a host clock measures finished work."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def load_config(experiment: str, *overrides: str) -> Config:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", [f"experiment={experiment}", *overrides])
    return OmegaConf.to_object(cfg)


def interleaved_medians(fns: dict, repeats: int, inner: int = 1) -> dict:
    """Median over ``repeats`` of the mean seconds per call over ``inner`` calls, for each
    closure in ``fns`` (same keys). Each repeat times every closure in turn, so a change in
    the host's speed during the run hits all of them alike and their ratios hold."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            sync()
            tic = time.perf_counter()
            for _ in range(inner):
                fn()
            sync()
            times[key].append((time.perf_counter() - tic) / inner)
    return {key: statistics.median(t) for key, t in times.items()}


def median_time(fn, repeats: int, inner: int = 1) -> float:
    """Median over ``repeats`` of the mean seconds per call over ``inner`` calls."""
    return interleaved_medians({None: fn}, repeats, inner)[None]


def make_learner(experiment: str, num_tasks: int, **method) -> tuple[HNetLearner, tuple, int]:
    cfg = load_config(experiment)
    for key, value in method.items():
        setattr(cfg.method, key, value)
    input_shape, head_size = {**SETTINGS, **CIFAR_SETTINGS}[experiment]
    in_features = int(torch.Size(input_shape).numel())
    torch.manual_seed(0)
    learner = build_learner(cfg, in_features, Heads(num_tasks, head_size), num_tasks,
                            torch.Generator(), DEVICE, input_shape)  # fmt: skip
    return learner, input_shape, cfg.train.batch_size


def step_timer(experiment: str, num_prev: int, impl: RegImpl, graph: bool = False):
    """A closure doing one training step of task ``num_prev`` (num_prev earlier tasks);
    with ``graph`` (CUDA), the step is replayed as a CUDA graph."""
    learner, input_shape, batch = make_learner(experiment, 10, reg_impl=impl)
    learner.regularizer.snapshot(learner.hnet, num_prev)
    optimizer = learner.make_optimizer(num_prev)
    x = torch.rand(batch, *input_shape, device=DEVICE)
    y = torch.randint(0, learner.heads.head_size, (batch,), device=DEVICE)

    def eager(x=x, y=y):
        return learner.train_step(num_prev, optimizer, x, y)

    if not graph:
        return learner, eager
    graphed = GraphedStep(eager, warmup=3)
    for _ in range(4):  # warm-up steps, then the capture
        graphed(x, y)
    return learner, lambda: graphed(x, y)


def step_flops(learner: HNetLearner, step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def target_matmul_peak(experiment: str, repeats: int) -> float:
    """GFLOP/s of the target's own forward+backward GEMMs at its batch size, alone."""
    learner, input_shape, batch = make_learner(experiment, 10)
    sizes = [int(torch.Size(input_shape).numel()), *[m.out_features for m in
             learner.target.template if hasattr(m, "out_features")]]  # fmt: skip
    mats = [(torch.randn(batch, a, device=DEVICE), torch.randn(b, a, device=DEVICE),
             torch.randn(batch, b, device=DEVICE))
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)]  # fmt: skip

    def gemms():
        for x, w, g in mats:
            x @ w.T  # forward
            g.T @ x  # weight gradient
            g @ w  # input gradient

    flops = sum(3 * 2 * x.shape[0] * w.shape[0] * w.shape[1] for x, w, _ in mats)
    return flops / median_time(gemms, repeats, inner=20) / 1e9


def square_matmul_peak(repeats: int, n: int = 2048) -> float:
    a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
    return 2 * n**3 / median_time(lambda: a @ b, repeats, inner=3) / 1e9


def steps_per_repeat(experiment: str) -> int:
    """Training steps timed per repeat: 20 for short steps (Split-MNIST's, any on a GPU),
    5 for the long CPU steps of the larger networks."""
    return 20 if experiment.startswith("split") or DEVICE.type == "cuda" else 5


def bench_steps(repeats: int, rows: list[dict], settings: dict, prev_tasks=(1, 5, 9)) -> None:
    """Step time with each number of previous tasks, fast and direct regularizer (and their
    CUDA graphs on a GPU): all steps of a setting are timed interleaved (see
    :func:`interleaved_medians`), so the ratios between them survive drift in host speed."""
    variants = [(RegImpl.fast, False), (RegImpl.direct, False)]
    if DEVICE.type == "cuda":
        variants += [(RegImpl.fast, True), (RegImpl.direct, True)]
    for experiment in settings:
        steps, flops = {}, {}
        for num_prev in prev_tasks:
            for impl, graph in variants:
                learner, step = step_timer(experiment, num_prev, impl, graph)
                steps[num_prev, impl, graph] = step
                if not graph:  # a graph replay runs the same ops, but uncounted
                    flops[num_prev, impl] = step_flops(learner, step)
        seconds = interleaved_medians(steps, repeats, steps_per_repeat(experiment))
        threads = torch.get_num_threads()
        for (num_prev, impl, graph), sec in seconds.items():
            rows.append({
                "section": "step", "setting": experiment, "previous_tasks": num_prev,
                "variant": impl.value + (" + CUDA graph" if graph else ""), "threads": threads,
                "seconds": sec, "gflop_per_s": flops[num_prev, impl] / sec / 1e9,
                "gflop": flops[num_prev, impl] / 1e9,
            })  # fmt: skip
            if graph:
                rows.append({
                    "section": "graph_ratio", "setting": experiment,
                    "previous_tasks": num_prev, "variant": f"{impl.value}: eager/graph",
                    "threads": threads, "ratio": seconds[num_prev, impl, False] / sec,
                })  # fmt: skip
        for num_prev in prev_tasks:
            rows.append({
                "section": "step_ratio", "setting": experiment, "previous_tasks": num_prev,
                "variant": "direct/fast", "threads": threads,
                "ratio": seconds[num_prev, RegImpl.direct, False]
                / seconds[num_prev, RegImpl.fast, False],
            })  # fmt: skip


def step_stages(experiment: str, num_prev: int) -> dict:
    """A fast step of task ``num_prev`` built up piece by piece: {stage name: closure doing
    that stage and all before it}; the last stage is the whole training step."""
    learner, input_shape, batch = make_learner(experiment, 10, reg_impl=RegImpl.fast)
    learner.regularizer.snapshot(learner.hnet, num_prev)
    optimizer, hnet = learner.make_optimizer(num_prev), learner.hnet
    x = torch.rand(batch, *input_shape, device=DEVICE)
    y = torch.randint(0, learner.heads.head_size, (batch,), device=DEVICE)
    ids, head = torch.full((1,), num_prev, device=DEVICE), learner.heads.slice(num_prev)
    weights = hnet(ids, keep_padding=True).squeeze(0).detach().requires_grad_()

    def target_only():
        weights.grad = None
        F.cross_entropy(learner.target(x, weights)[:, head], y).backward()

    def task_loss():
        optimizer.zero_grad(set_to_none=True)
        learner.task_loss(num_prev, x, y).backward()

    def adam():
        task_loss()
        optimizer.step()

    def lookahead():
        task_loss()
        lookahead_params(optimizer, hnet.theta())
        optimizer.step()

    return {
        "target forward + backward (weights given)": target_only,
        "+ hypernetwork forward + backward (task loss)": task_loss,
        "+ Adam step": adam,
        "+ lookahead (Adam step on copies)": lookahead,
        f"+ regularizer, {num_prev} previous tasks (the whole step)":
            partial(learner.train_step, num_prev, optimizer, x, y),
    }  # fmt: skip


def bench_step_parts(repeats: int, rows: list[dict], num_prev: int = 5) -> None:
    """Where a fast step's time goes: each stage of :func:`step_stages` timed, stages
    interleaved round by round so that host drift hits all alike. A piece costs its
    stage's median minus the previous stage's."""
    for experiment in SETTINGS:
        stages = step_stages(experiment, num_prev)
        medians = interleaved_medians(stages, repeats, steps_per_repeat(experiment))
        whole, before = list(medians.values())[-1], 0.0
        for name, seconds in medians.items():
            rows.append({"section": "step_parts", "setting": experiment,
                         "threads": torch.get_num_threads(), "variant": name,
                         "seconds": seconds, "added_seconds": seconds - before,
                         "share": (seconds - before) / whole})  # fmt: skip
            before = seconds


def bench_inference(repeats: int, rows: list[dict], loop_images: int) -> None:
    """CL3 task inference over 10,000 images x 10 tasks (perm_mnist10 target): batched with
    a few images-per-call sizes (``train.eval_batch_size``) and the per-sample loop."""
    learner, input_shape, _ = make_learner("perm_mnist10_cl1", 10)
    x = torch.rand(10_000, *input_shape, device=DEVICE)
    ids = torch.arange(10, device=DEVICE)
    hs = learner.heads.head_size
    default = learner.train_cfg.eval_batch_size

    @torch.no_grad()
    def batched(per_call: int) -> None:
        weights = learner.hnet(ids)
        for xb in x.split(per_call):
            infer_task_and_class(head_logits(learner.target, xb, weights, ids, hs))

    @torch.no_grad()
    def per_sample():  # the official code's way: one image and one embedding at a time
        for i in range(loop_images):
            best = None
            for k in range(10):
                w = learner.hnet(ids[k : k + 1])[0]
                out = learner.target(x[i : i + 1], w)[0, k * hs : (k + 1) * hs]
                h = entropy(out).item()
                best = h if best is None or h < best else best

    setting, threads = "perm_mnist10 CL3, 10k images x 10 tasks", torch.get_num_threads()
    sizes = sorted({5000, 2000, 1000, 500, 250, default}, reverse=True)
    times = interleaved_medians(
        {**{size: partial(batched, size) for size in sizes}, "loop": per_sample}, repeats
    )
    for per_call in sizes:
        rows.append({"section": "inference", "setting": setting, "threads": threads,
                     "variant": f"batched, {per_call} images per call"
                     + (" (default)" if per_call == default else ""),
                     "seconds": times[per_call]})  # fmt: skip
    t_loop = times["loop"] * 10_000 / loop_images
    rows.append({"section": "inference", "setting": setting, "threads": threads,
                 "variant": f"per-sample loop (timed on {loop_images} images, scaled)",
                 "seconds": t_loop})  # fmt: skip
    rows.append({"section": "inference_ratio", "setting": "perm_mnist10 CL3",
                 "variant": f"loop / batched with {default} images per call",
                 "threads": threads, "ratio": t_loop / times[default]})  # fmt: skip


def memory_probe(num_tasks: int, targets: str, impl: str) -> dict:
    """Run in a subprocess: peak RSS of 3 steps of the last task of perm_mnist (num_tasks),
    above the high-water mark after imports and config composition."""
    load_config("perm_mnist10_cl1")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    learner, input_shape, batch = make_learner(
        "perm_mnist10_cl1", num_tasks, reg_targets=RegTargets(targets), reg_impl=RegImpl(impl)
    )
    learner.regularizer.snapshot(learner.hnet, num_tasks - 1)
    optimizer = learner.make_optimizer(num_tasks - 1)
    x = torch.rand(batch, *input_shape, device=DEVICE)
    y = torch.randint(0, 10, (batch,), device=DEVICE)
    if DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        cuda_base = torch.cuda.memory_allocated()
    for _ in range(3):
        learner.train_step(num_tasks - 1, optimizer, x, y)
    state = sum(t.numel() * t.element_size() for t in learner.regularizer.snap.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"state_mb": state / 2**20, "peak_rss_increase_mb": (peak - base) / 1024,
           "base_rss_mb": base / 1024}  # fmt: skip
    if DEVICE.type == "cuda":  # GPU memory above what model, snapshot and batch hold
        out["peak_cuda_increase_mb"] = (torch.cuda.max_memory_allocated() - cuda_base) / 2**20
    return out


def bench_memory(rows: list[dict], task_counts: list[int]) -> None:
    for num_tasks in task_counts:
        for targets, impl in (("stored", "direct"), ("online", "direct"), ("stored", "fast"),
                              ("online", "fast")):  # fmt: skip
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--memory-probe",
                    str(num_tasks),
                    targets,
                    impl,
                    "--device",
                    DEVICE.type,
                ],  # fmt: skip
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            probe = json.loads(out.strip().splitlines()[-1])
            rows.append({"section": "memory", "setting": f"perm_mnist {num_tasks} tasks",
                         "variant": f"{targets} targets, {impl}", "threads": 0,
                         **probe})  # fmt: skip


def bench_head_layout(repeats: int, rows: list[dict], threads: int) -> None:
    """The three GEMMs of the hypernetwork's head in a step (forward Z W^T, weight gradient
    G^T Z, input gradient G W) with W stored as nn.Linear does ([C, h]) and transposed as
    :class:`hypercl.nets.hnets.HeadLinear` does ([h, C])."""
    for experiment in SETTINGS:
        learner, _, _ = make_learner(experiment, 10)
        head = learner.hnet.head
        h, c, r = head.in_features, head.out_features, learner.hnet.num_rows
        z, g = torch.randn(r, h, device=DEVICE), torch.randn(r, c, device=DEVICE)
        w, w_t = torch.randn(c, h, device=DEVICE), torch.randn(h, c, device=DEVICE)
        layouts = {
            "W [C, h] (nn.Linear)": lambda z=z, w=w, g=g: (z @ w.T, g.T @ z, g @ w),
            "W^T [h, C] (HeadLinear)": lambda z=z, w=w_t, g=g: (z @ w, z.T @ g, g @ w.T),
        }
        times = interleaved_medians(layouts, repeats, inner=10)
        for name, seconds in times.items():
            rows.append({"section": "head_layout", "setting": experiment, "threads": threads,
                         "variant": name, "shape": f"R={r}, C={c}, h={h}",
                         "seconds": seconds})  # fmt: skip
        old, new = times.values()
        rows.append({"section": "head_layout_ratio", "setting": experiment,
                     "threads": threads, "ratio": old / new})  # fmt: skip


def step_probe(experiment: str, num_prev: int, repeats: int) -> dict:
    """Median seconds and minor page faults per training step, in this process."""
    learner, step = step_timer(experiment, num_prev, RegImpl.fast)
    for _ in range(3):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds = median_time(step, repeats, inner=5)
    steps = 1 + repeats * 5  # median_time's warm-up call, then repeats x inner (5)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
    return {"seconds": seconds, "minor_faults_per_step": faults}


def bench_allocator(repeats: int, rows: list[dict], threads: int) -> None:
    """Step time with glibc's default malloc settings vs :func:`keep_freed_memory`, each
    in a fresh process (malloc settings hold for a whole process)."""
    for experiment in SETTINGS:
        results = {}
        for tuned in ("0", "1"):
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--step-probe", experiment,
                 "1", str(threads), "--repeats", str(repeats)],
                cwd=REPO, capture_output=True, text=True, check=True,
                env={**os.environ, "HYPERCL_MALLOC_TUNING": tuned},
            )  # fmt: skip
            results[tuned] = json.loads(proc.stdout.strip().splitlines()[-1])
            variant = "keep_freed_memory" if tuned == "1" else "glibc default"
            rows.append({"section": "allocator", "setting": experiment, "threads": threads,
                         "previous_tasks": 1, "variant": variant,
                         **results[tuned]})  # fmt: skip
        rows.append({"section": "allocator_ratio", "setting": experiment, "threads": threads,
                     "ratio": results["0"]["seconds"] / results["1"]["seconds"]})  # fmt: skip


def bench_full_run(
    rows: list[dict], threads: int, experiment: str, impl: str = "fast", seed: int = 1
) -> None:
    """Run a preset at full budget (real MNIST) with the ``impl`` regularizer and record its
    wall time and accuracy."""
    name = (
        experiment + ("" if impl == "fast" else f"_{impl}") + ("" if seed == 1 else f"_seed{seed}")
    )
    run_dir = REPO / "results" / "bench_runs" / (name + ("_gpu" if DEVICE.type == "cuda" else ""))
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, not a resumption of the last
    proc = subprocess.run(
        [sys.executable, "-m", "hypercl.train", f"experiment={experiment}", f"seed={seed}",
         f"num_threads={threads}", f"device={DEVICE.type}", f"method.reg_impl={impl}",
         f"hydra.run.dir={run_dir}"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    res = json.loads((run_dir / "results.json").read_text())
    rows.append({"section": "full_run", "setting": experiment, "variant": impl,
                 "seed": seed, "threads": threads, "seconds": res["wall_time_s"],
                 "train_seconds": res["train_time_s"],
                 "final_acc_mean": res["final_acc_mean"]})  # fmt: skip


def write_report(rows: list[dict], path_md: Path, args, extra: dict) -> None:
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
        f"- Each time is the median of {args.repeats} repeats; ratios are taken between medians "
        "measured in the same run, and the variants of a table (fast/direct, previous tasks, "
        "stages, inference sizes, layouts) are timed interleaved, one repeat of each in turn. "
        "Inputs are random tensors of the benchmark's shape.",
        f"- Square {extra['square_n']}x{extra['square_n']} float32 matmul: "
        f"{extra['square_peak']:.1f} GFLOP/s "
        + ("(GPU, TF32 off)" if DEVICE.type == "cuda" else f"({extra['threads']} threads)")
        + f"; {extra['square_before']:.1f} at the start. A gap between the two means the "
        "host's speed changed during the run (other jobs or VMs): its times do not compare.",
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

    for spec in extra["tables"]:
        table(*spec)
    path_md.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench.md")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--cifar", action="store_true", help="also time ResNet-32/ZenkeNet steps")
    parser.add_argument("--memory-probe", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--step-probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    keep_freed_memory()  # as hypercl.train does (off with HYPERCL_MALLOC_TUNING=0)
    load = os.getloadavg()[0]  # before any work of ours: what else is running
    global DEVICE
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda":  # threads do not matter for GPU work: one pass
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
    square_n = 8192 if DEVICE.type == "cuda" else 2048
    torch.set_num_threads(max(args.threads))
    square_before = square_matmul_peak(args.repeats, square_n)  # the host's speed, at start
    rows: list[dict] = []
    for threads in [] if args.skip_micro else args.threads:
        torch.set_num_threads(threads)
        for experiment in SETTINGS:
            rows.append({"section": "peak", "setting": experiment, "variant": "target GEMMs",
                         "threads": threads,
                         "gflop_per_s": target_matmul_peak(experiment, args.repeats)})  # fmt: skip
        bench_step_parts(args.repeats, rows)
        if args.parts_only:
            continue
        bench_steps(args.repeats, rows, SETTINGS)
        if args.cifar:  # 6 tasks: the last one has 5 previous tasks
            bench_steps(args.repeats, rows, CIFAR_SETTINGS, prev_tasks=(1, 5))
        bench_inference(args.repeats, rows, args.loop_images)
        bench_head_layout(args.repeats, rows, threads)
        if DEVICE.type == "cpu":
            bench_allocator(args.repeats, rows, threads)
    threads = max(args.threads)
    torch.set_num_threads(threads)
    square = square_matmul_peak(args.repeats, square_n)
    if not (args.skip_micro or args.parts_only):
        bench_memory(rows, args.memory_tasks)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))  # fmt: skip
    except (OSError, StopIteration):
        pass
    if DEVICE.type == "cuda":
        cpu = f"{torch.cuda.get_device_name()} (host CPU: {cpu})"

    s = "{:.2f}"
    ms = "{:.4f}"
    tables = [
        ("Training step (seconds per step)", "step",
         ["setting", "threads", "previous_tasks", "variant", "seconds", "gflop", "gflop_per_s"],
         {"seconds": ms, "gflop": "{:.3f}", "gflop_per_s": "{:.1f}"}),
        ("Where a fast step's time goes (cumulative stages; a piece adds its stage's median "
         "minus the previous stage's)", "step_parts",
         ["setting", "threads", "variant", "seconds", "added_seconds", "share"],
         {"seconds": ms, "added_seconds": ms, "share": "{:.0%}"}),
        ("Speed-up of the fast regularizer (direct / fast step time)", "step_ratio",
         ["setting", "threads", "previous_tasks", "ratio"], {"ratio": s}),
        ("Speed-up of the CUDA graph (eager / graph step time)", "graph_ratio",
         ["setting", "previous_tasks", "variant", "ratio"], {"ratio": s}),
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
         {"seconds": ms}),
        ("Head layout speed-up ([C, h] / [h, C] time)", "head_layout_ratio",
         ["setting", "threads", "ratio"], {"ratio": s}),
        ("Allocator: training step (1 previous task) with glibc's default malloc settings "
         "and with hypercl.train.keep_freed_memory, each in its own process", "allocator",
         ["setting", "threads", "variant", "seconds", "minor_faults_per_step"],
         {"seconds": ms, "minor_faults_per_step": "{:.0f}"}),
        ("Allocator speed-up (default / tuned step time)", "allocator_ratio",
         ["setting", "threads", "ratio"], {"ratio": s}),
        ("Full-budget runs (real MNIST)", "full_run",
         ["setting", "variant", "seed", "threads", "seconds", "train_seconds", "final_acc_mean"],
         {"seconds": "{:.0f}", "train_seconds": "{:.0f}", "final_acc_mean": s}),
    ]  # fmt: skip
    extra = {"cpu": cpu, "cores": os.cpu_count(), "load": load, "square_peak": square,
             "square_before": square_before,
             "square_n": square_n, "threads": threads,
             "tables": tables}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_report(rows, args.out, args, extra)
    for experiment in args.full_settings if args.full_runs else []:  # report after each run
        for seed in args.full_seeds:
            for impl in args.full_impls:
                bench_full_run(rows, threads, experiment, impl, seed)
                extra["square_peak"] = square_matmul_peak(args.repeats, square_n)  # at its end
                write_report(rows, args.out, args, extra)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
