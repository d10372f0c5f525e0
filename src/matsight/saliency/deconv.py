"""Deconvnet back-projection of arbitrary per-image scores to input space (via captum)."""

from __future__ import annotations

import torch
from captum.attr import Deconvolution
from torch import nn

from matsight.saliency.hooks import capture


class _StageChannels(nn.Module):
    """``model`` seen up to ``module``: returns the spatial sum of each channel, ``[N,K]``."""

    def __init__(self, model: nn.Module, module: nn.Module):
        super().__init__()
        self.model, self.module = model, module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with capture({"a": self.module}, keep_grad=True) as acts:
            self.model(x)
        return acts["a"].sum(dim=(2, 3))


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
