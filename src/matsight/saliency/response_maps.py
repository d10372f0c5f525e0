"""Attentive response maps (Kumar, Wong & Taylor; thesis ch. 3) and CLEAR maps."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from matsight.saliency.deconv import _StageChannels, back_project
from matsight.saliency.hooks import capture
from matsight.saliency.stages import find_stages


@dataclass
class ResponseMapsResult:
    """``maps`` ``[N,n,H,W]`` response R(x|f) of the top-n units; ``units`` ``[N,n]`` their channel
    indices (by decreasing activation); ``dominant`` ``[N,H,W]`` rank (0..n-1) of the unit with the
    largest response at each pixel, D(x) = argmax_f R(x|f)."""

    maps: torch.Tensor
    units: torch.Tensor
    dominant: torch.Tensor

    @property
    def level(self) -> torch.Tensor:
        """``[N,H,W]`` response of the dominant unit, max_f R(x|f)."""
        return self.maps.amax(dim=1)


class ResponseMaps:
    """Deconvnet back-projection of each of the top-n units (by maximal activation) of ``layer``
    (default: the last conv stage) to input space."""

    def __init__(self, model: nn.Module, layer: str | None = None):
        self.model = model
        self.module = list(find_stages(model, None if layer is None else [layer]).values())[-1]

    def explain(self, x: torch.Tensor, top_n: int = 4) -> ResponseMapsResult:
        with torch.no_grad(), capture({"a": self.module}) as acts:
            self.model(x)
        strength = acts["a"].amax(dim=(2, 3))
        units = strength.topk(min(top_n, strength.shape[1]), dim=1).indices
        maps = back_project(_StageChannels(self.model, self.module), x, units)
        return ResponseMapsResult(maps, units, maps.argmax(dim=1))

    def attribute(self, x: torch.Tensor, top_n: int = 4) -> torch.Tensor:
        """Response of the dominant unit ``[N,H,W]`` (raw deconvnet magnitude); ``explain`` gives the
        per-unit maps ``[N,n,H,W]``, their channels and the dominant-unit map."""
        return self.explain(x, top_n).level


@dataclass
class CLEARResult:
    """``maps`` ``[N,K,H,W]`` back-projection R_c of each output; ``dominant`` ``[N,H,W]`` C(x) =
    argmax_c R_c (index into ``targets``); ``level`` ``[N,H,W]`` L(x) = max_c R_c."""

    maps: torch.Tensor
    dominant: torch.Tensor
    level: torch.Tensor
    targets: list[int]


class CLEAR:
    """CLEAR maps: back-project every output (class, attribute) with the deconvnet, then take the
    dominant output and its level per pixel. ``targets``: output indices (default: all outputs)."""

    def __init__(self, model: nn.Module):
        self.model = model

    def explain(self, x: torch.Tensor, targets: list[int] | None = None) -> CLEARResult:
        if targets is None:
            with torch.no_grad():
                targets = list(range(self.model(x[:1]).reshape(1, -1).shape[1]))
        index = torch.tensor(targets, device=x.device).expand(x.shape[0], -1)
        maps = back_project(self.model, x, index)
        level, dominant = maps.max(dim=1)
        return CLEARResult(maps, dominant, level, list(targets))

    def attribute(self, x: torch.Tensor, targets: list[int] | None = None) -> torch.Tensor:
        """Attentive level L(x) ``[N,H,W]`` (raw); ``explain`` also gives the dominant output."""
        return self.explain(x, targets).level
