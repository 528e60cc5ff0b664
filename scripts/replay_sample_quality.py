"""How good are the replayed samples of a finished replay run? (HNET+R or DGR+distill)

For each run directory (with its final ``checkpoint.pt``, so on the machine that ran it), the
method is rebuilt from ``config.yaml`` with the package's own builders and restored. Its
replay VAE then draws samples of every replayed task exactly as replay does
(``ReplayVAE.sample``: z ~ N(0, I), task j's condition and weights, sigmoid). The final
checkpoint's VAE is the one that made the replay while the last task trained: the VAE is
trained after the classifier of each task and not at all on the last task.

Per replayed task j, a reference 10-way MLP (784-400-400-10, Adam 1e-3, 3 epochs, batch 128,
seed 0, on all Split-MNIST training images as the runs see them) gives:

- fidelity: the share of task j's samples it assigns to one of task j's two digits;
- confidence: its mean max-softmax on them;
- NN L2: the mean L2 distance of a sample to the nearest training image of task j;
- ink: the mean pixel value;
- grey %: the share of pixels strictly between 0.1 and 0.9 (0 for a binary image);
- spread: the mean L2 distance between two samples of task j (the first 500, all pairs),
  a measure of diversity.

The real test images of each task give the reference row. A last table puts each run's
mean fidelity beside its final accuracy on the last task (the one learned with replay).

The official code's replay is scored from the samples its patched copy saves
(``OFFICIAL_DUMP_REPLAY=DIR scripts/official_hypercl.sh run 1 2000 SEED...`` writes
``DIR/replay_samples_seed<seed>.pt``, [4, 2000, 784], drawn as its replay draws them when the
last task's classifier starts); their task-5 accuracy comes from ``--official-csv``.

Usage (Split-MNIST runs only)::

    python scripts/replay_sample_quality.py OUT.md RUN_DIR... [--official PT...]
        [--official-csv results/official/split_mnist_r.csv] [--samples 2000]

``results/official/r_cl1_replay_samples.md`` is made this way (the command is in its head).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from hypercl.config import Config
from hypercl.data.benchmarks import build_benchmark
from hypercl.experiment import build_method

METRICS = (
    ("fidelity", "fidelity %", 100, 1),
    ("conf", "confidence %", 100, 1),
    ("nn_l2", "NN L2", 1, 2),
    ("ink", "ink", 1, 3),
    ("grey", "grey %", 100, 1),
    ("spread", "spread", 1, 2),
)


def load_config(run_dir: Path) -> Config:
    """The run's config.yaml as a validated :class:`Config`."""
    merged = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(run_dir / "config.yaml"))
    return OmegaConf.to_object(merged)


