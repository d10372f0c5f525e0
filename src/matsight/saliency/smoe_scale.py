"""SMOE scale (Mundhenk et al. 2020): a per-location saliency statistic of a stage's activations."""

from __future__ import annotations

import torch

EPS = 1e-7
SIGNED = ("clamp", "abs")


def smoe(activations: torch.Tensor, signed: str = "clamp") -> torch.Tensor:
    """SMOE scale of activations ``[N,K,h,w]`` -> ``[N,h,w]`` (non-negative).

    With ``x = a + 1e-7`` over the K channels at each location and ``m = mean(x)``:
    ``SMOE = m * (log2 m - mean(log2 x))`` (mean times the log of the arithmetic/geometric mean ratio).
    SMOE is defined for non-negative (post-ReLU) activations. Signed ones (ConvNeXt, EfficientNet,
    MobileNet, DenseNet blocks, transformer tokens) are read as ``signed="clamp"``: their positive part
    (the units that fire; the paper's choice and the default) or ``signed="abs"``: their magnitude.
    """
    a = activations.float()
    x = (a.abs() if signed == "abs" else a.clamp_min(0)).add_(EPS)  # a fresh tensor: in-place from here
    m = x.mean(dim=1)
    return m * (torch.log2(m) - x.log2_().mean(dim=1))
