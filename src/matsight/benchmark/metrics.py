"""Localisation of maps against ground-truth masks, and the table of every metric the benchmark reports.

All three localisation scores are per image, for maps ``[n, H, W]`` and masks ``bool [n, H, W]``
(each mask with pixels inside and outside), and each has a known value for a map unrelated to
the mask (``chance``) and for a map equal to the mask (``best``):

- ``mass_ratio``: the share of the map's positive mass on the mask divided by the mask's share of
  the image (chance 1; a map equal to the mask reaches 1 / mask fraction). A map with no positive
  mass scores 1 (it points nowhere).
- ``pointing_game``: whether the map's maximum lies on the mask; ties are split, so the score is
  the share of the maximal pixels on the mask (chance = the mask fraction; best 1).
- ``auroc``: area under the ROC curve of the map's values as a detector of mask pixels, ties
  counted half (Mann–Whitney U; chance 0.5, best 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata


def mass_ratio(maps: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    positive = maps.detach().cpu().double().clamp_min(0).flatten(1)
    inside = masks.cpu().flatten(1).double()
    fraction = inside.mean(dim=1)
    total = positive.sum(dim=1)
    share = torch.where(total > 0, (positive * inside).sum(dim=1) / total.clamp_min(1e-300), fraction)
    return (share / fraction).numpy()


def pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    values = maps.detach().cpu().double().flatten(1)
    top = values == values.max(dim=1, keepdim=True).values
    inside = masks.cpu().flatten(1)
    return ((top & inside).sum(dim=1) / top.sum(dim=1)).double().numpy()


def auroc(maps: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    values = maps.detach().cpu().double().flatten(1).numpy()
    inside = masks.cpu().flatten(1).numpy()
    ranks = rankdata(values, axis=1)  # average ranks: ties count half
    positives = inside.sum(axis=1)
    negatives = inside.shape[1] - positives
    u = (ranks * inside).sum(axis=1) - positives * (positives + 1) / 2
    return u / (positives * negatives)


def localisation(maps: torch.Tensor, masks: torch.Tensor) -> dict[str, np.ndarray]:
    """``{mass_ratio, pointing_game, auroc}``, each ``float64 [n]``."""
    return {
        "mass_ratio": mass_ratio(maps, masks),
        "pointing_game": pointing_game(maps, masks),
        "auroc": auroc(maps, masks),
    }


@dataclass(frozen=True)
class Metric:
    """A reported metric: its family, whether higher is better, and its value for a map unrelated to
    the truth (``chance``; ``None`` where it depends on the image)."""

    name: str
    family: str
    higher_is_better: bool
    chance: float | None
    meaning: str


METRICS = {
    m.name: m
    for m in (
        Metric("mass_ratio", "localisation", True, 1.0, "share of the map's mass on the cause ÷ the cause's share"),
        Metric(
            "pointing_game", "localisation", True, None, "the map's maximum lies on the cause (chance = cause share)"
        ),
        Metric("auroc", "localisation", True, 0.5, "AUROC of the map as a detector of the cause's pixels"),
        Metric("insertion_minus_deletion", "faithfulness", True, 0.0, "insertion AUC − deletion AUC (output units)"),
        Metric("faithfulness_correlation", "faithfulness", True, 0.0, "Quantus FaithfulnessCorrelation"),
        Metric("road", "faithfulness", False, None, "Quantus ROAD, most relevant first: decisions kept (share)"),
        Metric("randomisation", "sanity", False, 0.0, "rank correlation with the maps of a randomised model"),
        Metric("cost", "cost", False, None, "seconds ÷ one plain forward pass of the same images"),
    )
}
