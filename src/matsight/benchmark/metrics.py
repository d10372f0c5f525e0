"""Every score the benchmark gives a map: localisation against the ground-truth masks, faithfulness to
the model, the randomisation check, and the table of metrics (:data:`METRICS`).

Localisation: all three scores are per image, for maps ``[n, H, W]`` and masks ``bool [n, H, W]``
(each mask with pixels inside and outside), and each has a known value for a map unrelated to
the mask (``chance``) and for a map equal to the mask (``best``):

- ``mass_ratio``: the share of the map's positive mass on the mask divided by the mask's share of
  the image (chance 1; a map equal to the mask reaches 1 / mask fraction). A map with no positive
  mass scores 1 (it points nowhere).
- ``pointing_game``: whether the map's maximum lies on the mask; ties are split, so the score is
  the share of the maximal pixels on the mask (chance = the mask fraction; best 1).
- ``auroc``: area under the ROC curve of the map's values as a detector of mask pixels, ties
  counted half (Mann–Whitney U; chance 0.5, best 1).

Faithfulness and randomisation take the model, images ``x`` ``float32 [n, C, H, W]``, maps ``[n, H, W]``
and the explained output (``target``, ``sign``) and return one value per image ``float64 [n]``:
insertion − deletion and the randomisation check from :mod:`matsight.saliency.faithfulness`,
FaithfulnessCorrelation and ROAD from Quantus 0.6.0, called directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from matsight.saliency import faithfulness
from matsight.saliency.base import select_output

Explain = Callable[[nn.Module, torch.Tensor, int | None, int], torch.Tensor]
"""``explain(model, x [n,C,H,W], target, sign) -> [n,H,W]``: how the benchmark calls every method."""


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


class Signed(nn.Module):
    """``model`` seen as one output ``[N, 1]`` = ``sign * output[:, target]`` (peers and Quantus explain index 0)."""

    def __init__(self, model: nn.Module, target: int | None, sign: int):
        super().__init__()
        self.model, self.target, self.sign = model, target, sign

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return select_output(self.model(x), self.target, self.sign)[:, None]


def rankable(maps: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``maps`` ``[n, H, W]`` shifted to a minimum of 0 per image; a constant map (it ranks nothing)
    becomes a seeded uniform random map, so it scores what a random ordering scores. Adding a
    constant changes none of the faithfulness metrics (they rank pixels or correlate sums over
    equal-sized subsets) but lets Quantus accept all-negative maps."""
    flat = maps.detach().float().flatten(1)
    low, high = flat.min(dim=1).values, flat.max(dim=1).values
    noise = torch.rand(flat.shape, generator=torch.Generator().manual_seed(seed)).to(flat.device)
    shifted = torch.where((high > low)[:, None], flat - low[:, None], noise)
    return shifted.view_as(maps)


def insertion_minus_deletion(model, x, maps, target, sign, steps: int) -> np.ndarray:
    """Insertion AUC − deletion AUC (blur substrate, output units; higher = more faithful)."""
    result = faithfulness.deletion_insertion(model, x, rankable(maps).to(x.device), target, sign, steps=steps)
    return (result["insertion_auc"] - result["deletion_auc"]).double().cpu().numpy()


def _quantus_inputs(x: torch.Tensor, maps: torch.Tensor) -> dict:
    return {
        "x_batch": x.detach().cpu().numpy(),
        "a_batch": rankable(maps).cpu().numpy()[:, None].astype(np.float32),
        "channel_first": True,
        "softmax": False,
        "device": str(x.device),
    }


def faithfulness_correlation(model, x, maps, target, sign, runs: int, subset: float, seed: int) -> np.ndarray:
    """Quantus FaithfulnessCorrelation (Bhatt et al. 2020): Pearson correlation, over ``runs`` random
    pixel subsets (``subset`` of the pixels set to black), between the subset's attribution sum and
    the output's drop (higher = more faithful; ≈ 0 for a map unrelated to the model)."""
    import quantus

    n_pixels = x.shape[1] * x.shape[2] * x.shape[3]
    metric = quantus.FaithfulnessCorrelation(
        nr_runs=runs, subset_size=max(1, int(subset * n_pixels)), disable_warnings=True, return_aggregate=False
    )
    state = np.random.get_state()  # Quantus draws its subsets from numpy's global generator: seed it, then restore
    np.random.seed(seed)
    try:
        scores = metric(
            model=Signed(model, target, sign).eval(), y_batch=np.zeros(len(x), int), **_quantus_inputs(x, maps)
        )
    finally:
        np.random.set_state(state)
    return np.asarray(scores, np.float64)


class _TagDecision(nn.Module):
    """A multi-label tag as a two-way decision ``[N, 2]`` = ``[0, sign * logit]`` (argmax 1 = tag predicted)."""

    def __init__(self, model: nn.Module, target: int, sign: int):
        super().__init__()
        self.score = Signed(model, target, sign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = self.score(x)
        return torch.cat([torch.zeros_like(score), score], dim=1)


def road(model, x, maps, target, sign, kind: str, percentages: tuple[int, ...]) -> np.ndarray:
    """Quantus ROAD (Rong et al. 2022), most relevant first: the share of images whose decision
    survives removing (noisy linear imputation) each percentage of the pixels, averaged over the
    percentages (lower = more faithful). Quantus 0.6 reports it per batch, so every image gets the
    batch's value. A classifier's decision is its class (target = the true class), a tag's is
    whether it is predicted; a regressor has no decision: NaN. Quantus 0.6 ROAD also fails on
    multi-channel images (it ranks the map broadcast over the channels but imputes per pixel): NaN."""
    import quantus

    if kind == "regression" or x.shape[1] != 1:
        return np.full(len(x), np.nan)
    decision = _TagDecision(model, target, sign) if kind == "multilabel" else model
    labels = np.ones(len(x), int) if kind == "multilabel" else np.full(len(x), target)
    metric = quantus.ROAD(percentages=list(percentages), disable_warnings=True, return_aggregate=False)
    curve = metric(model=decision.eval(), y_batch=labels, batch_size=len(x), **_quantus_inputs(x, maps))
    return np.full(len(x), float(np.mean(list(curve.values()))))


def randomisation(explain: Explain, model, x, target, sign) -> np.ndarray:
    """Model-parameter randomisation check (Adebayo et al. 2018): Spearman rank correlation between
    the method's maps of the trained model and of a copy with every layer re-initialised (lower =
    the map depends on what the model learned)."""

    class _Maps:
        def __init__(self, model):
            self.model = model

        def attribute(self, x, target=None, sign=1):
            return explain(self.model, x, target, sign).to(x.device)

    return faithfulness.randomisation_check(_Maps, model, x, target, sign).double().cpu().numpy()


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
