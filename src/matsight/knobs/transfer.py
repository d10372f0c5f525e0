"""Carry an edit made at the editor's resolution over to the tile at the regressor's resolution.

The editor works on small tiles (32–128 px); the property regressor was trained on larger ones, and
on a tile downsampled to the editor's size and upsampled back it reads blur, not the material (on
the ground-truth lots its predictions on such tiles correlate 0.19 with those on the originals, and
with grain size at +0.45 instead of −0.54). So what the regressor sees is the original tile plus the
editor's *change*::

    I'_full = clamp(I_full + up(G(I; A') − G(I; A)), 0, 1)

which equals ``I_full`` when ``A' = A``: the sweep's and the inverse search's baseline is the
regressor's prediction for the real tile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def transfer_edit(full: torch.Tensor, edited: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """``full [N,C,H,W]`` plus ``edited − reconstructed`` (``[N,C,S,S]``, bilinearly resized to H×W), in [0,1]."""
    change = edited - reconstructed
    if change.shape[-2:] != full.shape[-2:]:
        change = F.interpolate(change, size=full.shape[-2:], mode="bilinear", align_corners=False)
    return (full + change).clamp(0, 1)
