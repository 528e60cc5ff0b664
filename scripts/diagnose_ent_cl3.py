"""Diagnostics of a finished Split-MNIST CL3 HNET+ENT run, from its final checkpoint.

    python scripts/diagnose_ent_cl3.py RUN_DIR [--seed 1]

1. Entropy inference: per test task, how saturated the heads are (median |logit gap| of the
   task's own head) and how often two or more candidate embeddings have an entropy below
   1e-6 (a near tie decided by rounding); the confusion of inferred tasks (% of picks).
2. Regularizer precision: the fast and the direct output regularizer in float32 against the
   direct one in float64, value and gradient, with the snapshot at the checkpoint's weights
   and theta moved by random Gaussian steps of scale 1e-6 to 1e-2.

Used by results/official/README.md (the CL3 gap to the paper).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_train_run import compose_config  # noqa: E402

from hypercl.config import RegImpl  # noqa: E402
from hypercl.environment import seed_everything  # noqa: E402
from hypercl.experiment import build  # noqa: E402
from hypercl.methods.inference import entropy, head_logits  # noqa: E402
from hypercl.methods.regularizer import OutputRegularizer  # noqa: E402
from hypercl.nets.hnets import HyperNetwork  # noqa: E402


def entropy_report(learner, benchmark) -> None:
    """Saturation, near ties and the inferred-task confusion, per test task."""
    num_tasks = benchmark.num_tasks
    ids = torch.arange(num_tasks)
    weights = learner.hnet(ids)
    heads = ids % learner.heads.num_heads
    confusion = torch.zeros(num_tasks, num_tasks)
    for j, task in enumerate(benchmark.tasks):
        logits = head_logits(learner.target, task.x_test, weights, heads, learner.heads.head_size)
        ent = entropy(logits)  # [K, B]
        near_ties = ((ent < 1e-6).sum(0) >= 2).float().mean().item()
        gap = (logits[..., 0] - logits[..., 1]).abs()[j].median().item()
        picks = ent.argmin(0)
        confusion[j] = torch.bincount(picks, minlength=num_tasks).float() / len(picks) * 100
        print(f"task {j + 1}: median |logit gap| {gap:.1f}, near ties {100 * near_ties:.1f} %")
    print("inferred task, % of picks (rows: true task):")
    print(confusion.round())


def regularizer_and_grad(hnet: HyperNetwork, impl: RegImpl, shift: dict, num_prev: int):
    """The regularizer at theta + shift (snapshot at theta) and its gradient, flat."""
    reg = OutputRegularizer(impl=impl)
    reg.snapshot(hnet, num_prev)
    theta = {
        n: (p + shift[n].to(p.dtype)).detach().requires_grad_(True) for n, p in hnet.theta().items()
    }
    value = reg(hnet, theta)
    grads = torch.autograd.grad(value, list(theta.values()))
    return value.item(), torch.cat([g.flatten() for g in grads]).double()


def precision_report(hnet: HyperNetwork, num_prev: int) -> None:
    """Relative errors of fast and direct (float32) against direct in float64."""
    hnet64 = copy.deepcopy(hnet).double()
    gen = torch.Generator().manual_seed(0)
    for scale in (1e-6, 1e-4, 1e-2):
        shift = {
            n: scale * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            for n, p in hnet.theta().items()
        }
        v64, g64 = regularizer_and_grad(hnet64, RegImpl.direct, shift, num_prev)
        line = [f"step {scale:.0e}: reg {v64:.3g};"]
        for impl in (RegImpl.direct, RegImpl.fast):
            v, g = regularizer_and_grad(hnet, impl, shift, num_prev)
            rel_g = ((g - g64).norm() / g64.norm()).item()
            line.append(f"{impl.value} value {abs(v - v64) / v64:.1e} grad {rel_g:.1e};")
        print(" ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = compose_config(
        "experiment=split_mnist_cl3", f"seed={args.seed}", f"data_dir={args.data_dir}"
    )
    benchmark, method = build(cfg, seed_everything(args.seed), torch.device("cpu"))
    state = torch.load(args.run_dir / "checkpoint.pt", weights_only=False)
    num_tasks = benchmark.num_tasks
    method.load_state_dict(state["method"], num_tasks, False)
    learner = method.learner
    with torch.no_grad():
        entropy_report(learner, benchmark)
    precision_report(learner.hnet, num_tasks - 1)


if __name__ == "__main__":
    main()
