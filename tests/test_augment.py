"""On-device crop-and-flip augmentation."""

import torch
import torch.nn.functional as F

from hypercl.data.augment import crop_flip, random_crop_flip


def test_crop_flip_equals_slicing_the_padded_image():
    x = torch.arange(2 * 3 * 6 * 5, dtype=torch.float32).view(2, 3, 6, 5)
    offsets = torch.tensor([[0, 3], [2, 1]])
    flips = torch.tensor([False, True])
    out = crop_flip(x, offsets, flips, padding=2)
    padded = F.pad(x, [2, 2, 2, 2])
    expected = torch.stack(
        [
            padded[0, :, 0:6, 3:8],
            padded[1, :, 2:8, 1:6].flip(-1),
        ]
    )
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_centre_offset_without_flip_is_the_identity():
    x = torch.randn(3, 3, 32, 32)
    out = crop_flip(x, torch.full((3, 2), 4), torch.zeros(3, dtype=torch.bool), padding=4)
    torch.testing.assert_close(out, x, rtol=0, atol=0)


def test_random_crop_flip_draws_offsets_then_flips_from_the_generator():
    x = torch.randn(64, 3, 8, 8)
    out = random_crop_flip(x, padding=4, generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    offsets = torch.randint(0, 9, (64, 2), generator=gen)
    flips = torch.randint(0, 2, (64,), generator=gen).bool()
    torch.testing.assert_close(out, crop_flip(x, offsets, flips, 4), rtol=0, atol=0)
    assert offsets.min() == 0 and offsets.max() == 8 and 0 < flips.sum() < 64
