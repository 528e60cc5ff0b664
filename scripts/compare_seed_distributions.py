"""Split-MNIST or Permuted-MNIST-10 runs at full budget (HNET+ENT, HNET+R or DGR+distill)
from several codes (versions of ours, the official one): are their final accuracies over
seeds the same distribution?

Two steps, so that every number in the table comes from run summaries:

    python scripts/compare_seed_distributions.py add CSV LABEL RUN_DIR... [--scenario cl3]
            [--method hnet|hnet_replay|dgr] [--task K]
        appends one row per run directory (its results.json): label, commit, fingerprint,
        seed, final accuracy (mean over tasks, or on task K alone), device, threads;
    python scripts/compare_seed_distributions.py add-official CSV LABEL OFFICIAL [--scenario S]
            [--task K] [--benchmark split|perm]
        appends the full-budget rows of that scenario from the official code's runs
        (``results/official/split_mnist_ent.csv``, ``split_mnist_r.csv`` or, with
        ``--benchmark perm``, ``perm_mnist10_ent.csv``, written by
        ``scripts/official_hypercl.sh``);
    python scripts/compare_seed_distributions.py table CSV [--before L ...] [--after L ...] > MD
        writes a markdown table, mean ± SEM per label, and compares the pooled runs of the
        ``--before`` labels with those of the ``--after`` labels: difference, combined SEM,
        Welch's t-test and a two-sided permutation test (seeded, 100,000 permutations).

``results/official/ent_cl3_code_versions.{csv,md}``, ``ent_cl*_official.{csv,md}``,
``r_cl1_official.{csv,md}`` and ``r_cl1_task5.{csv,md}`` are made this way (the commands are
in each file's head).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy import stats

FIELDS = [
    "label",
    "git_commit",
    "code_fingerprint",
    "seed",
    "final_acc_mean",
    "device",
    "num_threads",
    "measure",
]
MEAN = "mean over tasks"


METHOD_NAMES = {"hnet": "HNET+ENT", "hnet_replay": "HNET+R", "dgr": "DGR+distill"}
# The paper's iterations per task, by the benchmark field of results.json.
FULL_BUDGET = {"split_mnist": 2000, "perm_mnist": 5000}
BENCHMARK_NAMES = {"split_mnist": "Split-MNIST", "perm_mnist": "Permuted-MNIST"}


def measure_name(task: int | None) -> str:
    return MEAN if task is None else f"task {task}"


def add(
    csv_path: Path,
    label: str,
    run_dirs: list[Path],
    scenario: str,
    method: str = "hnet",
    task: int | None = None,
) -> None:
    """Append a row per run directory; a directory without results.json is an error.
    ``task`` (1-based): record the final accuracy on that task instead of the mean."""
    rows = []
    for run_dir in run_dirs:
        summary = run_dir / "results.json"
        if not summary.is_file():
            sys.exit(f"{summary} does not exist: the run has not finished")
        r = json.loads(summary.read_text())
        bench = r.get("benchmark", "split_mnist")
        if (r.get("scenario"), r.get("method"), r.get("iters_per_task")) != (
            scenario,
            method,
            FULL_BUDGET.get(bench),
        ):
            name = METHOD_NAMES[method]
            where = BENCHMARK_NAMES.get(bench, bench)
            sys.exit(f"{summary} is not a full-budget {where} {scenario} {name} run")
        value = r["final_acc_mean"] if task is None else r["final_acc"][task - 1]
        rows.append(
            {
                "label": label,
                "git_commit": r.get("git_commit", "")[:7],
                "code_fingerprint": r.get("code_fingerprint", ""),
                "seed": r["seed"],
                "final_acc_mean": f"{value:.4f}",
                "device": r.get("device", ""),
                "num_threads": r.get("num_threads", ""),
                "measure": measure_name(task),
            }
        )
    append(csv_path, rows)


def add_official(
    csv_path: Path,
    label: str,
    official_csv: Path,
    scenario: str,
    task: int | None = None,
    benchmark: str = "split_mnist",
) -> None:
    """Append the official code's full-budget runs (:data:`FULL_BUDGET` it/task) of
    ``scenario``."""
    full = str(FULL_BUDGET[benchmark])
    rows = [
        {
            "label": label,
            "git_commit": "e325678",
            "code_fingerprint": "",
            "seed": r["seed"],
            "final_acc_mean": r["acc_final_mean"]
            if task is None
            else r["acc_final_per_task"].split()[task - 1],
            "device": "cpu",
            "num_threads": 1,
            "measure": measure_name(task),
        }
        for r in csv.DictReader(official_csv.open())
        if r["scenario"] == scenario and r["n_iter"] == full
    ]
    if not rows:
        sys.exit(f"{official_csv} has no full-budget {scenario} run")
    append(csv_path, rows)


def append(csv_path: Path, rows: list[dict]) -> None:
    """Append rows; a CSV written before the ``measure`` column holds means only."""
    fields = FIELDS
    if csv_path.exists():
        with csv_path.open() as f:
            fields = next(csv.reader(f))
        if "measure" not in fields and any(r["measure"] != MEAN for r in rows):
            sys.exit(f"{csv_path} holds means over tasks only: write other measures to a new CSV")
    with csv_path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore", lineterminator="\n")
        if f.tell() == 0:
            writer.writeheader()
        writer.writerows(rows)


def mean_sem(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) / len(values) ** 0.5


def permutation_p(a: list[float], b: list[float], n: int = 100_000, seed: int = 0) -> float:
    """Two-sided p of |mean(a) - mean(b)| under random relabelling."""
    rng = np.random.default_rng(seed)
    pooled = np.array(a + b)
    observed = abs(np.mean(a) - np.mean(b))
    perms = np.argsort(rng.random((n, len(pooled))), axis=1)
    shuffled = pooled[perms]
    diffs = np.abs(shuffled[:, : len(a)].mean(1) - shuffled[:, len(a) :].mean(1))
    return float((np.sum(diffs >= observed - 1e-12) + 1) / (n + 1))


def table(csv_path: Path, before: list[str], after: list[str]) -> str:
    rows = list(csv.DictReader(csv_path.open()))
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    measures = {row.get("measure") or MEAN for row in rows}
    if len(measures) != 1:
        sys.exit(f"{csv_path} mixes measures ({', '.join(sorted(measures))}): one per table")
    what = "final acc. per seed" + ("" if measures == {MEAN} else f" ({measures.pop()})")
    lines = [
        f"| code | n | seeds | {what} | mean ± SEM | SD |",
        "|---|---|---|---|---|---|",
    ]
    for label, group in by_label.items():
        group.sort(key=lambda r: int(r["seed"]))
        accs = [float(r["final_acc_mean"]) for r in group]
        m, s = mean_sem(accs)
        seeds = [int(r["seed"]) for r in group]
        span = (
            f"{min(seeds)}-{max(seeds)}"
            if seeds == list(range(min(seeds), max(seeds) + 1))
            else ", ".join(map(str, seeds))
        )
        per_seed = ", ".join(f"{a:.2f}" for a in accs)
        sd = statistics.stdev(accs)
        lines.append(
            f"| {label} | {len(accs)} | {span} | {per_seed} | {m:.2f} ± {s:.2f} | {sd:.2f} |"
        )
    if before and after:
        a = [float(r["final_acc_mean"]) for lab in before for r in by_label.get(lab, [])]
        b = [float(r["final_acc_mean"]) for lab in after for r in by_label.get(lab, [])]
        (ma, sa), (mb, sb) = mean_sem(a), mean_sem(b)
        combined = (sa**2 + sb**2) ** 0.5
        welch = stats.ttest_ind(a, b, equal_var=False)
        lines += [
            "",
            f"Pooled: {' + '.join(before)} (n {len(a)}) {ma:.2f} ± {sa:.2f} against "
            f"{' + '.join(after)} (n {len(b)}) {mb:.2f} ± {sb:.2f}: difference {ma - mb:.2f} "
            f"points, {(ma - mb) / combined:.1f} combined SEM; Welch's t-test p = "
            f"{welch.pvalue:.3f}; permutation test p = {permutation_p(a, b):.3f} "
            "(two-sided, 100,000 permutations, seed 0).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_add = sub.add_parser("add", help="append run summaries to CSV under LABEL")
    p_add.add_argument("csv", type=Path)
    p_add.add_argument("label")
    p_add.add_argument("run_dirs", type=Path, nargs="+")
    p_add.add_argument("--scenario", default="cl3", choices=["cl1", "cl2", "cl3"])
    p_add.add_argument("--method", default="hnet", choices=list(METHOD_NAMES))
    p_add.add_argument("--task", type=int, help="the final accuracy on this task (1-based)")
    p_off = sub.add_parser("add-official", help="append the official code's runs to CSV")
    p_off.add_argument("csv", type=Path)
    p_off.add_argument("label")
    p_off.add_argument("official_csv", type=Path)
    p_off.add_argument("--scenario", default="cl3", choices=["cl1", "cl2", "cl3"])
    p_off.add_argument("--task", type=int, help="the final accuracy on this task (1-based)")
    p_off.add_argument("--benchmark", default="split", choices=["split", "perm"])
    p_table = sub.add_parser("table", help="markdown table of CSV (stdout)")
    p_table.add_argument("csv", type=Path)
    p_table.add_argument("--before", nargs="*", default=[])
    p_table.add_argument("--after", nargs="*", default=[])
    args = parser.parse_args()
    if args.cmd == "add":
        add(args.csv, args.label, args.run_dirs, args.scenario, args.method, args.task)
    elif args.cmd == "add-official":
        bench = {"split": "split_mnist", "perm": "perm_mnist"}[args.benchmark]
        add_official(args.csv, args.label, args.official_csv, args.scenario, args.task, bench)
    else:
        sys.stdout.write(table(args.csv, args.before, args.after))


if __name__ == "__main__":
    main()
