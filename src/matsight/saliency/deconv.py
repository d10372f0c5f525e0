"""Deconvnet back-projection of arbitrary per-image scores to input space (via captum)."""

from __future__ import annotations

import torch
from captum.attr import Deconvolution
from torch import nn

from matsight.saliency.hooks import capture
from matsight.saliency.stages import Stage


class StageChannels(nn.Module):
    """``model`` seen up to ``stage``: returns the spatial sum of each of its channels, ``[N,K]``."""

    def __init__(self, model: nn.Module, stage: Stage):
        super().__init__()
        self.model, self.stage = model, stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with capture({"stage": self.stage}, x, keep_graph=True) as recording:
            self.model(x)
        return recording.grid("stage").sum(dim=(2, 3))


def back_project(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Deconvnet relevance of ``model(x)[:, targets[:, j]]`` for each column j: ``[N,J,H,W]``.

    ``targets`` is ``[N,J]`` (per-image output indices); maps are the absolute deconvnet signal
    summed over input channels.
    """
    deconv = Deconvolution(model)
    maps = []
    with torch.enable_grad():
        for j in range(targets.shape[1]):
            attr = deconv.attribute(x.detach().clone().requires_grad_(True), target=targets[:, j].tolist())
            maps.append(attr.detach().abs().sum(dim=1))
    return torch.stack(maps, dim=1)
