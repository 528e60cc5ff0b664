"""Resume of a regularization baseline (EWC on Avalanche: Fisher, anchors, optimizer) at
every kill point; a baseline resumes from the start of the task it was in."""

from __future__ import annotations

from resume_runs import assert_kill_chain_gives_the_uninterrupted_matrix


def test_ewc_killed_at_every_point_resumes_to_the_uninterrupted_matrix(tmp_path, mnist_dir):
    assert_kill_chain_gives_the_uninterrupted_matrix("ewc_cl1", tmp_path, mnist_dir)
