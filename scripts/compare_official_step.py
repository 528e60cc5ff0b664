"""Numerical check of our Permuted-MNIST-10 HNET training step against the official code's.

Reading both codes side by side (results/official/comparison_perm.md) found no difference;
this script checks it by computation, on CPU, in four parts:

1. **Data.** For each of the first ``--tasks`` tasks, the official data handler's test
   images (``PermutedMNISTList``, padded, permuted, through its own transforms) against our
   ``perm_mnist`` benchmark's test images: the same multiset of float32 rows, bit for bit.
2. **Forward.** Our hypernetwork and target net, given the official networks' initial
   parameters, against the official ones: the generated weights of every task and the
   logits of a batch.
3. **Training.** From the same initial parameters and on the same batches (drawn by the
   official handler), the official ``train_class_one_t`` (called as it is; a stub handler
   hands it the batches) and our ``HNetLearner.train_step`` train ``--tasks`` tasks of
   ``--steps`` steps each (from task 2 on: regularizer targets, lookahead, beta 0.1).
   After each task: ``rel`` = ||u_ours - u_off|| / ||u_off||, u being each code's change of
   all hypernetwork parameters since the start. Controls: ours with the lookahead off, and
   ours without the regularizer (beta 0), show how far ``rel`` moves when one piece of the
   step differs; ours with the official lookahead formula and ours with the ``direct``
   regularizer (rounding only) show what the remaining difference is.
4. **Lookahead formula.** Along one full task of ours, how far the official lookahead
   formula's dtheta is from torch's, step by step (``--profile-task1-steps 0`` skips it).

Usage (venv active, the official copy set up by ``scripts/official_hypercl.sh setup``)::

    python scripts/compare_official_step.py --tasks 3 --steps 5 --seed 1 \
        --out results/official/perm_step_equivalence.md
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hypercl.bench.presets import load_config  # noqa: E402
from hypercl.config import LookaheadAdam, RegImpl  # noqa: E402
from hypercl.data.benchmarks import build_benchmark  # noqa: E402
from hypercl.environment import hardware_name  # noqa: E402
from hypercl.methods.learner import HNetLearner, build_learner  # noqa: E402
from hypercl.methods.lookahead import adam_lookahead, legacy_adam_lookahead  # noqa: E402
from hypercl.nets.heads import Heads  # noqa: E402

# Our learner's variants: changes of cfg.method. The official lookahead formula is the
# package's method.lookahead_adam=legacy (hypercl.methods.lookahead.legacy_adam_lookahead,
# tested against the official adam_step in tests/test_regularizer_learner.py).
VARIANTS = {
    "ours": {},
    "ours, official lookahead formula": {"lookahead_adam": LookaheadAdam.legacy},
    "ours, direct regularizer": {"reg_impl": RegImpl.direct},
    "ours, lookahead off": {"lookahead": False},
    "ours, beta 0": {"beta": 0.0},
}


def step_vector(ahead: list[torch.Tensor], theta: list[torch.Tensor]) -> torch.Tensor:
    """dtheta = theta + dtheta - theta, all parameters flat: [P]."""
    return torch.cat([(a - p.detach()).flatten() for a, p in zip(ahead, theta, strict=True)])


PROFILE_STEPS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def lookahead_profile(cfg, benchmark, seed: int, task1_steps: int) -> list[str]:
    """Our learner trains task 1 for ``task1_steps`` steps and task 2 for its full budget;
    at the steps in PROFILE_STEPS of task 2, both lookaheads from the same state and grads.
    Returns table rows: step, ||dtheta||, relative difference of the two."""
    torch.manual_seed(seed)
    heads = Heads(cfg.benchmark.num_tasks, benchmark.head_size)
    lrn = build_learner(cfg, benchmark.in_features, heads, cfg.benchmark.num_tasks,
                        torch.Generator().manual_seed(seed))  # fmt: skip
    rows = []
    for t, iters in ((0, task1_steps), (1, cfg.train.iters_per_task)):
        data = benchmark.tasks[t]
        lrn.begin_task(t, data)
        for i in range(1, iters + 1):
            x, y = data.train_batch(lrn.sampler.next())
            if t == 1 and i in PROFILE_STEPS:
                lrn.optimizer.zero_grad(set_to_none=True)
                lrn.task_loss(t, x, y).backward()
                theta = list(lrn.hnet.theta().values())
                d_ours = step_vector(adam_lookahead(lrn.optimizer, theta), theta)
                d_off = step_vector(legacy_adam_lookahead(lrn.optimizer, theta), theta)
                rel = float((d_ours - d_off).norm() / d_off.norm())
                rows.append(f"| {i} | {float(d_off.norm()):.4f} | {rel:.1e} |")
            lrn.train_step(t, lrn.optimizer, x, y)
    return rows


class _Writer:
    """The official code's tensorboard writer, doing nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class _FixedBatches:
    """Stands in for an official data handler inside ``train_class_one_t``: hands out the
    prepared batches (inputs already transformed by the official handler) in order."""

    def __init__(self, xs: list[torch.Tensor], ts: list[torch.Tensor]) -> None:
        self.xs, self.ts, self.i = xs, ts, 0

    def reset_batch_generator(self, *args, **kwargs) -> None:
        self.i = 0

    def next_train_batch(self, batch_size: int):
        i, self.i = self.i, self.i + 1
        return i, i

    def input_to_torch_tensor(self, i, device, mode="train"):
        return self.xs[i].to(device)

    def output_to_torch_tensor(self, i, device, mode="train"):
        return self.ts[i].to(device)


