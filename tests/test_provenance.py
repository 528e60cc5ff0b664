"""The generated provenance section of the tables (hypercl/report/provenance.py): one row per
table row with seeds, commits, fingerprints, code status, device and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from test_tables import _results

from hypercl.report.provenance import compact_seeds, train_command
from hypercl.report.runs import STALE
from hypercl.report.tables import build

CURRENT = "c0ffee000000"
COMMIT_A, COMMIT_B = "aaaaaaa" + "1" * 33, "bbbbbbb" + "2" * 33


XEON = "Intel(R) Xeon(R) Processor"
H200 = "NVIDIA H200 (host CPU: AMD EPYC 9454)"


def _write(runs: Path, method: str, scenario: str, seed: int, overrides, **fields) -> None:
    """A results.json (``fields`` set to None: left out) and, unless ``overrides`` is None,
    .hydra/overrides.yaml (experiment, method, seed, then ``overrides``)."""
    d = runs / f"split_mnist_{scenario}" / method / f"seed{seed}"
    (d / ".hydra").mkdir(parents=True)
    run = _results(method, scenario, seed, 90.0 + seed, 2000)
    run.update({"code_fingerprint": CURRENT, "num_threads": 1, "git_commit": COMMIT_A})
    run.update({"hardware": XEON, **fields})
    for key in [k for k, v in fields.items() if v is None]:
        del run[key]  # a field an older results.json did not have
    (d / "results.json").write_text(json.dumps(run))
    if overrides is not None:
        lines = [f"experiment=split_mnist_{scenario}", f"method={method}", f"seed={seed}"]
        lines += overrides
        (d / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in lines))


def test_provenance_rows_are_exact(tmp_path):
    runs = tmp_path / "runs"
    for seed in (1, 2, 3, 5):  # seeds 1-3 at one commit, 5 at another
        _write(
            runs, "hnet", "cl2", seed, ["num_threads=1"], git_commit=[COMMIT_A, COMMIT_B][seed > 3]
        )
    _write(runs, "ewc", "cl1", 1, ["num_threads=1"])
    # older: no overrides, no fingerprint, no hardware
    _write(runs, "ewc", "cl1", 2, None, code_fingerprint=None, hardware=None)
    _write(
        runs, "finetune", "cl1", 1, ["num_threads=1"], device="cuda", num_threads=2, hardware=H200
    )
    _write(runs, "finetune", "cl1", 2, ["num_threads=1", "train.lr=0.01"], git_commit=None)
    paths = build(runs, tmp_path / "out", "t", current_fingerprint=CURRENT)
    md = paths["markdown"].read_text()
    cmd = "python -m hypercl.train experiment=split_mnist_{} method={} seed=<seed> num_threads=1"
    assert (
        f"| CL1 | finetune | 2000 | 2 | 1-2 | aaaaaaa ×1, not recorded ×1 | {CURRENT} | current "
        f"| cuda ({H200}), 2 threads ×1, cpu ({XEON}), 1 thread ×1 "
        f"| `{cmd.format('cl1', 'finetune')}` (seeds 1); "
        f"`{cmd.format('cl1', 'finetune')} train.lr=0.01` (seeds 2) |\n"
        f"| CL1 | ewc | 2000 | 2 | 1-2 | aaaaaaa | {CURRENT} ×1, not recorded ×1 "
        f"| {STALE}: 1 of 2 runs | cpu ({XEON}), 1 thread ×1, "
        "cpu (model not recorded), 1 thread ×1 "
        f"| `{cmd.format('cl1', 'ewc')}` (seeds 1); not recorded (seeds 2) |\n"
        f"| CL2 | hnet | 2000 | 4 | 1-3 5 | aaaaaaa ×3, bbbbbbb ×1 | {CURRENT} | current "
        f"| cpu ({XEON}), 1 thread | `{cmd.format('cl2', 'hnet')}` |\n"
    ) in md
    # after the per-method tables, one row per table row, in the table's order
    assert md.index("## Split-MNIST (5 tasks)") < md.index("## Provenance")
    table = pd.read_csv(paths["csv"])
    csv = pd.read_csv(paths["provenance_csv"], keep_default_na=False)
    assert list(csv["method"]) == list(table["method"]) == ["finetune", "ewc", "hnet"]
    assert csv.iloc[2].to_dict() == {
        "benchmark": "split_mnist",
        "num_tasks": 5,
        "scenario": "cl2",
        "method": "hnet",
        "iters_per_task": 2000,
        "reduced": False,
        "n": 4,
        "seeds": "1-3 5",
        "commits": "aaaaaaa ×3, bbbbbbb ×1",
        "fingerprints": CURRENT,
        "code": "current",
        "device": f"cpu ({XEON}), 1 thread",
        "command": cmd.format("cl2", "hnet"),
    }
    assert "\r" not in paths["provenance_csv"].read_text()


def test_seeds_compaction_and_command():
    assert compact_seeds([5, 3, 1, 2]) == "1-3 5"
    assert compact_seeds([1, 2, 4, 5, 7, 10]) == "1-2 4-5 7 10"
    assert compact_seeds([4]) == "4"
    assert train_command(None) == "not recorded"
    # no seed among the overrides (the default seed): it is added; quoting for the shell
    assert train_command(["experiment=split_mnist_cl1", "hydra.sweep.subdir=${name}/x"]) == (
        "python -m hypercl.train experiment=split_mnist_cl1 'hydra.sweep.subdir=${name}/x' "
        "seed=<seed>"
    )
    assert (
        train_command(["+seed=3", "method=si"]) == "python -m hypercl.train seed=<seed> method=si"
    )
