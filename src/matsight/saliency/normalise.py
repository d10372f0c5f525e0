"""Per-image normalisation of maps ``[N,h,w]`` to ``[0,1]``: Gamma CDF, Gaussian CDF, min-max, positive part."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

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


def _span(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image ``(min [N], max - min [N], empty [N])``: ``empty`` where the span is at most ``2**-20`` of
    the largest magnitude (constant up to float rounding, all zero) or not finite."""
    low, high = torch.aminmax(maps.flatten(1), dim=1)
    span = high - low
    return low, span, ~(span > torch.maximum(high.abs(), low.abs()) * 2**-20) | ~torch.isfinite(span)


def flat(maps: torch.Tensor) -> torch.Tensor:
    """``[N]`` True where a map ``[N,h,w]`` holds nothing: constant up to float rounding (span at most
    ``2**-20`` of its largest magnitude), all zero, or not finite."""
    return _span(maps)[2]


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """``(x - min) / (max - min)`` per image ``[N,h,w]``, exact (no epsilon: a map of 1e-12 is stretched
    like a map of 1); maps that hold nothing (:func:`flat`) become zeros."""
    low, span, empty = _span(maps)
    return _zero((maps - low.view(-1, 1, 1)).div_(span.view(-1, 1, 1)), empty)


def _zero(maps: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
    """``maps`` ``[N,h,w]`` with the ``empty`` ones set to zero (in place)."""
    return maps.masked_fill_(empty.view(-1, 1, 1), 0.0) if bool(empty.any()) else maps


def positive(maps: torch.Tensor) -> torch.Tensor:
    """Positive part divided by its per-image maximum (evidence for the chosen target and sign); zeros
    where no value is positive."""
    pos = maps.clamp_min(0)
    high = pos.flatten(1).amax(dim=1).view(-1, 1, 1)
    return _zero(pos / high, (~(high > 0) | ~torch.isfinite(high)).view(-1))


NORMS = {"gamma": gamma_cdf, "gaussian": gaussian_cdf, "minmax": minmax, "positive": positive}


def resize(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (half-pixel centres, as OpenCV's ``INTER_LINEAR``) of ``[N,h,w]`` to ``[N,*size]``."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=False).squeeze(1)


def normalise(maps: torch.Tensor, norm: str, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Raw maps ``[N,h,w]`` on any grid -> ``(raw [N,*size], maps [N,*size] in [0,1], empty [N] bool)``.

    ``raw`` is the bilinear resize of ``maps``. ``minmax``: min-max of ``raw``, which is pytorch-grad-cam's
    min-max on the grid, resize, min-max again (bilinear resizing commutes with the affine min-max;
    here without its 1e-7 epsilon). Other norms: ``NORMS[norm]`` on the grid, then resized. Maps that
    hold nothing (:func:`flat`; for ``positive`` also no positive value) are zeros and flagged ``empty``.
    """
    raw = resize(maps, size)
    empty = flat(maps) | (flat(maps.clamp_min(0)) if norm == "positive" else False)
    out = minmax(raw) if norm == "minmax" else resize(NORMS[norm](maps), size)
    return raw, _zero(out, empty), empty
