"""Gradient CAMs: Grad-CAM, Grad-CAM++, HiResCAM, XGradCAM, LayerCAM (as in pytorch-grad-cam / torchcam).

Each is ``combine(A, G) -> [N,h,w]`` of the layer's activation ``A`` and gradient ``G = dY/dA``
(``[N,C,h,w]``), before the ReLU.
"""

from __future__ import annotations

import torch

from matsight.saliency.base import Target
from matsight.saliency.cam import CAM


class GradientCAM(CAM):
    """A CAM that is a function of ``A`` and ``dY/dA`` alone."""

    @staticmethod
    def combine(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def cam(self, x: torch.Tensor, activation: torch.Tensor, grad, target: Target, sign: int) -> torch.Tensor:
        return self.combine(activation, grad)


class GradCAM(GradientCAM):
    """Grad-CAM (Selvaraju et al. 2017): ``sum_k w_k A_k`` with ``w_k`` the spatial mean of ``G_k``."""

    @staticmethod
    def combine(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return (grad.mean(dim=(2, 3), keepdim=True) * activation).sum(dim=1)


class GradCAMPlusPlus(GradientCAM):
    """Grad-CAM++ (Chattopadhay et al. 2018, exponential-output form as in pytorch-grad-cam):
    ``alpha = G^2 / (2 G^2 + sum_ij(A) G^3 + 1e-6)`` (0 where ``G = 0``), ``w_k = sum_ij alpha relu(G)``."""

    @staticmethod
    def combine(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        g2 = grad.pow(2)
        alpha = g2 / (2 * g2 + activation.sum(dim=(2, 3), keepdim=True) * grad.pow(3) + 1e-6)
        alpha = torch.where(grad != 0, alpha, torch.zeros_like(alpha))
        return ((alpha * grad.clamp_min(0)).sum(dim=(2, 3), keepdim=True) * activation).sum(dim=1)


class HiResCAM(GradientCAM):
    """HiResCAM (Draelos & Carin 2020): ``sum_k G_k * A_k`` element-wise (no spatial averaging)."""

    @staticmethod
    def combine(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return (grad * activation).sum(dim=1)


class XGradCAM(GradientCAM):
    """XGrad-CAM (Fu et al. 2020): ``w_k = sum_ij G_k A_k / (sum_ij A_k + 1e-7)``."""

    @staticmethod
    def combine(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        norm = activation.sum(dim=(2, 3), keepdim=True) + 1e-7
        return ((grad * activation / norm).sum(dim=(2, 3), keepdim=True) * activation).sum(dim=1)


class LayerCAM(GradientCAM):
    """LayerCAM (Jiang et al. 2021): ``sum_k relu(G_k) * A_k`` element-wise."""

    @staticmethod
    def combine(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return (grad.clamp_min(0) * activation).sum(dim=1)
