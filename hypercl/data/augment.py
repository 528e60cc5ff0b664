"""Image augmentation on batches already on the training device (no CPU loader).

The paper's ResNet-32 augmentation: a random 32x32 crop of the image zero-padded by 4 pixels
on each side, and a horizontal flip with probability 1/2, drawn per sample. Crop and flip
are one gather, so a batch costs one indexing kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip(
    x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int
) -> torch.Tensor:
    """Crop each zero-padded image at its offset, mirrored where ``flips`` is set.

    Args:
        x: images [B, C, H, W].
        offsets: top-left corner (row, column) of each crop in the padded image [B, 2]
            (long, each in 0..2*padding).
        flips: whether to mirror each crop left-right [B] (bool).
        padding: zero pixels added on each side before cropping.

    Returns:
        [B, C, H, W]
    """
    b, _, h, w = x.shape
    padded = F.pad(x, [padding] * 4)
    rows = offsets[:, :1] + torch.arange(h, device=x.device)  # [B, H]
    cols = torch.arange(w, device=x.device).expand(b, w)
    cols = offsets[:, 1:] + torch.where(flips[:, None], w - 1 - cols, cols)  # [B, W]
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2)


def random_crop_flip(
    x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """x [B, C, H, W] -> random crops (padding ``padding``) with random flips, same shape.

    Offsets and flips are drawn on ``x``'s device (from ``generator`` if given, which must
    live on that device; else from torch's default generator there).
    """
    b = x.shape[0]
    offsets = torch.randint(0, 2 * padding + 1, (b, 2), device=x.device, generator=generator)
    flips = torch.randint(0, 2, (b,), device=x.device, generator=generator).bool()
    return crop_flip(x, offsets, flips, padding)
