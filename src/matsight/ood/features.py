"""What the out-of-distribution check looks at: a model's features and an image's intensity statistics.

:func:`forward_with_statistics` runs a model once over a batch and returns its outputs, its
*features* and per-image *intensity statistics*; :func:`dataset_statistics` does the same over a
dataset.

- Features: the spatial mean of every named stage's output (``model.stages``, ``Z1..Z5`` of the
  torchvision backbones, ``Z1..Z3`` of the crystal ConvNet), each L2-normalised and concatenated
  (scaled by 1/√stages so the whole vector has unit norm). Early stages keep what a regression
  head discards (noise, texture, another instrument's look): see docs/ood.md for the measurement.
  A model without ``stages`` gives the input of its final linear layer (:func:`penultimate_layer`).
- Intensity statistics (:data:`INTENSITY_STATISTICS`, model-independent): the grey levels' mean,
  standard deviation and quantiles, and for each band of a difference-of-Gaussians scale space
  (the image blurred with σ = 0, 0.7, 1, 1.5, 2, 3 px; band = one blur minus the next) the band's
  standard deviation (how much structure or noise at that scale) and skewness (whether the
  structures of that scale — grain boundaries, pits, rings — are darker or brighter than their
  surroundings; inverting the contrast flips its sign).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

INTENSITY_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
BAND_SIGMAS = (0.0, 0.7, 1.0, 1.5, 2.0, 3.0)
"""Blur scales (px) of the scale space; band ``i`` is ``blur(σ_i) − blur(σ_i+1)``."""
INTENSITY_STATISTICS = (
    ("mean", "std")
    + tuple(f"q{round(q * 100):02d}" for q in INTENSITY_QUANTILES)
    + tuple(
        f"band{fine:g}-{coarse:g}px_{stat}"
        for fine, coarse in zip(BAND_SIGMAS[:-1], BAND_SIGMAS[1:])
        for stat in ("std", "skew")
    )
)
"""Names of the columns of :func:`intensity_statistics`."""


def penultimate_layer(model: nn.Module) -> nn.Linear:
    """The final linear layer of ``model``: its ``head`` when that is an ``nn.Linear``, else the last
    ``nn.Linear`` among its modules. Raises ``ValueError`` when it has none."""
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        return head
    linear = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linear:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer whose input could serve as features")
    return linear[-1]


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """``images`` ``[N, 1, H, W]`` blurred with a Gaussian of ``sigma`` px (kernel radius ⌈3σ⌉,
    edges replicated, as ``scipy.ndimage.gaussian_filter(mode="nearest")``); ``sigma=0``: unchanged."""
    if sigma == 0:
        return images
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    return F.conv2d(F.conv2d(padded, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))


def intensity_statistics(images: torch.Tensor) -> np.ndarray:
    """Per-image statistics ``float32 [N, len(INTENSITY_STATISTICS)]`` of ``images`` ``[N, C, H, W]``
    in ``[0, 1]`` (the model's input; colour channels are averaged to grey first): mean, standard
    deviation and quantiles :data:`INTENSITY_QUANTILES` of the grey levels (0…1), then the standard
    deviation (0…1) and skewness (unitless) of each difference-of-Gaussians band of :data:`BAND_SIGMAS`."""
    if images.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
    grey = images.detach().float().mean(dim=1, keepdim=True)
    flat = grey.flatten(1)
    columns = [flat.mean(1, keepdim=True), flat.std(1, keepdim=True), _quantiles(flat, INTENSITY_QUANTILES)]
    blurred = [gaussian_blur(grey, sigma) for sigma in BAND_SIGMAS]
    for fine, coarse in zip(blurred[:-1], blurred[1:]):
        band = (fine - coarse).flatten(1)
        centred = band - band.mean(1, keepdim=True)
        spread = centred.pow(2).mean(1, keepdim=True).sqrt()
        columns += [spread, (centred / spread.clamp_min(1e-8)).pow(3).mean(1, keepdim=True)]
    return torch.cat(columns, dim=1).cpu().numpy().astype(np.float32)


def _quantiles(rows: torch.Tensor, levels: tuple[float, ...]) -> torch.Tensor:
    """Quantiles ``[N, len(levels)]`` of each row of ``rows`` ``[N, P]``, linearly interpolated as
    ``numpy.quantile``; by sorting, so with no size limit (``torch.quantile`` stops at 2**24 values)."""
    ordered = rows.sort(dim=1).values
    position = torch.tensor(levels, dtype=rows.dtype, device=rows.device) * (rows.shape[1] - 1)
    below = position.floor().long()
    above = torch.clamp(below + 1, max=rows.shape[1] - 1)
    fraction = position - below
    return ordered[:, below] * (1 - fraction) + ordered[:, above] * fraction


def _pooled(output: torch.Tensor) -> torch.Tensor:
    """``[N, C, ...]`` → ``[N, C]`` spatial mean, L2-normalised."""
    pooled = output.float().flatten(2).mean(2) if output.ndim > 2 else output.float()
    return F.normalize(pooled, dim=1)


@torch.no_grad()
def forward_with_statistics(model: nn.Module, images: torch.Tensor) -> dict[str, np.ndarray]:
    """One forward pass over ``images`` ``[N, C, H, W]`` in ``[0, 1]`` (on the model's device).

    Returns ``{"output": float32 [N, K], "features": float32 [N, D], "intensities": float32 [N, S]}``:
    the model's raw outputs, its features (see the module docstring) and
    :func:`intensity_statistics`. The dictionary fits ``ImageBatchWorker.compute``.
    """
    stages = getattr(model, "stages", None) or {"penultimate": penultimate_layer(model)}
    captured: dict[str, torch.Tensor] = {}

    def keep(name: str):
        if name == "penultimate":
            return lambda _module, inputs, _output: captured.__setitem__(name, inputs[0])
        return lambda _module, _inputs, output: captured.__setitem__(name, output)

    hooks = [module.register_forward_hook(keep(name)) for name, module in stages.items()]
    try:
        outputs = model(images)
    finally:
        for hook in hooks:
            hook.remove()
    features = torch.cat([_pooled(captured[name]) for name in stages], dim=1) / len(stages) ** 0.5
    return {
        "output": outputs.float().cpu().numpy(),
        "features": features.cpu().numpy(),
        "intensities": intensity_statistics(images),
    }


def dataset_statistics(
    model: nn.Module, dataset: Dataset, device: str | torch.device = "cpu", batch_size: int = 64
) -> dict[str, np.ndarray]:
    """:func:`forward_with_statistics` over a dataset of ``(image [C, H, W], target)`` items (in
    order, evaluation mode), concatenated: ``{"output", "features", "intensities"}``."""
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for images, _ in DataLoader(dataset, batch_size=batch_size):
        for key, value in forward_with_statistics(model, images.to(device)).items():
            parts.setdefault(key, []).append(value)
    return {key: np.concatenate(values) for key, values in parts.items()}
