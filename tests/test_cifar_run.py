"""The CIFAR smoke presets end to end on real CIFAR, on the CPU."""

import json

import pytest
from test_cli import hypercl_train
from test_train_run import compose_config

from hypercl.train import run


def test_resnet32_smoke_preset_through_the_command_line(tmp_path, cifar_dir):
    proc = hypercl_train(
        "experiment=split_cifar10_100_resnet32_smoke",
        "device=cpu",
        "num_threads=1",
        f"hydra.run.dir={tmp_path}",
        data_dir=cifar_dir,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["benchmark"] == "split_cifar10_100"
    assert (results["experiment"], results["target"]) == (
        "split_cifar10_100_resnet32_smoke",
        "resnet32",
    )
    assert (results["epochs_per_task"], results["train_subset"], results["test_subset"]) == (
        3,
        480,
        200,
    )
    assert results["method_hparams"] == {"beta": 0.05}
    # 2 tasks: the target has 2 heads of 10 (468,540 - 4 x 650 with the preset's 6 tasks).
    assert results["num_params_target"] == 468540 - 4 * 650
    assert results["task_iters"] == [3 * (432 // 32)] * 2  # 480 - 10% validation, batch 32
    assert len(results["val_acc_matrix"]) == 2 and results["val_acc_matrix"][1][0] is not None
    assert all(0 <= a <= 100 for a in results["acc_matrix"][1])


def test_zenkenet_smoke_preset_runs(tmp_path, cifar_dir):
    cfg = compose_config(
        "experiment=split_cifar10_100_zenkenet_smoke",
        f"data_dir={cifar_dir}",
        "device=cpu",
        "num_threads=1",
    )
    results = run(cfg, tmp_path)
    assert results["task_iters"] == [3 * (512 // 64)] * 2
    assert results["num_params_target"] == 1276508 - 4 * 5130
    assert "val_acc_matrix" not in results
    assert results["final_acc_mean"] == pytest.approx(sum(results["acc_matrix"][1]) / 2, rel=1e-12)
