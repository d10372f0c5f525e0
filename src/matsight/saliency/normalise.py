"""Per-image normalisation of maps ``[N,h,w]`` to ``[0,1]``: Gamma CDF, Gaussian CDF, min-max."""

from __future__ import annotations

import math

import torch

EPS = 1e-7


def gamma_fit(maps: torch.Tensor, newton_steps: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image Gamma MLE of positive maps ``[N,h,w]`` -> ``(shape k [N], scale theta [N])``.

    Minka's closed-form start ``k0 = (3 - s + sqrt((s-3)^2 + 24 s)) / (12 s)`` with
    ``s = log mean x - mean log x``, refined by Newton steps on ``log k - digamma(k) = s``;
    ``theta = mean x / k``.
    """
    x = maps.flatten(1).double() + EPS
    mean = x.mean(dim=1)
    s = (mean.log() - x.log().mean(dim=1)).clamp_min(1e-12)
    k = (3 - s + torch.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
    for _ in range(newton_steps):
        f = k.log() - torch.digamma(k) - s
        df = 1 / k - torch.polygamma(1, k)
        k = (k - f / df).clamp_min(1e-6)
    return k.to(maps.dtype), (mean / k).to(maps.dtype)


def gamma_cdf(maps: torch.Tensor) -> torch.Tensor:
    """Gamma-CDF normalisation: fit a Gamma per image, return its CDF at every value ``[N,h,w]``."""
    k, theta = gamma_fit(maps)
    x = maps.double() + EPS
    out = torch.special.gammainc(k.double().view(-1, 1, 1), x / theta.double().view(-1, 1, 1))
    return out.to(maps.dtype)


def gaussian_cdf(maps: torch.Tensor) -> torch.Tensor:
    """Gaussian-CDF normalisation with the per-image mean and standard deviation ``[N,h,w]``."""
    flat = maps.flatten(1)
    mean = flat.mean(dim=1).view(-1, 1, 1)
    std = flat.std(dim=1).view(-1, 1, 1).clamp_min(EPS)
    return 0.5 * (1 + torch.erf((maps - mean) / (std * math.sqrt(2))))


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """``(x - min) / (max - min + 1e-7)`` per image (pytorch-grad-cam's ``scale_cam_image``)."""
    flat = maps.flatten(1)
    lo = flat.min(dim=1).values.view(-1, 1, 1)
    shifted = maps - lo
    return shifted / (shifted.flatten(1).max(dim=1).values.view(-1, 1, 1) + EPS)


def positive(maps: torch.Tensor) -> torch.Tensor:
    """Positive part scaled by the per-image maximum (evidence for the chosen target and sign)."""
    pos = maps.clamp_min(0)
    return pos / (pos.flatten(1).max(dim=1).values.view(-1, 1, 1) + EPS)


NORMS = {"gamma": gamma_cdf, "gaussian": gaussian_cdf, "minmax": minmax, "positive": positive}
