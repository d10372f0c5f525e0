"""Deterministic resize/crop and training augmentation on ``[C, H, W]`` tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``[C,H,W]`` so the short side is ``size`` (bilinear, antialiased), centre-crop to square."""
    _, h, w = image.shape
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    if (new_h, new_w) != (h, w):
        image = F.interpolate(image[None], size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)[0]
    return center_crop(image, size)


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    _, h, w = image.shape
    top, left = (h - size) // 2, (w - size) // 2
    return image[:, top : top + size, left : left + size]


def crop_size_for(image_size: int) -> int:
    """Training crop size: the SEM paper crops 384 → 352, i.e. 11/12 of the image, proportional when smaller."""
    return max(8, round(image_size * 352 / 384))


def random_crop(image: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    _, h, w = image.shape
    top = int(torch.randint(0, h - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - size + 1, (1,), generator=generator))
    return image[:, top : top + size, left : left + size]


def random_dihedral(image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One of the square's 8 symmetries (rotation by k·90°, optionally mirrored), uniformly at random.

    Micrographs and detector images have no preferred orientation, so these are label-preserving.
    """
    k, mirror = (int(v) for v in torch.randint(0, 4, (2,), generator=generator))
    image = torch.rot90(image, k, dims=(1, 2))
    return image.flip(2) if mirror % 2 else image
