"""The property regressor ``R`` as a differentiable function of editor-sized tiles, in user units."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from matsight.models import load_model


class PropertyRegressor(nn.Module):
    """Wraps a ``matsight train`` regression model: tiles ``[N, 1, S, S]`` in [0,1] → property ``[N]``.

    Tiles are resized to the model's ``image_size`` and centre-cropped to ``crop_size`` as in
    training (bilinear, differentiable), repeated to its channel count, and the standardised output
    of column ``output`` is mapped back to user units (``out·std + mean``). ``std`` is the scale the
    inverse search measures its target error in.
    """

    def __init__(self, model: nn.Module, meta: dict, output: int = 0):
        super().__init__()
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.image_size = int(meta.get("image_size") or 0)
        self.crop_size = int(meta.get("crop_size") or self.image_size)
        self.channels = int(meta.get("channels", 1))
        self.output = output
        self.mean = float(torch.as_tensor(meta.get("target_mean", 0.0)).flatten()[output])
        self.std = float(torch.as_tensor(meta.get("target_std", 1.0)).flatten()[output])
        self.name = (meta.get("target_names") or ["prediction"])[output]

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> PropertyRegressor:
        model, meta = load_model(run_dir, device=device)
        return cls(model, meta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_size and x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        if self.crop_size and self.crop_size < x.shape[-1]:
            top = (x.shape[-1] - self.crop_size) // 2
            x = x[..., top : top + self.crop_size, top : top + self.crop_size]
        if self.channels != x.shape[1]:
            x = x.expand(-1, self.channels, -1, -1)
        return self.model(x)[:, self.output] * self.std + self.mean
