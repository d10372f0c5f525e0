"""Attentive response maps (Kumar, Wong & Taylor; thesis ch. 3) and CLEAR maps.

Both are target-free (``target`` and ``sign`` are accepted and ignored): response maps explain the
strongest units of a layer, CLEAR maps compare every output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from matsight.saliency.base import Explainer, Explanation, Target, check_input, check_sign
from matsight.saliency.deconv import StageChannels, back_project
from matsight.saliency.hooks import capture
from matsight.saliency.normalise import flat, minmax
from matsight.saliency.stages import locate_stages


@dataclass
class ResponseMapsResult(Explanation):
    """``raw`` ``[N,H,W]`` response of the dominant unit, max_f R(x|f) (deconvnet magnitude); ``map`` its
    min-max view. ``maps`` ``[N,n,H,W]`` response R(x|f) of the top-n units; ``units`` ``[N,n]`` their
    channel indices (by decreasing activation); ``dominant`` ``[N,H,W]`` rank (0..n-1) of the unit with
    the largest response at each pixel, D(x) = argmax_f R(x|f)."""

    maps: torch.Tensor
    units: torch.Tensor
    dominant: torch.Tensor

    @property
    def level(self) -> torch.Tensor:
        """``[N,H,W]`` response of the dominant unit, max_f R(x|f)."""
        return self.raw


class ResponseMaps(Explainer):
    """Deconvnet back-projection of each of the ``top_n`` units (by maximal activation) of ``layer``
    (default: the deepest stage) to input space."""

    def __init__(
        self, model: nn.Module, layer: str | None = None, top_n: int = 4, input_shape: Sequence[int] | None = None
    ):
        super().__init__(model)
        self.layer, self.stage = list(locate_stages(model, None if layer is None else [layer], input_shape).items())[-1]
        self.top_n = top_n

    def explain(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> ResponseMapsResult:
        check_sign(sign)
        with torch.no_grad(), capture({self.layer: self.stage}, check_input(x)) as recording:
            self.model(x)
        strength = recording.grid(self.layer).amax(dim=(2, 3))
        units = strength.topk(min(self.top_n, strength.shape[1]), dim=1).indices
        maps = back_project(StageChannels(self.model, self.stage), x, units)
        level, dominant = maps.max(dim=1)
        return ResponseMapsResult(level, minmax(level), flat(level), maps, units, dominant)


@dataclass
class CLEARResult(Explanation):
    """``raw`` ``[N,H,W]`` attentive level L(x) = max_c R_c; ``map`` its min-max view. ``maps``
    ``[N,K,H,W]`` back-projection R_c of each output; ``dominant`` ``[N,H,W]`` C(x) = argmax_c R_c
    (index into ``outputs``)."""

    maps: torch.Tensor
    dominant: torch.Tensor
    outputs: list[int]

    @property
    def level(self) -> torch.Tensor:
        """``[N,H,W]`` L(x) = max_c R_c."""
        return self.raw


class CLEAR(Explainer):
    """CLEAR maps: back-project every output (class, attribute) with the deconvnet, then take the
    dominant output and its level per pixel. ``outputs``: output indices (default: all outputs)."""

    def __init__(self, model: nn.Module, outputs: Sequence[int] | None = None):
        super().__init__(model)
        self.outputs = None if outputs is None else [int(o) for o in outputs]

    def explain(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> CLEARResult:
        check_sign(sign)
        outputs = self.outputs
        if outputs is None:
            with torch.no_grad():
                outputs = list(range(self.model(check_input(x)[:1]).reshape(1, -1).shape[1]))
        index = torch.tensor(outputs, device=x.device).expand(x.shape[0], -1)
        maps = back_project(self.model, check_input(x), index)
        level, dominant = maps.max(dim=1)
        return CLEARResult(level, minmax(level), flat(level), maps, dominant, list(outputs))
