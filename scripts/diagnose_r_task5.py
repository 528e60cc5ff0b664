"""Which replay costs HNET+R its last task? Split-MNIST CL1, task 5 retrained from task 4's end.

Each CHECKPOINT is a copy of one of our HNET+R CL1 runs' ``checkpoint.pt`` taken while it
held the state between task 4 and task 5 (progress: task 4, train phase, step 0; the run
overwrites it after task 5, so copy it as it appears); ``CKPT/../run`` is the run's
directory. From it the method and every random state are restored, and task 5's classifier
is trained again (2000 steps, the run's settings) in arms that differ only in the replay:

- ``ours, fresh``: the run's own replay (new samples of our VAE each step); with the
  checkpoint's random state this repeats the run (the output puts both side by side);
- ``ours, pool``: the same number of samples per step, drawn uniformly from a fixed pool of
  2000 samples per earlier task made by our VAE;
- ``official, pool``: the same from a pool of the official code's samples
  (``OFFICIAL_DUMP_REPLAY``, [4, 2000, 784], drawn by chrhenning/hypercl@e325678 as its
  replay draws them);
- ``none``: no replay term (``replay.replay_weight=0`` for task 5 only).

The distillation targets always come from our snapshot classifier, so only the inputs of the
replay differ between the pool arms. Each arm runs with ``--repeats`` replay seeds (the
generator's state is set from the seed; arm ``ours, fresh`` with the checkpoint's state
also runs once). Output: final task-5 test accuracy per arm, mean ± SEM over checkpoints
and repeats, and each arm's difference from ``ours, pool`` paired by checkpoint and seed.

Usage::

    python scripts/diagnose_r_task5.py OUT.md CKPT... --official PT... [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from hypercl.checkpoint import set_rng_state
from hypercl.data.benchmarks import build_benchmark
from hypercl.data.tasks import Benchmark
from hypercl.experiment import build_method

sys.path.insert(0, str(Path(__file__).parent))
from replay_sample_quality import load_config, mean_sem  # noqa: E402


def use_pooled_replay(vae, pool: torch.Tensor) -> None:
    """Make ``vae``'s replay draw from pool [T, P, D] uniformly: the classifier's loop draws
    ``vae.latents(num_prev, n, generator)`` and its step decodes them with ``vae.pixels``;
    here the "latents" are indices into the pool, drawn from the same generator."""

    def latents(num_prev: int, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(pool.shape[1], (num_prev, n), generator=generator)

    def pixels(idx: torch.Tensor, task_ids: torch.Tensor, weights=None) -> torch.Tensor:
        return torch.stack([pool[j, idx[j]] for j in range(len(idx))])

    vae.latents, vae.pixels = latents, pixels


def restore(ckpt: Path, bench: Benchmark, generator: torch.Generator, replay_weight=None):
    """The method of ``ckpt`` between tasks 4 and 5, its random states restored."""
    cfg = load_config(ckpt.parent / "run")
    if replay_weight is not None:
        cfg.replay.replay_weight = replay_weight
    method = build_method(cfg, bench, generator, torch.device("cpu"))
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    progress = state["progress"]
    if (progress["task"], progress["step"]) != (4, 0):
        sys.exit(f"{ckpt}: not the checkpoint between tasks 4 and 5 ({progress})")
    method.load_state_dict(state["method"], 4, False)
    set_rng_state(state["rng"], generator)
    return method


def retrain_task5(
    ckpt: Path, bench: Benchmark, arm: str, pool: torch.Tensor | None, seed: int | None
) -> float:
    """Task 5's final test accuracy after retraining it from ``ckpt`` in ``arm``."""
    generator = torch.Generator()
    method = restore(ckpt, bench, generator, 0.0 if arm == "none" else None)
    if seed is not None:
        generator.manual_seed(seed)
        torch.manual_seed(seed)
    if pool is not None:
        use_pooled_replay(method.vae, pool)
    last = bench.tasks[4]
    method.train_classifier(4, last, lambda step, losses: None)
    return method.evaluate(4, last, 5)[0]


def our_pool(ckpt: Path, bench: Benchmark, samples: int) -> torch.Tensor:
    """[4, samples, 784] from the checkpoint's VAE (seed 0)."""
    generator = torch.Generator()
    method = restore(ckpt, bench, generator)
    generator.manual_seed(0)
    method.vae.eval()
    with torch.no_grad():
        return method.vae.sample(torch.arange(4), samples, generator).flatten(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--official", type=Path, nargs="+", required=True)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    official = [torch.load(p)[:, :2000].flatten(2) for p in args.official]
    results: dict[str, list[float]] = {}
    per_ckpt: list[str] = []
    for k, ckpt in enumerate(args.checkpoints):
        cfg = load_config(ckpt.parent / "run")
        bench = build_benchmark(cfg.benchmark, Path(cfg.data_dir), download=False)
        exact = retrain_task5(ckpt, bench, "ours, fresh", None, None)
        run = json.loads((ckpt.parent / "run" / "results.json").read_text())["final_acc"][4]
        per_ckpt.append(f"| {ckpt.parent.name} | {exact:.4f} | {run:.4f} |")
        pool = our_pool(ckpt, bench, 2000)
        for r in range(args.repeats):
            seed = 100 * k + r
            arms = {
                "ours, fresh": None,
                "ours, pool": pool,
                "official, pool": official[(k + r) % len(official)],
                "none": None,
            }
            for arm, arm_pool in arms.items():
                acc = retrain_task5(ckpt, bench, arm, arm_pool, seed)
                results.setdefault(arm, []).append(acc)
                print(f"{ckpt} repeat {r} {arm}: {acc:.2f}", file=sys.stderr)
    command = " ".join(
        ["python scripts/diagnose_r_task5.py", str(args.out), *map(str, args.checkpoints)]
        + ["--official", *map(str, args.official), "--repeats", str(args.repeats)]
    )
    lines = [
        "# HNET+R Split-MNIST CL1: task 5 retrained from task 4's end with other replay",
        "",
        f"Generated by `{command}`; see the script's docstring for the arms.",
        "",
        "## The run's own continuation (checkpoint's random state; equals the run's task 5)",
        "",
        "| run | retrained here | the run's results.json |",
        "|---|---|---|",
        *per_ckpt,
        "",
        f"## Arms ({len(args.checkpoints)} checkpoints × {args.repeats} replay seeds)",
        "",
        "| arm | n | task 5 final %, mean ± SEM |",
        "|---|---|---|",
    ]
    for arm, values in results.items():
        lines.append(f"| {arm} | {len(values)} | {mean_sem(values, 1, 2)} |")
    lines += [
        "",
        "## Paired differences (same checkpoint and replay seed)",
        "",
        "| arm minus ours, pool | n | mean ± SEM |",
        "|---|---|---|",
    ]
    for arm, values in results.items():
        if arm != "ours, pool":
            diffs = [a - b for a, b in zip(values, results["ours, pool"], strict=True)]
            lines.append(f"| {arm} | {len(diffs)} | {mean_sem(diffs, 1, 2)} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
