"""Matrix-multiply speed: the host's square-matmul peak, the target's own GEMMs, and the two
layouts of the hypernetwork's head weight."""

from __future__ import annotations

import torch

from hypercl.bench.device import current_device
from hypercl.bench.presets import SETTINGS, make_learner
from hypercl.bench.timing import interleaved_medians, median_time


def square_matmul_peak(repeats: int, n: int = 2048) -> float:
    """GFLOP/s of a float32 [n, n] @ [n, n] matmul: the host's speed, as a yardstick."""
    device = current_device()
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n**3 / median_time(lambda: a @ b, repeats, inner=3) / 1e9


def target_matmul_peak(experiment: str, repeats: int) -> float:
    """GFLOP/s of the target's own forward+backward GEMMs at its batch size, alone: for each
    linear layer a -> b, input x [batch, a], weight w [b, a] and output gradient g [batch, b]
    give x w^T, g^T x and g w."""
    device = current_device()
    learner, input_shape, batch = make_learner(experiment, 10)
    sizes = [int(torch.Size(input_shape).numel()), *[m.out_features for m in
             learner.target.template if hasattr(m, "out_features")]]  # fmt: skip
    mats = [(torch.randn(batch, a, device=device), torch.randn(b, a, device=device),
             torch.randn(batch, b, device=device))
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)]  # fmt: skip

    def gemms():
        for x, w, g in mats:
            x @ w.T  # forward
            g.T @ x  # weight gradient
            g @ w  # input gradient

    flops = sum(3 * 2 * x.shape[0] * w.shape[0] * w.shape[1] for x, w, _ in mats)
    return flops / median_time(gemms, repeats, inner=20) / 1e9


def bench_head_layout(repeats: int, rows: list[dict], threads: int) -> None:
    """The three GEMMs of the hypernetwork's head in a step (forward Z W^T, weight gradient
    G^T Z, input gradient G W; Z [R, h], G [R, C]) with W stored as nn.Linear does ([C, h])
    and transposed as :class:`hypercl.nets.hnets.HeadLinear` does ([h, C]). Appends rows of
    sections "head_layout" and "head_layout_ratio"."""
    device = current_device()
    for experiment in SETTINGS:
        learner, _, _ = make_learner(experiment, 10)
        head = learner.hnet.head
        h, c, r = head.in_features, head.out_features, learner.hnet.num_rows
        z, g = torch.randn(r, h, device=device), torch.randn(r, c, device=device)
        w, w_t = torch.randn(c, h, device=device), torch.randn(h, c, device=device)
        layouts = {
            "W [C, h] (nn.Linear)": lambda z=z, w=w, g=g: (z @ w.T, g.T @ z, g @ w),
            "W^T [h, C] (HeadLinear)": lambda z=z, w=w_t, g=g: (z @ w, z.T @ g, g @ w.T),
        }
        times = interleaved_medians(layouts, repeats, inner=10)
        for name, seconds in times.items():
            rows.append({"section": "head_layout", "setting": experiment, "threads": threads,
                         "variant": name, "shape": f"R={r}, C={c}, h={h}",
                         "seconds": seconds})  # fmt: skip
        old, new = times.values()
        rows.append({"section": "head_layout_ratio", "setting": experiment,
                     "threads": threads, "ratio": old / new})  # fmt: skip
