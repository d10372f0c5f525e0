"""Bragg-spot masks: where a prototype's diffraction fingerprint has its spots.

The fingerprint of a pristine structure (:class:`matsight.crystals.fingerprint.FingerprintTransformer`) is a
set of Gaussian Bragg spots on a dark detector, min–max normalised jointly over its three channels
to [0, 1]. A pixel belongs to a spot when any channel reaches ``threshold`` (default 10 %) of that
maximum: at 10 % the spots of the benchmark's seven classes cover 4–12 % of the 64 × 64 detector
(20–50 spots each). The mask of the *pristine* structure is the ground truth of what a classifier of the
defective structure should look at: vacancies and displacements weaken the spots and add diffuse
background, but leave the spots where the prototype put them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from ase import Atoms

from matsight.crystals.fingerprint import FingerprintTransformer
from matsight.errors import ConfigError

SPOT_THRESHOLD = 0.1


def spots_of(images: torch.Tensor, threshold: float = SPOT_THRESHOLD) -> torch.Tensor:
    """``bool [N, H, W]``: pixels where any channel of fingerprints ``[N, 3, H, W]`` (in [0, 1]) reaches
    ``threshold`` of the image's maximum."""
    if not 0 < threshold < 1:
        raise ConfigError(f"spot threshold must lie in (0, 1), got {threshold}")
    if images.ndim != 4:
        raise ConfigError(f"fingerprints must be [N, 3, H, W], got shape {tuple(images.shape)}")
    peak = images.amax(dim=(1, 2, 3), keepdim=True).squeeze(1)
    return images.amax(dim=1) >= threshold * peak.clamp_min(1e-12)


def spot_masks(
    structures: Sequence[Atoms], threshold: float = SPOT_THRESHOLD, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Bragg-spot masks ``bool [N, 64, 64]`` of ``structures`` (pass the pristine prototypes)."""
    return spots_of(FingerprintTransformer(device=device).transform(structures), threshold)
