"""CL3 task inference (which task's head is least uncertain): batched vs per-sample loop."""

from __future__ import annotations

from functools import partial

import torch

from hypercl.bench.device import current_device
from hypercl.bench.presets import make_learner
from hypercl.bench.timing import interleaved_medians
from hypercl.methods.inference import entropy, head_logits, infer_task_and_class


def bench_inference(repeats: int, rows: list[dict], loop_images: int) -> None:
    """CL3 task inference over 10,000 images x 10 tasks (perm_mnist10 target, images
    [10000, 1024]): batched with a few images-per-call sizes (``train.eval_batch_size``) and
    the per-sample loop, timed on ``loop_images`` images and scaled to 10,000. Appends rows
    of sections "inference" and "inference_ratio"."""
    device = current_device()
    learner, input_shape, _ = make_learner("perm_mnist10_cl1", 10)
    x = torch.rand(10_000, *input_shape, device=device)
    ids = torch.arange(10, device=device)
    hs = learner.heads.head_size
    default = learner.train_cfg.eval_batch_size

    @torch.no_grad()
    def batched(per_call: int) -> None:
        weights = learner.hnet(ids)
        for xb in x.split(per_call):
            infer_task_and_class(head_logits(learner.target, xb, weights, ids, hs))

    @torch.no_grad()
    def per_sample():  # the official code's way: one image and one embedding at a time
        for i in range(loop_images):
            best = None
            for k in range(10):
                w = learner.hnet(ids[k : k + 1])[0]
                out = learner.target(x[i : i + 1], w)[0, k * hs : (k + 1) * hs]
                h = entropy(out).item()
                best = h if best is None or h < best else best

    setting, threads = "perm_mnist10 CL3, 10k images x 10 tasks", torch.get_num_threads()
    sizes = sorted({5000, 2000, 1000, 500, 250, default}, reverse=True)
    times = interleaved_medians(
        {**{size: partial(batched, size) for size in sizes}, "loop": per_sample}, repeats
    )
    for per_call in sizes:
        rows.append({"section": "inference", "setting": setting, "threads": threads,
                     "variant": f"batched, {per_call} images per call"
                     + (" (default)" if per_call == default else ""),
                     "seconds": times[per_call]})  # fmt: skip
    t_loop = times["loop"] * 10_000 / loop_images
    rows.append({"section": "inference", "setting": setting, "threads": threads,
                 "variant": f"per-sample loop (timed on {loop_images} images, scaled)",
                 "seconds": t_loop})  # fmt: skip
    rows.append({"section": "inference_ratio", "setting": "perm_mnist10 CL3",
                 "variant": f"loop / batched with {default} images per call",
                 "threads": threads, "ratio": t_loop / times[default]})  # fmt: skip
