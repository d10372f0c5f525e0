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
from matsight.saliency.base import Explainer, Explanation, Target, check_input, check_sign
from matsight.saliency.cam import run_stages
from matsight.saliency.gradcam import GradCAM, GradCAMPlusPlus
from matsight.saliency.normalise import NORMS, flat, normalise, resize
from matsight.saliency.smoe_scale import SIGNED, smoe
from matsight.saliency.stages import locate_stages

PAPER_WEIGHTS = (0.18, 0.15, 0.37, 0.40, 0.72)
COMBINE = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}


@dataclass
class FastCAMResult(Explanation):
    """One FastCAM pass over a batch.

    ``raw``/``map``: ``[N,H,W]`` in [0,1] (input size; ``map`` is zeros where ``empty``);
    ``stage_maps``: ``name -> [N,h,w]`` normalised SMOE maps at each stage's own grid; ``activations``:
    ``name -> [N,C,h,w]`` stage outputs (detached, on the input's device); ``output``: model output
    ``[N,T]``; ``gradcam``: ``[N,H,W]`` normalised Grad-CAM(++) at the deepest stage, or ``None``.
    """

    stage_maps: dict[str, torch.Tensor]
    activations: dict[str, torch.Tensor]
    output: torch.Tensor
    gradcam: torch.Tensor | None = None

    def upsampled_stage_maps(self) -> torch.Tensor:
        """Per-stage maps resized to the input, ``[N,S,H,W]`` (stage order as in ``stage_maps``)."""
        size = self.map.shape[-2:]
        return torch.stack([resize(m, size) for m in self.stage_maps.values()], dim=1)

    def salient_vectors(self) -> dict[str, torch.Tensor]:
        """Activation vector at the argmax of each stage's map: ``name -> [N,C]``."""
        out = {}
        for name, m in self.stage_maps.items():
            act = self.activations[name]
            idx = m.flatten(1).argmax(dim=1)
            out[name] = act.flatten(2).gather(2, idx.view(-1, 1, 1).expand(-1, act.shape[1], 1)).squeeze(2)
        return out


class FastCAM(Explainer):
    """FastCAM saliency for any CNN or vision transformer.

    ``layers``: stage names / module names (default: all stages, ``model.stages`` or found by
    :func:`~matsight.saliency.stages.discover_stages`). ``weights``: ``None`` (all 1), ``"paper"``
    (0.18, 0.15, 0.37, 0.40, 0.72 for five stages) or one number per stage. ``norm``: ``"gamma"``
    (per-image Gamma CDF) or ``"gaussian"``. ``combine_with``: ``None``, ``"gradcam"`` or
    ``"gradcam++"`` (product with that map at the deepest stage; needs ``target``/``sign``).
    ``signed``: how SMOE reads negative activations, ``"clamp"`` (their positive part, as the paper's
    post-ReLU stages) or ``"abs"`` (their magnitude; see :func:`~matsight.saliency.smoe_scale.smoe`).

    ``attribute(x, target=None, sign=1) -> Tensor[N,H,W]`` in [0,1]; ``explain`` returns everything.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str] | None = None,
        weights: str | Sequence[float] | None = None,
        norm: str = "gamma",
        combine_with: str | None = None,
        signed: str = "clamp",
        input_shape: Sequence[int] | None = None,
    ):
        super().__init__(model)
        if norm not in ("gamma", "gaussian"):
            raise ConfigError(f"norm must be 'gamma' or 'gaussian', got {norm!r}")
        if combine_with is not None and combine_with not in COMBINE:
            raise ConfigError(f"combine_with must be None, 'gradcam' or 'gradcam++', got {combine_with!r}")
        if signed not in SIGNED:
            raise ConfigError(f"signed must be one of {', '.join(SIGNED)}, got {signed!r}")
        self.stages = locate_stages(model, layers, input_shape)
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
        self.weights, self.norm, self.combine_with, self.signed = weights, norm, combine_with, signed

    def explain(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> FastCAMResult:
        """Run one pass over ``x`` ``[N,C,H,W]`` and return the map, stage maps and activations."""
        check_sign(sign)
        size = tuple(check_input(x).shape[-2:])
        last = list(self.stages)[-1]
        run = run_stages(self.model, self.stages, x, last if self.combine_with else None, target, sign)
        stage_maps = {name: NORMS[self.norm](smoe(a, self.signed)) for name, a in run.activations.items()}
        combined = sum(w * resize(m, size) for w, m in zip(self.weights, stage_maps.values())) / sum(self.weights)
        gradcam = None
        if self.combine_with is not None:
            cam = COMBINE[self.combine_with].combine(run.activations[last].float(), run.grad.float())
            gradcam = normalise(cam.clamp_min(0), "minmax", size)[1]
            combined = combined * gradcam
        empty = flat(combined)
        shown = combined.masked_fill(empty.view(-1, 1, 1), 0.0)
        return FastCAMResult(combined, shown, empty, stage_maps, run.activations, run.output, gradcam)
