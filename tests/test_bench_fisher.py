"""hypercl.bench.fisher: both per-sample Fishers timed on the baseline's model, and equal."""

from __future__ import annotations

import pytest
import torch
from avalanche.training.utils import ParamData

from hypercl.bench.fisher import bench_fisher, max_rel_diff

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_fisher_times_both_implementations_which_agree(mnist_dir):
    rows: list[dict] = []
    bench_fisher(1, rows, {"split_mnist_cl1": 40}, block=16, data_dir=str(mnist_dir),
                 train_steps=2)  # fmt: skip
    fisher = {r["variant"]: r for r in rows if r["section"] == "fisher"}
    assert fisher.keys() == {"vmap", "linear", "data loading"}
    for r in fisher.values():
        assert (r["setting"], r["threads"], r["samples"]) == ("split_mnist_cl1", 1, 40)
        assert r["task_samples"] == 12665  # digits 0 and 1 of MNIST's training set
        assert r["seconds"] > 0
        assert r["task_seconds"] == pytest.approx(r["seconds"] / 40 * 12665)
    assert 0 <= fisher["linear"]["max_rel_diff"] < 1e-4
    (ratio,) = [r for r in rows if r["section"] == "fisher_ratio"]
    assert ratio["ratio"] == pytest.approx(fisher["vmap"]["seconds"] / fisher["linear"]["seconds"])


def test_max_rel_diff_is_relative_to_each_parameters_largest_entry():
    ref = {"a": ParamData("a", init_tensor=torch.tensor([4.0, 1.0])),
           "b": ParamData("b", init_tensor=torch.zeros(2))}  # fmt: skip
    out = {"a": ParamData("a", init_tensor=torch.tensor([4.0, 1.1])),
           "b": ParamData("b", init_tensor=torch.zeros(2))}  # fmt: skip
    assert max_rel_diff(out, ref) == pytest.approx(0.1 / 4)
    out["b"].data[0] = 1e-12  # a parameter with no importance at all must stay exactly 0
    assert max_rel_diff(out, ref) == float("inf")
