"""What the regressor sees of an edit: the edited tile itself, or the edit carried over to the real tile.

With an editor at the regressor's input size the regressor can read the edited tile ``G(I; A')``
itself, as in the paper (``view="edit"``). On the ground-truth lots, editor and regressor at 96 px,
its predictions on reconstructions ``G(I; A)`` correlate 0.82–0.96 with those on the real tiles,
and the size knob's sweep keeps its sign in 73–93 % of lots this way, against 40–90 % with the
transfer below.

The editor works on small tiles (32–128 px); the property regressor was trained on larger ones, and
on a tile downsampled to the editor's size and upsampled back it reads blur, not the material (on
the ground-truth lots its predictions on such tiles correlate 0.19 with those on the originals, and
with grain size at +0.45 instead of −0.54). So what the regressor sees is the original tile plus the
editor's *change*::

    I'_full = clamp(I_full + up(G(I; A') − G(I; A)), 0, 1)

which equals ``I_full`` when ``A' = A``: the sweep's and the inverse search's baseline is the
regressor's prediction for the real tile (``view="transfer"``). ``view="auto"`` takes the edited
tile when the editor works at the regressor's input size or above, else the transfer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from matsight.errors import ConfigError

VIEWS = ("auto", "edit", "transfer")


def choose_view(view: str, editor_size: int, regressor_size: int) -> str:
    """``"edit"`` or ``"transfer"`` for a requested view (``"auto"``: edit when ``editor_size`` px ≥
    the regressor's input ``regressor_size`` px; 0 = the regressor takes any size)."""
    if view not in VIEWS:
        raise ConfigError(
            f"--view {view!r}: choose auto, edit (the regressor reads the edited tile) or transfer "
            "(the real tile plus the edit)"
        )
    if view != "auto":
        return view
    return "edit" if editor_size >= regressor_size else "transfer"


def transfer_edit(full: torch.Tensor, edited: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """``full [N,C,H,W]`` plus ``edited − reconstructed`` (``[N,C,S,S]``, bilinearly resized to H×W), in [0,1]."""
    change = edited - reconstructed
    if change.shape[-2:] != full.shape[-2:]:
        change = F.interpolate(change, size=full.shape[-2:], mode="bilinear", align_corners=False)
    return (full + change).clamp(0, 1)