def reference_classifier(tasks) -> tuple[torch.nn.Module, float]:
    """A 10-way MLP on all tasks' training images; returns it and its test accuracy."""
    x = torch.cat([t.x_train for t in tasks])
    y = torch.cat([t.y_train + 2 * j for j, t in enumerate(tasks)])
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(784, 400),
        torch.nn.ReLU(),
        torch.nn.Linear(400, 400),
        torch.nn.ReLU(),
        torch.nn.Linear(400, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(3):
        for idx in torch.randperm(len(y)).split(128):
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        xt = torch.cat([t.x_test for t in tasks])
        yt = torch.cat([t.y_test + 2 * j for j, t in enumerate(tasks)])
        return net, (net(xt).argmax(1) == yt).float().mean().item()


@torch.no_grad()
def sample_metrics(x: torch.Tensor, j: int, clf: torch.nn.Module, train: torch.Tensor) -> dict:
    """x [N, 784] in [0, 1] claimed to show task j (digits 2j, 2j+1); train [M, 784]."""
    p = F.softmax(clf(x), 1)
    pred = p.argmax(1)
    nearest = torch.cat([torch.cdist(chunk, train).min(1).values for chunk in x.split(500)])
    return {
        "fidelity": ((pred == 2 * j) | (pred == 2 * j + 1)).float().mean().item(),
        "conf": p.max(1).values.mean().item(),
        "nn_l2": nearest.mean().item(),
        "ink": x.mean().item(),
        "grey": ((x > 0.1) & (x < 0.9)).float().mean().item(),
        "spread": torch.pdist(x[:500]).mean().item(),
    }


def mean_sem(values: list[float], scale: float, digits: int) -> str:
    mean = statistics.fmean(values) * scale
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    sem = statistics.stdev(values) * scale / math.sqrt(len(values))
    return f"{mean:.{digits}f} ± {sem:.{digits}f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="markdown file to write")
    parser.add_argument("runs", type=Path, nargs="+", help="finished run directories")
    parser.add_argument("--samples", type=int, default=2000, help="samples per task")
    parser.add_argument(
        "--official", type=Path, nargs="*", default=[], help="official replay_samples_seed*.pt"
    )
    parser.add_argument(
        "--official-csv",
        type=Path,
        default=Path("results/official/split_mnist_r.csv"),
        help="the official runs' accuracies (scripts/official_hypercl.sh)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    first = load_config(args.runs[0])
    bench = build_benchmark(first.benchmark, Path(first.data_dir), download=False)
    if bench.input_shape != (1, 28, 28) or len(bench.tasks) != 5:
        sys.exit(f"{args.runs[0]}: not a Split-MNIST run; this script scores Split-MNIST replay")
    clf, clf_acc = reference_classifier(bench.tasks)
    train = [t.x_train.flatten(1) for t in bench.tasks]
    replayed = len(bench.tasks) - 1
    real = [
        sample_metrics(bench.tasks[j].x_test.flatten(1), j, clf, train[j]) for j in range(replayed)
    ]

    per_run: list[tuple[str, Path, list[dict], float]] = []
    for k, run_dir in enumerate(args.runs):
        cfg = load_config(run_dir)
        generator = torch.Generator().manual_seed(1000 + k)
        method = build_method(cfg, bench, generator, torch.device("cpu"))
        state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
        if state["progress"]["task"] != len(bench.tasks):
            sys.exit(f"{run_dir}: the checkpoint is not the finished run's ({state['progress']})")
        method.load_state_dict(state["method"], len(bench.tasks), False)
        method.vae.eval()
        samples = method.vae.sample(torch.arange(replayed), args.samples, generator).flatten(2)
        scores = [sample_metrics(samples[j], j, clf, train[j]) for j in range(replayed)]
        name = getattr(cfg.method.name, "value", cfg.method.name)
        last_task = json.loads((run_dir / "results.json").read_text())["final_acc"][-1]
        per_run.append((name, run_dir, scores, last_task))
        print(f"{run_dir}: done", file=sys.stderr)

    official_rows = list(csv.DictReader(args.official_csv.open())) if args.official else []
    for path in args.official:
        seed = path.stem.removeprefix("replay_samples_seed")
        samples = torch.load(path)[:, : args.samples].flatten(2)
        scores = [sample_metrics(samples[j], j, clf, train[j]) for j in range(replayed)]
        match = [
            r
            for r in official_rows
            if (r["scenario"], r["n_iter"], r["seed"]) == ("cl1", "2000", seed)
        ]
        last_task = float(match[0]["acc_final_per_task"].split()[-1]) if match else math.nan
        per_run.append(("official (e325678)", path.parent / f"seed{seed}", scores, last_task))

    extra = [f"--samples {args.samples}"] if args.samples != 2000 else []
    extra += ["--official", *map(str, args.official)] if args.official else []
    command = " ".join(
        ["python scripts/replay_sample_quality.py", str(args.out), *map(str, args.runs), *extra]
    )
    rule = "|---" * (len(METRICS) + 1) + "|"
    header = "| task j (digits) | " + " | ".join(label for _, label, _, _ in METRICS) + " |"
    lines = [
        "# Quality of the replayed samples, final checkpoints",
        "",
        f"Generated by `{command}`.",
        "",
        f"{args.samples} samples per replayed task j, drawn as replay draws them. Reference "
        f"classifier: a 10-way MLP, test accuracy {100 * clf_acc:.2f} %. *fidelity*: share of "
        "task j's samples it assigns to one of task j's digits; *confidence*: its mean "
        "max-softmax; *NN L2*: mean L2 distance to the nearest training image of task j; "
        "*ink*: mean pixel value; *grey*: share of pixels strictly between 0.1 and 0.9; "
        "*spread*: mean L2 distance between two samples of task j (first 500). "
        "Mean ± SEM over runs.",
        "",
        "## Real test images (reference)",
        "",
        header,
        rule,
    ]
    for j, r in enumerate(real):
        cells = [f"{r[key] * scale:.{digits}f}" for key, _, scale, digits in METRICS]
        lines.append(f"| {j + 1} ({2 * j}/{2 * j + 1}) | " + " | ".join(cells) + " |")
    by_method: dict[str, list[list[dict]]] = {}
    for name, _, scores, _ in per_run:
        by_method.setdefault(name, []).append(scores)
    for name, runs in by_method.items():
        lines += ["", f"## {name} ({len(runs)} runs)", "", header, rule]
        for j in range(replayed):
            cells = [
                mean_sem([run[j][key] for run in runs], scale, digits)
                for key, _, scale, digits in METRICS
            ]
            lines.append(f"| {j + 1} ({2 * j}/{2 * j + 1}) | " + " | ".join(cells) + " |")
        overall = [statistics.fmean(run[j]["fidelity"] for j in range(replayed)) for run in runs]
        lines += ["", f"Mean fidelity over tasks 1-{replayed}: {mean_sem(overall, 100, 1)} %"]
    lines += ["", "## Per run: replay fidelity and the last task's final accuracy", ""]
    lines += [
        "| method | run | mean fidelity % | last task's final accuracy % |",
        "|---|---|---|---|",
    ]
    for name, run_dir, scores, last_task in per_run:
        fidelity = 100 * statistics.fmean(score["fidelity"] for score in scores)
        lines.append(f"| {name} | {run_dir.name} | {fidelity:.1f} | {last_task:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
