"""Class activation maps at one layer: the shared base of Grad-CAM, its variants, EigenCAM, ScoreCAM, AblationCAM.

A method is one small subclass implementing ``cam(x, activation, grad, target, sign) -> [N,h,w]``
from the layer's activation ``A`` ``[N,C,h,w]`` (and, where ``uses_gradient``, ``dY/dA``). The base
finds the layer, runs one forward (plus one backward through the head only, see
:func:`matsight.saliency.hooks.capture`), applies the ReLU and normalises as pytorch-grad-cam does:
min-max on the layer's grid, bilinear resize to the input, min-max again (exactly, no epsilon);
a map without structure is zeros and flagged ``empty``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from matsight.saliency.base import Explainer, Target, select_output
from matsight.saliency.hooks import capture
from matsight.saliency.stages import Stage, locate_stages


@dataclass
class StagePass:
    """One forward pass: ``activations[name]`` ``[N,C,h,w]`` (detached) of every stage, the model
    ``output``, and ``grad`` ``[N,C,h,w]`` = ``dY/dA`` at the stage ``grad_at`` (or ``None``)."""

    activations: dict[str, torch.Tensor]
    output: torch.Tensor
    grad: torch.Tensor | None = None


def run_stages(
    model: nn.Module,
    stages: Mapping[str, Stage],
    x: torch.Tensor,
    grad_at: str | None = None,
    target: Target = None,
    sign: int = 1,
) -> StagePass:
    """Forward ``x`` once, recording ``stages``; with ``grad_at``, also ``dY/dA`` at that stage for
    ``Y = select_output(model(x), target, sign)``.

    The forward runs without autograd up to ``grad_at`` and the backward runs from the output to that
    stage only (:func:`matsight.saliency.hooks.capture`). ``dY/dA`` is zeros where ``Y`` does not
    depend on the stage.
    """
    with torch.no_grad(), capture(stages, x, grad_from=grad_at) as recording:
        output = model(x)
        grad = None
        if grad_at is not None:
            leaf = recording.tensor(grad_at)
            score = select_output(output, target, sign).sum()
            grad = torch.autograd.grad(score, leaf, allow_unused=True)[0] if score.requires_grad else None
            grad = recording.grid(grad_at, torch.zeros_like(leaf) if grad is None else grad)
    activations = {name: recording.grid(name).detach() for name in stages}
    return StagePass(activations, output.detach(), grad)


class CAM(Explainer):
    """A class activation map at ``layer`` (stage name ``"Z5"`` or module name; default the deepest
    stage, see :func:`matsight.saliency.stages.locate_stages`). ``raw``: ``relu(cam)`` resized to the
    input; ``map``: its normalised view."""

    uses_gradient = True

    def __init__(self, model: nn.Module, layer: str | None = None, input_shape: Sequence[int] | None = None):
        super().__init__(model)
        stages = locate_stages(model, None if layer is None else [layer], input_shape)
        self.layer, self.stage = list(stages.items())[-1]

    def cam(
        self, x: torch.Tensor, activation: torch.Tensor, grad: torch.Tensor | None, target: Target, sign: int
    ) -> torch.Tensor:
        """The map before the ReLU, ``[N,h,w]``."""
        raise NotImplementedError

    def maps(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> torch.Tensor:
        grad_at = self.layer if self.uses_gradient else None
        run = run_stages(self.model, {self.layer: self.stage}, x, grad_at, target, sign)
        grad = None if run.grad is None else run.grad.float()
        return self.cam(x, run.activations[self.layer].float(), grad, target, sign).clamp_min(0)
