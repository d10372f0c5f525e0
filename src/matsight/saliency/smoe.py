"""SMOE scale (Mundhenk et al. 2020): a per-location saliency statistic of a stage's activations."""

from __future__ import annotations

import torch

EPS = 1e-7


def smoe(activations: torch.Tensor) -> torch.Tensor:
    """SMOE scale of post-ReLU activations ``[N,K,h,w]`` -> ``[N,h,w]`` (non-negative).

    With ``x = a + 1e-7`` over the K channels at each location and ``m = mean(x)``:
    ``SMOE = m * (log2 m - mean(log2 x))`` (mean times the log of the arithmetic/geometric mean ratio).
    """
    x = activations.float().clamp_min(0) + EPS
    m = x.mean(dim=1)
    return m * (torch.log2(m) - torch.log2(x).mean(dim=1))
