"""Clearly foreign images to check an out-of-distribution reference against, and its flag rates.

:func:`foreign_images` makes, for a batch of in-distribution images, batches of the same shape
that no model of them should trust: uniform and Gaussian noise, the same images with inverted
contrast, synthetic x-ray scattering images (:mod:`matsight.synth.xray`) and synthetic textures
(:mod:`matsight.synth.textures`). :func:`flag_rates` says what fraction of each batch a reference
flags.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from matsight.ood.features import forward_with_statistics
from matsight.ood.reference import OODReference
from matsight.synth.textures import CLASSES, render_texture
from matsight.synth.xray import draw_image

FOREIGN_KINDS = ("uniform noise", "gaussian noise", "inverted contrast", "x-ray scattering", "textures")


def _from_generator(images: torch.Tensor, draw) -> torch.Tensor:
    """Stack ``draw(i, side)`` (``[side, side]`` in [0, 1]) for every image, cropped and repeated to its shape."""
    n, channels, height, width = images.shape
    side = max(height, width)
    grey = torch.stack([torch.from_numpy(np.asarray(draw(i, side), np.float32)[:height, :width]) for i in range(n)])
    return grey[:, None].expand(n, channels, height, width).contiguous()


def foreign_images(images: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """For ``images`` ``[N, C, H, W]`` in [0, 1]: ``{kind: float32 [N, C, H, W] in [0, 1]}`` for every
    kind of :data:`FOREIGN_KINDS` (the inverted ones are ``1 - images``)."""
    generator = torch.Generator().manual_seed(seed)
    shape = tuple(images.shape)
    textures = list(CLASSES)
    return {
        "uniform noise": torch.rand(shape, generator=generator),
        "gaussian noise": (0.5 + 0.15 * torch.randn(shape, generator=generator)).clamp(0, 1),
        "inverted contrast": 1 - images.float(),
        "x-ray scattering": _from_generator(
            images, lambda i, side: draw_image(side, np.random.default_rng([seed, 1, i]))[0] / 65535.0
        ),
        "textures": _from_generator(
            images,
            lambda i, side: (
                render_texture(textures[i % len(textures)], np.random.default_rng([seed, 2, i]), side) / 255.0
            ),
        ),
    }


def flag_rates(
    reference: OODReference, model: nn.Module, batches: dict[str, torch.Tensor], batch_size: int = 64
) -> dict[str, float]:
    """Fraction of each batch ``[N, C, H, W]`` that ``reference`` flags as out of distribution
    (the model in evaluation mode, on the batches' device)."""
    model.eval()
    rates = {}
    for kind, images in batches.items():
        flagged = 0
        for start in range(0, len(images), batch_size):
            stats = forward_with_statistics(model, images[start : start + batch_size])
            flagged += int(reference.score(stats["features"], stats["intensities"]).out_of_distribution.sum())
        rates[kind] = flagged / len(images)
    return rates
