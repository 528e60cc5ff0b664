"""Resume of the hypernetwork (CL1, CL3) at every kill point; SIGTERM and SIGINT
checkpoint and exit with a message; old-format checkpoints are refused."""

from __future__ import annotations

import pytest
import torch
from resume_runs import CONFIGS, assert_kill_chain_gives_the_uninterrupted_matrix, results, train


@pytest.mark.parametrize("name", ["hnet_cl1", "hnet_cl3"])
def test_killed_at_every_point_resumes_to_the_uninterrupted_matrix(name, tmp_path, mnist_dir):
    assert_kill_chain_gives_the_uninterrupted_matrix(name, tmp_path, mnist_dir)


@pytest.mark.parametrize("signal", ["TERM", "INT"])
def test_sigterm_and_sigint_checkpoint_and_say_how_to_resume(signal, tmp_path, mnist_dir):
    args, _ = CONFIGS["hnet_cl1"]
    run_dir = tmp_path / "run"
    proc = train(args, run_dir, mnist_dir, kill_at="task2:step13", signal=signal)
    assert proc.returncode == {"TERM": 143, "INT": 130}[signal], proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"hypercl: interrupted: SIG{signal} received; the run stopped at task 2, step 13 "
        f"with its checkpoint in {run_dir / 'checkpoint.pt'}. To resume, run the same "
        f"command again with the same run directory ({run_dir})."
    )
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert state["progress"] == {"task": 1, "step": 13, "phase": "train"}
    assert not (run_dir / "results.json").exists()
    if signal == "TERM":  # the resume itself: as after any mid-task checkpoint
        assert train(args, run_dir, mnist_dir).returncode == 0
        assert train(args, tmp_path / "reference", mnist_dir).returncode == 0
        assert results(run_dir)["acc_matrix"] == results(tmp_path / "reference")["acc_matrix"]


def test_a_checkpoint_from_before_progress_phases_is_refused(tmp_path, mnist_dir):
    args, _ = CONFIGS["hnet_cl1"]
    run_dir = tmp_path / "run"
    assert train(args, run_dir, mnist_dir, kill_at="task1:done").returncode == -9
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    del state["format"]
    torch.save(state, run_dir / "checkpoint.pt")
    proc = train(args, run_dir, mnist_dir)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"hypercl: run directory error: {run_dir / 'checkpoint.pt'} was written by an older "
            "hypercl whose checkpoints do not say whether a task had finished"
        )
    )