def official_modules(official_dir: Path):
    """Import the patched official code (its scripts expect to run from ``mnist/``)."""
    if not (official_dir / "mnist" / "train_splitMNIST.py").is_file():
        sys.exit(
            f"no official code at {official_dir}: run `scripts/official_hypercl.sh setup` "
            "(or pass --official-dir DIR, a patched copy of chrhenning/hypercl@e325678)"
        )
    os.chdir(official_dir / "mnist")
    sys.path[:0] = [str(official_dir), str(official_dir / "mnist")]
    from mnist import train_args, train_utils
    from mnist import train_splitMNIST as official
    from mnist.train_args_default import _set_default

    return train_args, train_utils, official, _set_default


def official_config(train_args, set_default, steps: int, seed: int):
    argv = ["--infer_task_id", "--cl_scenario", "1", "--n_iter", str(steps), "--no_cuda",
            "--random_seed", str(seed)]  # fmt: skip
    config = set_default(train_args.parse_cmd_arguments(mode="perm", argv=argv))
    # What run() sets before it trains the classifier of HNET+ENT in CL1.
    config.training_with_hnet, config.training_task_infer = True, False
    config.trained_replay_model, config.show_plots = False, False
    return config


# Our chunked hnet's shared parameters, in the order of the official ``theta`` (chunk embs,
# hidden W, b, W, b, output W, b); ours stores the output W transposed.
OUR_THETA = ["chunk_embs", "trunk.0.weight", "trunk.0.bias", "trunk.2.weight", "trunk.2.bias",
             "head.weight_t", "head.bias"]  # fmt: skip


def official_in_our_layout(hnet_off) -> list[torch.Tensor]:
    """The official hnet's parameters as ours hold them: OUR_THETA, then the task embeddings."""
    theta = [p.detach() for p in hnet_off.theta]
    theta[5] = theta[5].T  # output W [C, h] -> our W^T [h, C]
    return theta + [hnet_off.get_task_emb(i).detach() for i in range(hnet_off.num_task_embs)]


def ours_in_order(learner: HNetLearner) -> list[torch.Tensor]:
    """Our hnet's parameters: OUR_THETA, then the task embeddings."""
    params = dict(learner.hnet.named_parameters())
    return [params[n] for n in OUR_THETA] + list(learner.hnet.task_embs)


def copy_official_into_ours(hnet_off, learner: HNetLearner) -> None:
    """Our hnet's parameters := the official one's."""
    with torch.no_grad():
        for mine, theirs in zip(ours_in_order(learner), official_in_our_layout(hnet_off),
                                strict=True):  # fmt: skip
            mine.copy_(theirs)


def flat_official(hnet_off) -> torch.Tensor:
    """All official hnet parameters in our layout, flat: [P]."""
    return torch.cat([p.reshape(-1) for p in official_in_our_layout(hnet_off)])


def flat_ours(learner: HNetLearner) -> torch.Tensor:
    """All our hnet parameters, flat: [P] (the order of :func:`flat_official`)."""
    return torch.cat([p.detach().reshape(-1) for p in ours_in_order(learner)])


