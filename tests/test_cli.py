"""The command line as a user runs it: bad overrides, a real run, a W&B multirun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from wandb_records import history_keys, run_info

REPO = Path(__file__).resolve().parent.parent


def hypercl_train(
    *overrides: str, data_dir: Path | None = None, cwd: Path = REPO, timeout: float = 900
):
    """``python -m hypercl.train`` as a user runs it, from ``cwd``; the jobs (also submitit's
    and joblib's worker processes) import hypercl from this checkout through PYTHONPATH."""
    env = dict(os.environ, WANDB_SILENT="true", HYDRA_FULL_ERROR="0")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    if data_dir is not None:
        env["HYPERCL_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "hypercl.train", *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_multirun_with_wandb_gives_two_offline_runs_in_one_group(tmp_path, mnist_dir):
    sweep = tmp_path / "sweep"
    proc = hypercl_train(
        "-m",
        "seed=1,2",
        "logger=wandb",
        "train.iters_per_task=3",
        f"hydra.sweep.dir={sweep}",
        data_dir=mnist_dir,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(sweep.glob("*/wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 2, list(sweep.rglob("*"))
    infos = [run_info(path) for path in runs]
    # one group per sweep: the experiment name and the sweep directory's name
    assert {info.run_group for info in infos} == {"split_mnist_cl1-sweep"}
    assert len({info.run_id for info in infos}) == 2
    # the loss every method logs, and the hypernetwork's two parts
    assert {"train/loss", "train/loss_task", "train/loss_reg"} <= history_keys(runs[0])
    seeds = sorted(json.loads((sweep / d / "results.json").read_text())["seed"] for d in "01")
    assert seeds == [1, 2]


def test_console_script_finds_its_configs_from_any_directory(tmp_path):
    script = Path(sys.executable).parent / "hypercl-train"
    proc = subprocess.run(
        [str(script), "experiment=perm_mnist10_cl3", "--cfg", "job"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "name: perm_mnist10_cl3" in proc.stdout and "scenario: cl3" in proc.stdout
