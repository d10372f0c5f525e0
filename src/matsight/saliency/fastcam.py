"""FastCAM (Mundhenk, Chen & Friedland 2020): SMOE scale per stage, CDF-normalised, weighted mean.

Forward-only unless ``combine_with`` asks for Grad-CAM / Grad-CAM++ at the deepest stage, whose
backward runs through the head only. One forward pass yields the combined map, the per-stage maps
and every stage's activations (the texture probe reads the activation vector at each stage's most
salient location from the same pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from matsight.errors import ConfigError
from matsight.saliency.base import Explainer, select_output
from matsight.saliency.gradcam import gradcam_from, upsample
from matsight.saliency.hooks import capture
from matsight.saliency.normalise import NORMS, minmax
from matsight.saliency.smoe import smoe
from matsight.saliency.stages import find_stages

PAPER_WEIGHTS = (0.18, 0.15, 0.37, 0.40, 0.72)
COMBINE = {None: None, "gradcam": False, "gradcam++": True}


@dataclass
class FastCAMResult:
    """One FastCAM pass over a batch.

    ``map``: ``[N,H,W]`` in [0,1] (input size); ``stage_maps``: ``name -> [N,h,w]`` normalised SMOE
    maps at each stage's own grid; ``activations``: ``name -> [N,C,h,w]`` stage outputs (detached,
    on the input's device); ``output``: model output ``[N,T]``; ``gradcam``: ``[N,H,W]`` min-max
    normalised Grad-CAM(++) at the deepest stage, or ``None``.
    """

    map: torch.Tensor
    stage_maps: dict[str, torch.Tensor]
    activations: dict[str, torch.Tensor]
    output: torch.Tensor
    gradcam: torch.Tensor | None = None

    def upsampled_stage_maps(self) -> torch.Tensor:
        """Per-stage maps resized to the input, ``[N,S,H,W]`` (stage order as in ``stage_maps``)."""
        size = self.map.shape[-2:]
        return torch.stack([upsample(m, size) for m in self.stage_maps.values()], dim=1)

    def salient_vectors(self) -> dict[str, torch.Tensor]:
        """Activation vector at the argmax of each stage's map: ``name -> [N,C]``."""
        out = {}
        for name, m in self.stage_maps.items():
            act = self.activations[name]
            idx = m.flatten(1).argmax(dim=1)
            out[name] = act.flatten(2).gather(2, idx.view(-1, 1, 1).expand(-1, act.shape[1], 1)).squeeze(2)
        return out


class FastCAM(Explainer):
    """FastCAM saliency for any CNN.

    ``layers``: stage names / module names (default: all stages, ``model.stages`` or the torchvision
    ResNet/DenseNet stages). ``weights``: ``None`` (all 1), ``"paper"`` (0.18, 0.15, 0.37, 0.40, 0.72
    for five stages) or one number per stage. ``norm``: ``"gamma"`` (per-image Gamma CDF) or
    ``"gaussian"``. ``combine_with``: ``None``, ``"gradcam"`` or ``"gradcam++"`` (product with that
    map at the deepest stage; needs ``target``/``sign``).

    ``attribute(x, target=None, sign=1) -> Tensor[N,H,W]`` in [0,1]; ``explain`` returns everything.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str] | None = None,
        weights: str | Sequence[float] | None = None,
        norm: str = "gamma",
        combine_with: str | None = None,
    ):
        super().__init__(model)
        self.stages = find_stages(model, layers)
        n = len(self.stages)
        if weights is None:
            weights = [1.0] * n
        elif weights == "paper":
            if n != len(PAPER_WEIGHTS):
                raise ConfigError(f"the paper's weights are for 5 stages; this model has {n}: pass {n} weights")
            weights = PAPER_WEIGHTS
        weights = [float(w) for w in weights]
        if len(weights) != n or sum(weights) <= 0 or min(weights) < 0:
            raise ConfigError(
                f"weights must be {n} non-negative numbers (one per stage: "
                f"{', '.join(self.stages)}) with a positive sum, got {weights}"
            )
        if norm not in ("gamma", "gaussian"):
            raise ConfigError(f"norm must be 'gamma' or 'gaussian', got {norm!r}")
        if combine_with not in COMBINE:
            raise ConfigError(f"combine_with must be None, 'gradcam' or 'gradcam++', got {combine_with!r}")
        self.weights, self.norm_name, self.combine_with = weights, norm, combine_with

    def explain(self, x: torch.Tensor, target: int | None = None, sign: int = 1) -> FastCAMResult:
        """Run one pass over ``x`` ``[N,C,H,W]`` and return the map, stage maps and activations."""
        last = list(self.stages)[-1]
        gradcam = None
        if self.combine_with is None:
            with torch.no_grad(), capture(self.stages) as acts:
                output = self.model(x)
        else:
            with torch.enable_grad(), capture(self.stages, keep_grad=True) as acts:
                output = self.model(x)
                (grad,) = torch.autograd.grad(select_output(output, target, sign).sum(), acts[last])
            acts = {k: v.detach() for k, v in acts.items()}
            output = output.detach()
            cam = gradcam_from(acts[last], grad, plus_plus=COMBINE[self.combine_with])
            gradcam = minmax(upsample(cam, x.shape[-2:]))
        normalise = NORMS[self.norm_name]
        stage_maps = {name: normalise(smoe(acts[name])) for name in self.stages}
        size = x.shape[-2:]
        combined = sum(w * upsample(m, size) for w, m in zip(self.weights, stage_maps.values()))
        combined = combined / sum(self.weights)
        if gradcam is not None:
            combined = combined * gradcam
        return FastCAMResult(combined, stage_maps, dict(acts), output, gradcam)

    def raw(self, x: torch.Tensor, target: int | None = None, sign: int = 1) -> torch.Tensor:
        return self.explain(x, target, sign).map

    def attribute(self, x: torch.Tensor, target: int | None = None, sign: int = 1) -> torch.Tensor:
        """FastCAM map ``[N,H,W]`` in [0,1] (already normalised per stage)."""
        return self.raw(x, target, sign)