def row_multiset(x: torch.Tensor) -> list[bytes]:
    """The rows of x [N, D] as sorted byte strings (bit-exact, order-free)."""
    return sorted(bytes(r) for r in x.contiguous().numpy().view(np.uint8).reshape(len(x), -1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official-dir", type=Path, default=Path("/work/official/hypercl"))
    parser.add_argument("--data-dir", type=Path, default=REPO / "data")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile-task1-steps",
        type=int,
        default=300,
        help="part 4: task 1's steps before task 2's full budget (0: skip)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out.resolve() if args.out else None
    data_dir = args.data_dir.resolve()
    torch.set_num_threads(1)
    t_start = time.time()

    train_args, train_utils, official, set_default = official_modules(args.official_dir)
    config = official_config(train_args, set_default, args.steps, args.seed)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    dhandlers = train_utils._generate_tasks(config)
    device = torch.device("cpu")
    mnet, hnet_off = train_utils.generate_classifier(config, dhandlers, device)

    cfg = load_config("perm_mnist10_cl1")
    num_tasks = cfg.benchmark.num_tasks
    assert config.num_tasks == num_tasks, (config.num_tasks, num_tasks)
    lines = [f"- official config: n_iter {config.n_iter}, batch {config.batch_size}, class_lr "
             f"{config.class_lr}, class_lr_emb {config.class_lr_emb}, class_beta "
             f"{config.class_beta}, no_lookahead {config.no_lookahead}, hnet "
             f"{config.class_hnet_arch} (chunks {config.class_hyper_chunks}), temb "
             f"{config.class_temb_size}, cemb {config.class_emb_size}"]  # fmt: skip

    # 1. Data: the same test images per task.
    benchmark = build_benchmark(cfg.benchmark, data_dir, download=False)
    data_rows = []
    for t in range(args.tasks):
        dh = dhandlers[t]
        x_off = dh.input_to_torch_tensor(dh.get_test_inputs(), device, mode="inference")
        x_ours = torch.cat([x for x, _ in benchmark.tasks[t].test_batches(1000)])
        x_ours = x_ours.reshape(len(x_ours), -1)
        same = x_off.shape == x_ours.shape and row_multiset(x_off) == row_multiset(x_ours)
        y_off = np.sort(dh.get_test_outputs().argmax(1))
        y_same = np.array_equal(y_off, np.sort(benchmark.tasks[t].y_test.numpy()))
        data_rows.append(f"| {t + 1} | {tuple(x_off.shape)} | {same} | {y_same} |")

    # 2. Forward: the same initial parameters give the same weights and logits.
    heads = Heads(num_tasks, benchmark.head_size)
    learner = build_learner(cfg, benchmark.in_features, heads, num_tasks, torch.Generator())
    copy_official_into_ours(hnet_off, learner)
    assert torch.equal(flat_ours(learner), flat_official(hnet_off))
    ids = torch.arange(num_tasks)
    with torch.no_grad():
        w_ours = learner.hnet(ids)
        w_off = torch.stack(
            [torch.cat([w.reshape(-1) for w in hnet_off.forward(task_id=i)]) for i in ids]
        )
        x = dhandlers[0].input_to_torch_tensor(dhandlers[0].get_test_inputs()[:128], device)
        logits_ours = learner.target(x, w_ours[0])
        logits_off = mnet.forward(x, hnet_off.forward(task_id=0))
    w_diff = float((w_ours - w_off).abs().max() / w_off.abs().max())
    l_diff = float((logits_ours - logits_off).abs().max() / logits_off.abs().max())

    # 3. Training on the same batches.
    learners = {}
    for name, changes in VARIANTS.items():
        cfg_v = copy.deepcopy(cfg)  # the learner keeps cfg.method: one copy per variant
        for key, value in changes.items():
            setattr(cfg_v.method, key, value)
        lrn = build_learner(cfg_v, benchmark.in_features, heads, num_tasks, torch.Generator())
        copy_official_into_ours(hnet_off, lrn)
        learners[name] = lrn
    start = flat_official(hnet_off)
    train_rows = []
    writer = _Writer()
    for t in range(args.tasks):
        dh = dhandlers[t]
        dh.reset_batch_generator()
        batches = [dh.next_train_batch(config.batch_size) for _ in range(args.steps)]
        xs = [dh.input_to_torch_tensor(b[0], device, mode="train") for b in batches]
        ts = [dh.output_to_torch_tensor(b[1], device, mode="train") for b in batches]
        official.train_class_one_t(_FixedBatches(xs, ts), None, None, None,
                                   (mnet, hnet_off), device, config, writer, t)  # fmt: skip
        u_off = flat_official(hnet_off) - start
        row = [f"| {t + 1} | {float(u_off.norm()):.4g}"]
        u_vars = {}
        for name, lrn in learners.items():
            lrn.regularizer.snapshot(lrn.hnet, t if lrn.method.beta > 0 else 0)
            opt = lrn.make_optimizer(t)
            lrn.hnet.train()
            for x, target in zip(xs, ts, strict=True):
                lrn.train_step(t, opt, x, target.argmax(1))
            u_vars[name] = flat_ours(lrn) - start
            row.append(f"{float((u_vars[name] - u_off).norm() / u_off.norm()):.2e}")
        # Rounding alone: two of our variants that compute the same step in another order.
        floor = (u_vars["ours"] - u_vars["ours, direct regularizer"]).norm() / u_off.norm()
        row.append(f"{float(floor):.2e}")
        train_rows.append(" | ".join(row) + " |")

    profile = []
    if args.profile_task1_steps:
        profile = lookahead_profile(cfg, benchmark, args.seed, args.profile_task1_steps)
    seconds = time.time() - t_start
    text = "\n".join([
        "# Permuted-MNIST-10 HNET (CL1): our training step against the official code's, computed",
        "",
        f"Generated by `python scripts/compare_official_step.py --tasks {args.tasks} --steps "
        f"{args.steps} --seed {args.seed}` against `chrhenning/hypercl@e325678` (patched, "
        f"`scripts/official_hypercl.sh setup`); {hardware_name(device)}, 1 thread, torch "
        f"{torch.__version__}, {platform.python_version()}; {seconds:.0f} s. Seed {args.seed} "
        "draws the official networks' initial parameters; ours are copied from them.",
        "",
        *lines,
        "",
        "## 1. Data: test images of each task (official handler vs our benchmark)",
        "",
        "| task | shape | same float32 rows (as a multiset) | same labels |",
        "|---|---|---|---|",
        *data_rows,
        "",
        "## 2. Forward pass from the same parameters",
        "",
        f"- generated weights of all {num_tasks} tasks: max |ours - official| / max |official| "
        f"= {w_diff:.1e}",
        f"- logits of 128 test images of task 1: max |ours - official| / max |official| = "
        f"{l_diff:.1e}",
        "",
        f"## 3. Training: {args.steps} steps per task on the same batches",
        "",
        "`rel` = ||u_ours - u_official|| / ||u_official||, u = the change of all hypernetwork "
        "parameters (task embeddings included) since the common start. The last column is "
        "what float rounding alone gives: ours with the `fast` and with the `direct` "
        "regularizer (the same step, another order of operations), against each other. The "
        "two controls (lookahead off, beta 0) show what a real difference in the step gives.",
        "",
        "| after task | ||u_official|| | " + " | ".join(f"rel: {n}" for n in VARIANTS)
        + " | rounding alone: ours vs ours, direct regularizer |",
        "|---|---|" + "---|" * (len(VARIANTS) + 1),
        *train_rows,
        "",
        *([
            "## 4. The lookahead's two formulas along a task",
            "",
            f"Our learner alone (seed {args.seed}): task 1 for {args.profile_task1_steps} "
            f"steps, then task 2 for its {cfg.train.iters_per_task}; at a step of task 2, "
            "dtheta from the same optimizer state and gradients with torch's formula "
            "(ours) and with the official one; rel = ||dtheta_ours - dtheta_official|| / "
            "||dtheta_official||. Each task starts a fresh Adam state, so this repeats at "
            "every task.",
            "",
            "| step of task 2 | ||dtheta_official|| | rel |",
            "|---|---|---|",
            *profile,
            "",
        ] if profile else []),
    ])  # fmt: skip
    print(text)
    if out:
        out.write_text(text)


if __name__ == "__main__":
    main()
