"""Seeds as a batch dimension: do N independent training steps cost less as one batched step?

Sequential: N learners (their own initialisation, optimizer and batch), each taking
:meth:`HNetLearner.train_step` in turn. Batched (:class:`BatchedSeedsStep`): the same N
hypernetworks with every parameter stacked along a new leading dim [N, ...], one step
written with batched GEMMs (``baddbmm``/``bmm``) over that dim::

    Z      = trunk([e_t; chunk_embs])               # [N, R, h]
    W      = Z @ W_head^T + b_head                  # [N, R * C] target weights per seed
    L_task = sum_n CE(MLP(x_n; W_n)[:, head_t], y_n)   # x: [N, B, ...], y: [N, B]
    dtheta = Adam's next step on the task grads      # lookahead, one fused pass for all N
    reg    = sum_n Gram form of ||H_n(e_j) - H*_n(e_j)||^2 / |S|   (fast regularizer)
    (beta * reg).backward(); Adam step               # one fused Adam over [N, ...] tensors

Adam is elementwise, so one optimizer over stacked tensors is N independent Adams, and the
loss is a sum of per-seed losses, so every seed's gradient is its own: the batched step
gives each seed the parameters its own sequential step gives (checked by
``tests/test_bench_batched_seeds.py``). Covers chunked hypernetworks with an MLP target
and the fast, stored regularizer (the MNIST presets).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hypercl.bench.device import current_device
from hypercl.bench.presets import SETTINGS, load_config, steps_per_repeat
from hypercl.bench.timing import interleaved_medians
from hypercl.config import RegImpl
from hypercl.methods.learner import HNetLearner, build_learner
from hypercl.methods.lookahead import lookahead_params
from hypercl.nets.heads import Heads
from hypercl.nets.hnets import ChunkedHyperNetwork


def make_learners(experiment: str, seeds: list[int], num_tasks: int = 10) -> list[HNetLearner]:
    """One learner of the preset per seed (its own initialisation), fast regularizer."""
    cfg = load_config(experiment)
    cfg.method.reg_impl = RegImpl.fast
    input_shape, head_size = SETTINGS[experiment]
    in_features = int(torch.Size(input_shape).numel())
    learners = []
    for seed in seeds:
        torch.manual_seed(seed)
        learners.append(
            build_learner(
                cfg,
                in_features,
                Heads(num_tasks, head_size),
                num_tasks,
                torch.Generator().manual_seed(seed),
                current_device(),
                input_shape,
            )  # fmt: skip
        )
    return learners


class BatchedSeedsStep:
    """N learners' hypernetworks stacked along dim 0, trained on task ``task_id`` with
    ``task_id`` previous tasks regularized, one batched step per call.

    Args:
        learners: N learners of one preset, each with its regularizer's snapshot taken
            (``regularizer.snapshot(hnet, task_id)``); their parameters are copied.
    """

    def __init__(self, learners: list[HNetLearner], task_id: int) -> None:
        first = learners[0]
        hnet = first.hnet
        if not isinstance(hnet, ChunkedHyperNetwork) or first.target.has_buffers:
            raise ValueError("batched seeds cover chunked hypernetworks with an MLP target")
        self.task_id, self.num_seeds = task_id, len(learners)
        self.method, self.heads, self.target = first.method, first.heads, first.target
        self.last_width, self.num_rows = hnet.last_row_width, hnet.num_rows
        self.linears = [m for m in hnet.trunk if isinstance(m, nn.Linear)]
        self.hnet_act = next((m for m in hnet.trunk if not isinstance(m, nn.Linear)), None)
        self.target_act = [m for m in first.target.template if not isinstance(m, nn.Linear)][-1]

        def stack(get) -> torch.Tensor:
            return torch.stack([get(learner).detach() for learner in learners]).clone()

        names = list(hnet.theta())
        self.theta = {n: nn.Parameter(stack(lambda lr, n=n: lr.hnet.theta()[n])) for n in names}
        self.emb = nn.Parameter(stack(lambda lr: lr.hnet.task_embs[task_id]))  # [N, e]
        self.prev_embs = stack(  # [N, S, e], frozen
            lambda lr: torch.stack([lr.hnet.task_embs[j] for j in range(task_id)])
        )
        regs = [learner.regularizer for learner in learners]
        self.num_prev = regs[0].num_prev
        if self.num_prev != task_id or regs[0].impl != RegImpl.fast:
            raise ValueError("take each learner's fast regularizer snapshot of the task first")
        self.rows_ref = torch.stack([r.snap["rows"] for r in regs])  # [N, S, R, h]
        self.w_ref_t = torch.stack([r.snap["head.weight_t"] for r in regs])  # [N, h, C]
        self.b_ref = torch.stack([r.snap["head.bias"] for r in regs])  # [N, C]
        self.gram_ref = torch.stack([r.grams[0] for r in regs])  # [N, h, h]
        self.gram_ref_tail = torch.stack([r.grams[1] for r in regs])
        lr_cfg = first.train_cfg
        self.optimizer = torch.optim.Adam(
            [*self.theta.values(), self.emb], lr=lr_cfg.lr,
            betas=(lr_cfg.adam_beta1, 0.999), fused=True,
        )  # fmt: skip

    def rows(self, theta: dict[str, torch.Tensor], emb: torch.Tensor) -> torch.Tensor:
        """emb [N, K, e] -> rows Z [N, K * R, h] (K tasks' R chunks, task-major)."""
        n, k, _ = emb.shape
        chunks = theta["chunk_embs"]  # [N, R, c]
        x = torch.cat(
            [emb[:, :, None].expand(n, k, self.num_rows, emb.shape[2]),
             chunks[:, None].expand(n, k, *chunks.shape[1:])], dim=3,
        ).reshape(n, k * self.num_rows, -1)  # fmt: skip
        for i in range(len(self.linears)):
            w, b = theta[f"trunk.{2 * i}.weight"], theta[f"trunk.{2 * i}.bias"]
            x = self.hnet_act(torch.baddbmm(b[:, None], x, w.transpose(1, 2)))
        return x

    def target_logits(self, x: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        """x [N, B, ...], flat weights [N, >= num_params] -> outputs [N, B, out]."""
        pieces = flat.split([*self.target.param_numels, flat.shape[1] - self.target.num_params], 1)
        shapes = self.target.param_shapes
        h = x.reshape(*x.shape[:2], -1)
        num_layers = len(shapes) // 2
        for i in range(num_layers):
            w = pieces[2 * i].view(-1, *shapes[2 * i])
            h = torch.baddbmm(pieces[2 * i + 1][:, None], h, w.transpose(1, 2))
            if i < num_layers - 1:
                h = self.target_act(h)
        return h

    def regularizer(self, theta: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sum over seeds of the fast regularizer (each divided by its |S|) at ``theta``."""
        n, h = self.num_seeds, self.w_ref_t.shape[1]
        z = self.rows(theta, self.prev_embs)  # [N, S * R, h]
        dz = z - self.rows_ref.reshape(n, -1, h)
        u_z = torch.cat([z, z.new_ones(*z.shape[:2], 1)], dim=2)
        db = (theta["head.bias"] - self.b_ref)[:, None]
        a_t = torch.cat([theta["head.weight_t"] - self.w_ref_t, db], dim=1)  # [N, h+1, C]

        def form(u_dz, u_z, gram_ref, w_ref_t, a_t) -> torch.Tensor:
            cross = torch.bmm(w_ref_t, a_t.transpose(1, 2))  # [N, h, h+1]
            gram_a = torch.bmm(a_t, a_t.transpose(1, 2))  # [N, h+1, h+1]
            return (
                (torch.bmm(u_dz, gram_ref) * u_dz).sum()
                + 2 * (torch.bmm(u_dz, cross) * u_z).sum()
                + (torch.bmm(u_z, gram_a) * u_z).sum()
            )

        total = form(dz, u_z, self.gram_ref, self.w_ref_t, a_t)
        if self.last_width < a_t.shape[2]:  # the last chunk's padding columns
            last = torch.arange(self.num_prev, device=z.device) * self.num_rows + self.num_rows - 1
            cut = self.last_width
            total = total - form(dz[:, last], u_z[:, last], self.gram_ref_tail,
                                 self.w_ref_t[:, :, cut:], a_t[:, :, cut:])  # fmt: skip
        return total / self.num_prev

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One training step of every seed on its own batch x [N, B, ...], y [N, B];
        returns the task losses [N] (detached)."""
        self.optimizer.zero_grad(set_to_none=True)
        z = self.rows(self.theta, self.emb[:, None])  # [N, R, h]
        flat = torch.baddbmm(self.theta["head.bias"][:, None], z, self.theta["head.weight_t"])
        logits = self.target_logits(x, flat.flatten(1))[:, :, self.heads.slice(self.task_id)]
        per_sample = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        loss_task = per_sample.view(y.shape).mean(1)  # [N]
        loss_task.sum().backward()
        if self.num_prev > 0 and self.method.beta > 0:
            theta = self.theta
            if self.method.lookahead:
                theta = lookahead_params(self.optimizer, self.theta)
            (self.method.beta * self.regularizer(theta)).backward()
        self.optimizer.step()
        return loss_task.detach()

    def seed_params(self, seed: int) -> dict[str, torch.Tensor]:
        """Seed ``seed``'s shared parameters and current embedding, by the hnet's names."""
        return {**{n: p[seed] for n, p in self.theta.items()}, "emb": self.emb[seed]}


def seed_timers(experiment: str, num_seeds: int, num_prev: int) -> dict[str, object]:
    """Closures timing ``num_seeds`` seed-steps of task ``num_prev`` (``num_prev`` earlier
    tasks regularized): ``sequential`` (N learners' :meth:`HNetLearner.train_step`) and
    ``batched`` (one :meth:`BatchedSeedsStep.step`). Random batches, one per seed."""
    device = current_device()
    input_shape, head_size = SETTINGS[experiment]
    learners = make_learners(experiment, list(range(num_seeds)))
    for learner in learners:
        learner.regularizer.snapshot(learner.hnet, num_prev)
    batched = BatchedSeedsStep(learners, num_prev)
    optimizers = [learner.make_optimizer(num_prev) for learner in learners]
    batch = load_config(experiment).train.batch_size
    x = torch.rand(num_seeds, batch, *input_shape, device=device)
    y = torch.randint(0, head_size, (num_seeds, batch), device=device)

    def sequential() -> None:
        for i, (learner, opt) in enumerate(zip(learners, optimizers, strict=True)):
            learner.train_step(num_prev, opt, x[i], y[i])

    return {"sequential": sequential, "batched": lambda: batched.step(x, y)}


def bench_batched_seeds(
    repeats: int, rows: list[dict], settings=tuple(SETTINGS), seeds=(1, 4, 8), num_prev: int = 1
) -> None:
    """Seconds for N seed-steps, sequential vs batched, timed interleaved (rows of sections
    "batched_seeds" and "batched_ratio"), for each setting and N in ``seeds``."""
    threads = torch.get_num_threads()
    for experiment in settings:
        fns = {}
        for n in seeds:
            for variant, fn in seed_timers(experiment, n, num_prev).items():
                fns[n, variant] = fn
        inner = max(1, steps_per_repeat(experiment) // max(seeds))
        seconds = interleaved_medians(fns, repeats, inner)
        for (n, variant), sec in seconds.items():
            rows.append({"section": "batched_seeds", "setting": experiment, "threads": threads,
                         "previous_tasks": num_prev, "seeds": n, "variant": variant,
                         "seconds": sec, "seed_steps_per_s": n / sec})  # fmt: skip
        for n in seeds:
            rows.append({"section": "batched_ratio", "setting": experiment, "threads": threads,
                         "previous_tasks": num_prev, "seeds": n,
                         "ratio": seconds[n, "sequential"] / seconds[n, "batched"]})  # fmt: skip
