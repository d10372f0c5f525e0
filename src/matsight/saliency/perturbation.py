"""Perturbation CAMs: ScoreCAM and AblationCAM (one forward pass per channel of the layer and image)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from matsight.saliency.base import Target, select_output, target_of
from matsight.saliency.cam import CAM
from matsight.saliency.hooks import replace_output


class PerturbationCAM(CAM):
    """Base of the forward-only CAMs that score ``channels`` copies of each image in chunks of
    ``batch_size`` (cost: ``C`` forward passes per image for a layer of ``C`` channels)."""

    uses_gradient = False

    def __init__(
        self,
        model: nn.Module,
        layer: str | None = None,
        input_shape: Sequence[int] | None = None,
        batch_size: int = 32,
    ):
        super().__init__(model, layer, input_shape)
        self.batch_size = batch_size


class ScoreCAM(PerturbationCAM):
    """Score-CAM (Wang et al. 2020): ``w_k = softmax_k(Y(x * M_k))`` where ``M_k`` is channel ``k``
    resized to the input (bilinear, corner-aligned) and min-max scaled (``+1e-8``), as pytorch-grad-cam."""

    @torch.no_grad()
    def cam(self, x: torch.Tensor, activation: torch.Tensor, grad, target: Target, sign: int) -> torch.Tensor:
        scores = []
        for i in range(x.shape[0]):
            row = []
            for chunk in activation[i : i + 1].split(self.batch_size, dim=1):
                up = F.interpolate(chunk, size=x.shape[-2:], mode="bilinear", align_corners=True)[0]
                low = up.flatten(1).amin(dim=1).view(-1, 1, 1)
                high = up.flatten(1).amax(dim=1).view(-1, 1, 1)
                masks = (up - low) / (high - low + 1e-8)
                row.append(select_output(self.model(x[i] * masks[:, None]), target_of(target, i), sign))
            scores.append(torch.cat(row))
        weights = torch.stack(scores).float().softmax(dim=1)
        return (weights[:, :, None, None] * activation).sum(dim=1)


class AblationCAM(PerturbationCAM):
    """Ablation-CAM (Desai & Ramaswamy 2020): ``w_k = Y(x) - Y(x | A_k = 0)``, the drop of the explained
    score when channel ``k`` of the layer is set to zero. pytorch-grad-cam divides by ``Y(x)`` (a
    per-image factor: the same normalised map where ``Y(x) > 0``) and ablates layers with negative
    activations to ``min - 1e7`` instead of zero."""

    @torch.no_grad()
    def cam(self, x: torch.Tensor, activation: torch.Tensor, grad, target: Target, sign: int) -> torch.Tensor:
        channels = activation.shape[1]
        drops = []
        for i in range(x.shape[0]):
            base = select_output(self.model(x[i : i + 1]), target_of(target, i), sign)
            row = []
            for ks in torch.arange(channels, device=x.device).split(self.batch_size):

                def ablate(grid, ks=ks):
                    grid[torch.arange(len(ks), device=grid.device), ks] = 0

                with replace_output(self.stage, x[i : i + 1].expand(len(ks), -1, -1, -1), ablate):
                    out = self.model(x[i : i + 1].expand(len(ks), -1, -1, -1))
                row.append(base - select_output(out, target_of(target, i), sign))
            drops.append(torch.cat(row))
        weights = torch.stack(drops).float()
        return (weights[:, :, None, None] * activation).sum(dim=1)
