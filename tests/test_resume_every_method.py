"""Every method resumes: a run stopped by SIGTERM in the middle of task 2 (sent by the
process to itself at a named point, see :func:`hypercl.experiment.kill_point`) and run
again ends with the uninterrupted run's accuracy matrix, bit for bit. In-process, so each
method costs three small runs and no interpreter start."""

from __future__ import annotations

import pytest
from test_train_run import compose_config

from hypercl.experiment import run
from hypercl.progress import Interrupted

SMALL = ("experiment=split_mnist_cl1", "seed=2", "num_threads=1", "train.iters_per_task=8")
METHODS = {
    "finetune_one_adam": ("method=finetune", "method.reset_optimizer=false"),
    "online_ewc": ("method=online_ewc", "method.fisher_batch_size=128"),  # cheap Fisher
    "si": ("method=si",),
    "lwf": ("method=lwf",),
    "replay": ("method=replay", "method.replay_mem_size=100"),
    "separate": ("method=separate",),
    "lora": ("method=lora",),
    "joint": ("method=joint",),
    "from_scratch": ("method.name=from_scratch", "method.beta=0"),
    "hnet_cl3": ("experiment=split_mnist_cl3", "train.checkpoint_every=3"),
    # generative replay: resume from the task's start (classifier, inference net and VAE)
    "hnet_tir_cl3": ("experiment=split_mnist_cl3", "method.task_inference=tir"),
    "hnet_replay_cl3": ("experiment=split_mnist_cl3", "method=hnet_replay"),
    "dgr": ("method=dgr",),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_stopped_in_task_2_and_resumed_gives_the_uninterrupted_matrix(
    name, tmp_path, mnist_dir, monkeypatch
):
    cfg = compose_config(*SMALL, *METHODS[name], f"data_dir={mnist_dir}")
    (tmp_path / "reference").mkdir()
    reference = run(cfg, tmp_path / "reference")
    point = "task5:step13" if name == "joint" else "task2:step5"  # joint: one training
    monkeypatch.setenv("HYPERCL_KILL_AT", point)
    monkeypatch.setenv("HYPERCL_KILL_SIGNAL", "TERM")
    (tmp_path / "run").mkdir()
    # joint's one training has no checkpoint before it: a re-run starts over
    stopped = "before its first checkpoint" if name == "joint" else "at "
    with pytest.raises(Interrupted, match=f"SIGTERM received; the run stopped {stopped}"):
        run(cfg, tmp_path / "run")
    monkeypatch.delenv("HYPERCL_KILL_AT")
    resumed = run(cfg, tmp_path / "run")
    assert resumed["resumed"] is (name != "joint")
    assert resumed["acc_matrix"] == reference["acc_matrix"]


PHASES = [  # (method, kill point in a phase the loop does not step)
    ("hnet_tir_cl3", "task2:task-inference net step5"),
    ("hnet_tir_cl3", "task2:VAE step5"),
    ("hnet_replay_cl3", "task2:VAE step5"),
    ("dgr", "task2:VAE step5"),
]


@pytest.mark.parametrize(("name", "point"), PHASES)
def test_sigterm_in_a_replay_phase_stops_at_once_and_resumes_from_the_task_start(
    name, point, tmp_path, mnist_dir, monkeypatch
):
    """The stop comes after that phase's step (the checkpoint kept is task 1's end, not
    task 2's trained state), and the resumed run gives the uninterrupted matrix."""
    cfg = compose_config(*SMALL, *METHODS[name], f"data_dir={mnist_dir}")
    (tmp_path / "reference").mkdir()
    reference = run(cfg, tmp_path / "reference")
    monkeypatch.setenv("HYPERCL_KILL_AT", point)
    monkeypatch.setenv("HYPERCL_KILL_SIGNAL", "TERM")
    (tmp_path / "run").mkdir()
    stopped = r"SIGTERM received; the run stopped at the end of task 1 \(evaluated\)"
    with pytest.raises(Interrupted, match=stopped):
        run(cfg, tmp_path / "run")
    monkeypatch.delenv("HYPERCL_KILL_AT")
    resumed = run(cfg, tmp_path / "run")
    assert resumed["acc_matrix"] == reference["acc_matrix"]
