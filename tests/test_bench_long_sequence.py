"""The Permuted-MNIST-100 long-sequence benchmark (hypercl.bench.long_sequence)."""

from __future__ import annotations

from hypercl.bench.long_sequence import bench_long_sequence


def test_rows_cover_every_subset_and_previous_task_count():
    rows: list[dict] = []
    bench_long_sequence(1, rows, prev_tasks=(0, 1, 3), subsets=(2, None))
    assert [(r["variant"], r["previous_tasks"], r["task"]) for r in rows] == [
        ("reg_subset=2", 0, 1), ("reg_subset=2", 1, 2), ("reg_subset=2", 3, 4),
        ("all previous tasks", 0, 1), ("all previous tasks", 1, 2), ("all previous tasks", 3, 4),
    ]  # fmt: skip
    assert [r["ratio_to_task2"] for r in rows if r["task"] == 2] == [1.0, 1.0]
    assert all(r["setting"] == "perm_mnist100_cl1" and r["seconds"] > 0 for r in rows)
