"""Resume of the CIFAR smoke preset (ZenkeNet with per-task batch-norm statistics) at
every kill point."""

from __future__ import annotations

from resume_runs import assert_kill_chain_gives_the_uninterrupted_matrix


def test_cifar_killed_at_every_point_resumes_to_the_uninterrupted_matrix(tmp_path, cifar_dir):
    assert_kill_chain_gives_the_uninterrupted_matrix("cifar_smoke", tmp_path, cifar_dir)
