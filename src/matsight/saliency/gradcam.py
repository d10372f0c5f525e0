"""Grad-CAM and Grad-CAM++ at one stage (default: the last), with one forward and one backward."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from matsight.saliency.base import Explainer, select_output
from matsight.saliency.hooks import capture
from matsight.saliency.stages import find_stages


def stage_gradient(model: nn.Module, module: nn.Module, x: torch.Tensor, target: int | None, sign: int):
    """``(activation A [N,K,h,w], dY/dA [N,K,h,w], output)`` for ``Y = select_output(model(x))``.

    The backward runs from the output to ``module`` only (``autograd.grad`` w.r.t. ``A``).
    """
    with torch.enable_grad(), capture({"a": module}, keep_grad=True) as acts:
        output = model(x)
        activation = acts["a"]
        score = select_output(output, target, sign).sum()
        (grad,) = torch.autograd.grad(score, activation)
    return activation.detach(), grad, output.detach()


def gradcam_from(activation: torch.Tensor, grad: torch.Tensor, plus_plus: bool = False) -> torch.Tensor:
    """Class activation map ``relu(sum_k w_k A_k)`` ``[N,h,w]`` from an activation and its gradient.

    Grad-CAM: ``w_k`` = spatial mean of the gradient. Grad-CAM++ (Chattopadhay et al. 2018, with the
    exponential-output approximation used by pytorch-grad-cam):
    ``alpha_ij = g_ij^2 / (2 g_ij^2 + (sum_ab A_ab) g_ij^3 + 1e-6)`` (0 where ``g = 0``),
    ``w_k = sum_ij alpha_ij * relu(g_ij)``.
    """
    if plus_plus:
        g2 = grad.pow(2)
        alpha = g2 / (2 * g2 + activation.sum(dim=(2, 3), keepdim=True) * grad.pow(3) + 1e-6)
        alpha = torch.where(grad != 0, alpha, torch.zeros_like(alpha))
        weights = (alpha * grad.clamp_min(0)).sum(dim=(2, 3), keepdim=True)
    else:
        weights = grad.mean(dim=(2, 3), keepdim=True)
    return (weights * activation).sum(dim=1).clamp_min(0)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (half-pixel centres) of ``[N,h,w]`` to ``[N,*size]``."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)


class GradCAM(Explainer):
    """Grad-CAM at ``layer`` (a stage name ``"Z5"`` or module name; default the deepest stage).

    ``raw`` is ``relu(sum_k w_k A_k)`` resized to the input ``[N,H,W]``; ``attribute`` min-max
    normalises it per image (the same result as pytorch-grad-cam's ``GradCAM``).
    """

    plus_plus = False

    def __init__(self, model: nn.Module, layer: str | None = None):
        super().__init__(model)
        stages = find_stages(model, None if layer is None else [layer])
        self.layer, self.module = list(stages.items())[-1]

    def raw(self, x: torch.Tensor, target: int | None = None, sign: int = 1) -> torch.Tensor:
        activation, grad, _ = stage_gradient(self.model, self.module, x, target, sign)
        return upsample(gradcam_from(activation, grad, self.plus_plus), x.shape[-2:])


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++ at ``layer`` (see ``gradcam_from``)."""

    plus_plus = True


__all__ = ("GradCAM", "GradCAMPlusPlus", "gradcam_from", "stage_gradient", "upsample")
