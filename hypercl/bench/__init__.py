"""Speed and memory benchmark of hypercl; writes results/bench.md and results/bench.csv.

    python -m hypercl.bench                  # step times, FLOP rates, inference, memory
    python -m hypercl.bench --full-runs      # + wall time of the full-budget runs (long)
    python -m hypercl.bench --skip-micro --full-runs --out results/bench_full_runs.md
    python -m hypercl.bench --parts-only --out results/bench_step_parts.md   # where time goes
    python -m hypercl.bench --device cuda --full-runs --out results/bench_gpu.md   # a GPU
    python -m hypercl.bench --startup        # start-up -> results/bench_startup.md
    python -m hypercl.bench --batched-seeds  # N seeds sequential vs batched -> bench_throughput.md
    python -m hypercl.bench --compile --out results/bench_compile.md   # torch.compile trial

(``python scripts/bench.py`` is the same entry point.) Every time is the median of
``--repeats`` (>= 5) repeats; every speed-up is a ratio of two medians measured in the same
run, the variants compared timed interleaved (one repeat of each in turn, so drift in the
host's speed hits all alike). Inputs are random tensors of the benchmark's shape (speed does
not depend on pixel values); the full-budget runs use real MNIST.

Modules: ``device`` (the device and its clock barrier), ``timing`` (interleaved medians),
``presets`` (the benchmarked presets and learners built from them), ``steps`` (training
step, fast vs direct regularizer, CUDA graphs), ``step_parts`` (where a step's time goes),
``matmul`` (GEMM peaks, head layout), ``task_inference`` (CL3 inference, batched vs loop),
``memory`` (regularizer state and peak RSS), ``allocator`` (glibc malloc settings),
``full_runs`` (full-budget presets), ``startup`` (time to a run's first step),
``batched_seeds`` (seeds as a batch dimension), ``compiled`` (torch.compile trial),
``report`` (bench.md / bench.csv) and ``cli``.
"""
