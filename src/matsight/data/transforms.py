"""Deterministic resize/crop (the model's view of an image) and training augmentation on ``[C, H, W]`` tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``[C, H, W]`` or ``[N, C, H, W]`` so the short side is ``size`` (bilinear, antialiased when
    shrinking; differentiable), then centre-crop to ``size × size``."""
    h, w = image.shape[-2:]
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    if (new_h, new_w) != (h, w):
        batch = image if image.dim() == 4 else image[None]
        batch = F.interpolate(batch, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
        image = batch if image.dim() == 4 else batch[0]
    return center_crop(image, size)


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size × size`` window of ``[..., H, W]``."""
    h, w = image.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return image[..., top : top + size, left : left + size]


def model_view(image: torch.Tensor, image_size: int, crop_size: int) -> torch.Tensor:
    """What a model sees at evaluation: ``[..., C, H, W]`` in [0, 1] resized (:func:`resize_square`) to
    ``image_size`` and centre-cropped to ``crop_size``. Differentiable; the one place this is done."""
    return center_crop(resize_square(image, image_size), crop_size)


def match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """``[N, C, H, W]`` with C = 1 or 3 → ``channels`` channels (grey repeated, or colour to grey by
    luminance as :func:`matsight.data.images.to_channels` does)."""
    if images.shape[1] == channels:
        return images
    if channels == 3 and images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1)
    if channels == 1 and images.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device)
        return (images * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)
    raise ValueError(f"cannot turn {images.shape[1]} channels into {channels}")


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
