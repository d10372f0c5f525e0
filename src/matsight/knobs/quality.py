"""Editor quality, measured: held-out reconstruction error and attribute control.

Attribute control uses an *independent* attribute regressor (:class:`~matsight.knobs.editor.AttributeRegressor`,
trained on real tiles with :func:`matsight.training.fit`, never seen by the editor): for knob ``i``
set to each of ``levels`` with the other attributes at each tile's own values, the measured
attributes of the edited tiles are regressed on the requested value. ``slopes[i, j]`` is
d(measured j)/d(requested i) in scaled units: the diagonal is the knob's control slope (1 =
perfect), the off-diagonal the cross-talk. A knob *passes* (:func:`knob_passes`) when the measurer
reads that attribute on real held-out tiles (R² ≥ ``MIN_MEASURER_R2``), its control slope is
≥ ``MIN_CONTROL_SLOPE`` and it moves no other readable attribute by more than ``MAX_CROSS_TALK``
times its own slope — otherwise a sweep of the knob measures the other attribute's effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from matsight.knobs.editor import AttributeRegressor
from matsight.store import RunFolder

MIN_CONTROL_SLOPE = 0.2
MIN_MEASURER_R2 = 0.3
MAX_CROSS_TALK = 0.5
MEASURER_WIDTH = 32
MEASURER_DEPTH = 4


def measurer_depth(image_size: int) -> int:
    """:data:`MEASURER_DEPTH` strided convolutions, fewer when tiles are too small to keep a 2×2 grid."""
    return max(2, min(MEASURER_DEPTH, image_size.bit_length() - 2))


@torch.no_grad()
def reconstruction_error(editor: nn.Module, images: torch.Tensor, attributes: torch.Tensor) -> float:
    """Mean absolute error ``|G(I; A) − I|`` per pixel (intensity in [0,1]) over tiles ``[N,1,S,S]``."""
    return float((editor(images, attributes) - images).abs().mean())


def resize_tiles(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Tiles ``[N, C, S, S]`` resized (antialiased bilinear) to ``size`` px; ``None`` or ``S``: unchanged."""
    if size is None or size == images.shape[-1]:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class Measurer(nn.Module):
    """A trained :class:`AttributeRegressor` returning scaled attributes ``[N, A]`` (un-standardised) of
    tiles resized to ``size`` px (the size it was trained at; ``None``: as given)."""

    def __init__(self, model: nn.Module, mean: torch.Tensor, std: torch.Tensor, size: int | None = None):
        super().__init__()
        self.model = model.eval()
        self.size = size
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(resize_tiles(x, self.size)) * self.std + self.mean


def fit_measurer(
    run: RunFolder,
    images: torch.Tensor,
    attributes: torch.Tensor,
    val_images: torch.Tensor,
    val_attributes: torch.Tensor,
    epochs: int = 60,
    width: int = MEASURER_WIDTH,
    depth: int | None = None,
    size: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> Measurer:
    """Train the independent attribute regressor on real tiles ``[N,1,S,S]`` into ``run`` (resumable via
    ``fit``), read at ``size`` px (``None``: ``S``); ``depth=None`` → :func:`measurer_depth` of that size."""
    from matsight.models import ModelSpec, read_checkpoint
    from matsight.training import FitConfig, fit

    torch.manual_seed(seed)
    images, val_images = resize_tiles(images, size), resize_tiles(val_images, size)
    depth = measurer_depth(images.shape[-1]) if depth is None else depth
    model = AttributeRegressor(attributes.shape[1], width, depth)
    mean, std = attributes.mean(0), attributes.std(0).clamp_min(1e-3)
    spec = ModelSpec(
        arch="attribute_regressor",
        task="regression",
        num_outputs=attributes.shape[1],
        image_size=images.shape[-1],
        target_mean=tuple(mean.tolist()),
        target_std=tuple(std.tolist()),
    )
    config = FitConfig(epochs=epochs, batch_size=32, optimizer="adam", lr=2e-3, seed=seed, device=device)
    fit(model, TensorDataset(images, attributes), TensorDataset(val_images, val_attributes), spec, run, config)
    model.load_state_dict(read_checkpoint(run.path)["model"])
    return Measurer(model, mean, std, images.shape[-1])


def r2_scores(measured: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """R² per column of ``[N, A]`` arrays."""
    ss_res = ((measured - truth) ** 2).sum(0)
    ss_tot = ((truth - truth.mean(0)) ** 2).sum(0)
    return 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1)


@dataclass
class ControlReport:
    """``slopes [A, A]`` (knob i → measured j), ``measurer_r2 [A]`` on real held-out tiles,
    ``passes [A]`` bool, ``reconstruction_l1`` on held-out tiles."""

    names: list[str]
    slopes: np.ndarray
    measurer_r2: np.ndarray
    passes: np.ndarray
    reconstruction_l1: float

    def to_dict(self) -> dict:
        return {
            "names": self.names,
            "slopes": self.slopes.tolist(),
            "measurer_r2": self.measurer_r2.tolist(),
            "passes": self.passes.tolist(),
            "reconstruction_l1": self.reconstruction_l1,
        }


def knob_passes(slopes: np.ndarray, measurer_r2: np.ndarray) -> np.ndarray:
    """Which knobs can be trusted, ``bool [A]``, from control slopes ``[A, A]`` (knob i → measured j)
    and the measurer's R² ``[A]`` on real tiles; cross-talk counts only into attributes it reads."""
    readable = np.asarray(measurer_r2) >= MIN_MEASURER_R2
    control = np.diag(slopes)
    cross = np.abs(slopes) * readable[None, :]
    np.fill_diagonal(cross, 0.0)
    return readable & (control >= MIN_CONTROL_SLOPE) & (cross.max(1) <= MAX_CROSS_TALK * control)


@torch.no_grad()
def attribute_control(
    editor: nn.Module,
    measurer: nn.Module,
    images: torch.Tensor,
    attributes: torch.Tensor,
    names: list[str],
    levels: np.ndarray = np.linspace(0, 1, 5),
) -> ControlReport:
    """Control slopes and cross-talk of every knob on tiles ``[N,1,S,S]`` with attributes ``[N, A]``."""
    n_attr = attributes.shape[1]
    slopes = np.zeros((n_attr, n_attr))
    for i in range(n_attr):
        measured = []
        for v in levels:
            a = attributes.clone()
            a[:, i] = float(v)
            measured.append(measurer(editor(images, a)).mean(0).numpy())
        slopes[i] = np.polyfit(levels, np.stack(measured), 1)[0]
    r2 = r2_scores(measurer(images).numpy(), attributes.numpy())
    return ControlReport(
        list(names), slopes, r2, knob_passes(slopes, r2), reconstruction_error(editor, images, attributes)
    )
