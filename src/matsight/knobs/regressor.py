"""The property regressor ``R`` as a differentiable function of editor-sized tiles, in user units."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from matsight.models import ModelSpec, load_model


class PropertyRegressor(nn.Module):
    """Wraps a ``matsight train`` regression model: tiles ``[N, 1, S, S]`` in [0,1] → property ``[N]``.

    Tiles go through the model's own preprocessing (:meth:`ModelSpec.prepare`: antialiased resize to
    ``image_size``, centre crop to ``crop_size``, its channel count; differentiable), and the
    standardised output of column ``output`` is mapped back to user units (``out·std + mean``).
    ``std`` is the scale the inverse search measures its target error in.
    """

    def __init__(self, model: nn.Module, spec: ModelSpec, output: int = 0):
        super().__init__()
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.spec = spec
        self.image_size = spec.image_size
        self.crop_size = spec.crop_size
        self.output = output
        self.mean = spec.target_mean[output] if spec.target_mean else 0.0
        self.std = spec.target_std[output] if spec.target_std else 1.0
        self.name = spec.target_names[output] if spec.target_names else "prediction"

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> PropertyRegressor:
        model, spec = load_model(run_dir, device=device)
        return cls(model, spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.spec.prepare(x))[:, self.output] * self.std + self.mean
