"""End to end on real MNIST with a small budget, through Hydra's composition."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from hypercl.config import Config, validate
from hypercl.environment import hardware_name
from hypercl.train import run

CONF = str(Path(__file__).resolve().parent.parent / "conf")

RESULT_KEYS = {
    "benchmark",
    "scenario",
    "method",
    "seed",
    "iters_per_task",
    "acc_matrix",
    "during_acc_mean",
    "final_acc_mean",
    "forgetting_mean",
    "bwt",
    "task_infer_acc_mean",
    "num_params_hnet",
    "num_params_target",
    "compression_ratio",
    "train_time_s",
    "device",
    "hardware",
    "versions",
    "git_commit",
}


def compose_config(*overrides: str) -> Config:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    config = OmegaConf.to_object(cfg)
    validate(config)
    return config


def test_default_is_split_mnist_cl1_with_paper_settings():
    cfg = compose_config()
    assert cfg.name == "split_mnist_cl1" and cfg.scenario == "cl1"
    assert cfg.benchmark.name == "split_mnist" and cfg.target.hidden == [400, 400]
    assert (cfg.hnet.kind, cfg.hnet.hidden, cfg.hnet.chunk_size) == ("chunked", [10, 10], 42000)
    assert (cfg.hnet.task_emb_dim, cfg.hnet.chunk_emb_dim) == (96, 96)
    assert (cfg.method.beta, cfg.method.lookahead) == (0.01, True)
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.iters_per_task) == (1e-3, 128, 2000)


@pytest.mark.parametrize("reg_targets", ["stored", "online"])
def test_small_split_mnist_run_learns_and_writes_outputs(tmp_path, mnist_dir, reg_targets):
    cfg = compose_config(
        f"data_dir={mnist_dir}",
        "train.iters_per_task=150",
        "seed=3",
        f"method.reg_targets={reg_targets}",
    )
    results = run(cfg, tmp_path)
    assert RESULT_KEYS <= results.keys()
    assert results["final_acc_mean"] >= 95.0, results["acc_matrix"]
    assert results["num_params_target"] == 478410 and results["num_params_hnet"] == 465672
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["acc_matrix"] == results["acc_matrix"]
    assert on_disk["task_infer_acc_mean"] is None and on_disk["iters_per_task"] == 150
    assert on_disk["hardware"] == hardware_name(torch.device("cpu")) != ""
    rows = list(csv.reader((tmp_path / "accuracy_matrix.csv").open()))
    assert rows[0] == ["after_task", "task_1", "task_2", "task_3", "task_4", "task_5"]
    assert rows[5][1] == f"{results['acc_matrix'][4][0]:.2f}" and rows[1][2] == ""
    assert (tmp_path / "accuracy_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_same_seed_same_accuracy_matrix(tmp_path, mnist_dir):
    cfg = compose_config(f"data_dir={mnist_dir}", "train.iters_per_task=20", "seed=5")
    matrices = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        matrices.append(run(cfg, tmp_path / name)["acc_matrix"])
    assert matrices[0] == matrices[1]


@pytest.mark.parametrize(
    "experiment,overrides,num_tasks,min_acc,min_infer",
    [
        # Measured (seed 1, CPU, 2 threads): final accuracies 79.6 22.1 91.0 85.8 26.8, mean
        # 61.05 (chance 10 %); task inference 79.6 22.1 91.0 85.8 26.8, mean 61.1 (chance 20 %).
        ("split_mnist_cl3", ["train.iters_per_task=100"], 5, 50.0, 50.0),
        # Measured: final 87.0 86.0, mean 86.5 (chance 10 %); task inference 94.5 99.1, mean
        # 96.8 (chance 50 %).
        ("perm_mnist10_cl2", ["benchmark.num_tasks=2", "train.iters_per_task=60"], 2, 80.0, 85.0),
    ],
)
def test_task_inference_scenarios_end_to_end(
    tmp_path, mnist_dir, experiment, overrides, num_tasks, min_acc, min_infer
):
    cfg = compose_config(f"experiment={experiment}", f"data_dir={mnist_dir}", *overrides)
    results = run(cfg, tmp_path)
    assert results["scenario"] == experiment[-3:]
    assert len(results["task_infer_acc"]) == num_tasks
    assert results["task_infer_acc_mean"] == pytest.approx(
        sum(results["task_infer_acc"]) / num_tasks
    )
    assert results["task_infer_acc_mean"] >= min_infer, results["task_infer_acc"]
    assert results["final_acc_mean"] >= min_acc, results["acc_matrix"]
    if results["scenario"] == "cl3":  # one head per task: a hit needs the right task
        final = results["acc_matrix"][-1]
        assert all(a <= t for a, t in zip(final, results["task_infer_acc"], strict=True))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["task_infer_acc"] == results["task_infer_acc"]


def test_wandb_run_is_finished_with_failure_when_training_crashes(tmp_path, mnist_dir, monkeypatch):
    from wandb_records import read_records

    from hypercl.methods.learner import HNetLearner

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(HNetLearner, "train_task", crash)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose_config(f"data_dir={mnist_dir}", "logger=wandb", "train.iters_per_task=2")
    with pytest.raises(RuntimeError, match="boom"):
        run(cfg, tmp_path, {"seed": cfg.seed})
    (run_file,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    exits = [r.exit for r in read_records(run_file) if r.WhichOneof("record_type") == "exit"]
    assert [e.exit_code for e in exits] == [1]
    assert not (tmp_path / "results.json").exists()
