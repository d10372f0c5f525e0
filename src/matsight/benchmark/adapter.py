"""The one module where the benchmark meets matsight's saliency engine and faithfulness metrics.

Today it reads the saliency runner's ``METHODS`` table and the deletion / insertion and
parameter-randomisation functions of :mod:`matsight.saliency.faithfulness`, and calls Quantus
0.6.0 directly for FaithfulnessCorrelation and ROAD. When the explainer registry and the
Quantus-based faithfulness module land, only this module changes.

Every metric function takes the model, images ``x`` ``float32 [n, C, H, W]``, maps ``[n, H, W]``
and the explained output (``target``, ``sign``) and returns one value per image ``float64 [n]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from matsight.benchmark.peers import Signed
from matsight.saliency import faithfulness
from matsight.saliency.runner import METHODS

Explain = Callable[[nn.Module, torch.Tensor, int | None, int], torch.Tensor]

DEFAULT_METHOD = {"regression": "fastcam", "classification": "fastcam", "multilabel": "fastcam"}
"""The method ``matsight saliency`` uses when none is given, per task kind."""


def matsight_methods() -> dict[str, Explain]:
    """Every registered matsight method: name → ``explain(model, x, target, sign) -> [n, H, W]``
    (the normalised map a user gets from ``matsight saliency``)."""

    def wrap(compute) -> Explain:
        return lambda model, x, target, sign: compute(model, x, target, sign)["map"].float()

    return {name: wrap(compute) for name, compute in METHODS.items()}


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

    np.random.seed(seed)  # Quantus draws its subsets from numpy's global generator
    n_pixels = x.shape[1] * x.shape[2] * x.shape[3]
    metric = quantus.FaithfulnessCorrelation(
        nr_runs=runs, subset_size=max(1, int(subset * n_pixels)), disable_warnings=True, return_aggregate=False
    )
    scores = metric(model=Signed(model, target, sign).eval(), y_batch=np.zeros(len(x), int), **_quantus_inputs(x, maps))
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
