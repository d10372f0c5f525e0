"""Maps that ignore the model: random noise, a centred Gaussian, and the input's Sobel edges.

A method that does not beat these on a task has not shown that it reads the model (XAI-TRIS:
popular methods often do not). Each returns ``float32 [N, H, W]`` on the CPU.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F


def random_map(model, x: torch.Tensor, target, sign) -> torch.Tensor:
    """Uniform noise, seeded by the images' bytes (the same images get the same maps)."""
    seed = int.from_bytes(hashlib.sha256(x.detach().cpu().numpy().tobytes()).digest()[:8], "little")
    return torch.rand(x.shape[0], *x.shape[-2:], generator=torch.Generator().manual_seed(seed))


def centre_gaussian(model, x: torch.Tensor, target, sign) -> torch.Tensor:
    """``exp(-r² / 2σ²)`` around the image centre, σ = a quarter of the side."""
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
    sigma = min(h, w) / 4
    return torch.exp(-(yy**2 + xx**2) / (2 * sigma**2)).expand(x.shape[0], h, w).clone()


SOBEL = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def sobel_edges(model, x: torch.Tensor, target, sign) -> torch.Tensor:
    """Gradient magnitude of the channel-mean image by the 3×3 Sobel kernels (edges replicated)."""
    grey = F.pad(x.detach().cpu().float().mean(dim=1, keepdim=True), (1, 1, 1, 1), mode="replicate")
    kernels = torch.stack([SOBEL, SOBEL.T])[:, None]
    gx, gy = F.conv2d(grey, kernels).unbind(dim=1)
    return torch.hypot(gx, gy)


BASELINES = {"random": random_map, "centre-gaussian": centre_gaussian, "sobel": sobel_edges}
