"""EigenCAM (Muhammad & Yeasin 2020): the layer's activations projected on their first principal component."""

from __future__ import annotations

import torch

from matsight.saliency.base import Target
from matsight.saliency.cam import CAM


class EigenCAM(CAM):
    """Gradient-free and target-free: per image, the ``[hw, C]`` activations centred over locations,
    projected on the first right-singular vector (as pytorch-grad-cam's ``get_2d_projection``).

    The singular vector's sign is arbitrary (LAPACK's choice in pytorch-grad-cam); here it is fixed so
    that the projection correlates positively with the activation summed over channels (more activity
    = more salient), which makes the map reproducible.
    """

    uses_gradient = False

    def cam(self, x: torch.Tensor, activation: torch.Tensor, grad, target: Target, sign: int) -> torch.Tensor:
        n, _, h, w = activation.shape
        flat = torch.nan_to_num(activation, nan=0.0).flatten(2).transpose(1, 2)  # [N, hw, C]
        centred = flat - flat.mean(dim=1, keepdim=True)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        projection = (centred @ vh[:, 0, :, None]).squeeze(2)  # [N, hw]
        total = flat.sum(dim=2)
        agreement = ((projection - projection.mean(1, keepdim=True)) * (total - total.mean(1, keepdim=True))).sum(1)
        return (projection * torch.where(agreement < 0, -1.0, 1.0).view(-1, 1)).view(n, h, w)
