"""Faithfulness of maps: deletion/insertion curves with AUC, and the parameter-randomisation check.

Scores are ``sign * output[:, target]`` (``select_output``) minus the score of the substrate image,
so for a regressor the curves show how far the prediction has moved toward the substrate's
prediction. Deletion replaces the top-ranked pixels by the substrate (lower AUC = more faithful),
insertion starts from the substrate and restores them (higher AUC = more faithful).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from matsight.errors import ConfigError
from matsight.saliency.base import Target, per_image_targets, select_output


def substrate(x: torch.Tensor, kind: str = "blur") -> torch.Tensor:
    """What removed pixels become, ``[N,C,H,W]``: a strong Gaussian blur or the per-image mean."""
    if kind == "mean":
        return x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x)
    if kind == "blur":
        sigma = max(x.shape[-1] / 16, 1.0)
        size = int(2 * round(3 * sigma) + 1)
        return gaussian_blur(x, [size, size], [sigma, sigma])
    raise ConfigError(f"substrate must be 'blur' or 'mean', got {kind!r}")


@torch.no_grad()
def _scores(model: nn.Module, images: torch.Tensor, target, sign, batch_size: int) -> torch.Tensor:
    """``sign * output[:, target]`` ``[M]`` for ``images`` ``[M,C,H,W]`` (a per-image ``target``: one per image)."""
    return select_output(torch.cat([model(chunk) for chunk in images.split(batch_size)]), target, sign)


@torch.no_grad()
def deletion_insertion(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    target: Target = None,
    sign: int = 1,
    steps: int = 10,
    kind: str = "blur",
    batch_size: int = 64,
) -> dict:
    """Deletion and insertion curves for maps ``[N,H,W]`` on images ``[N,C,H,W]`` (``target``: see
    :func:`~matsight.saliency.base.select_output`, e.g. one output index per image).

    Returns ``{"fraction": [steps+1], "deletion": [N,steps+1], "insertion": [N,steps+1],
    "deletion_auc": [N], "insertion_auc": [N]}``; curves are score minus substrate score (output
    units), AUC is the trapezoid mean over the fraction of pixels changed.
    """
    n, _, h, w = x.shape
    base = substrate(x, kind)
    fractions = torch.linspace(0, 1, steps + 1, device=x.device)
    rank = maps.flatten(1).argsort(dim=1, descending=True).argsort(dim=1)  # 0 = most salient
    keep = rank.unsqueeze(0) < (fractions * h * w).round().view(-1, 1, 1)  # [S,N,HW] top pixels
    keep = keep.view(steps + 1, n, 1, h, w).to(x.dtype)
    deleted = x * (1 - keep) + base * keep
    inserted = base * (1 - keep) + x * keep
    sub = _scores(model, base, target, sign, batch_size)
    per_image = per_image_targets(target, n)
    every_step = target if per_image is None else per_image * (steps + 1)  # images are step-major below
    out = {"fraction": fractions}
    for name, images in (("deletion", deleted), ("insertion", inserted)):
        s = _scores(model, images.flatten(0, 1), every_step, sign, batch_size).view(steps + 1, n).T - sub[:, None]
        out[name] = s
        out[f"{name}_auc"] = torch.trapezoid(s, fractions, dim=1)
    return out


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation per image between maps ``[N,H,W]`` -> ``[N]``."""
    ra = a.flatten(1).argsort(dim=1).argsort(dim=1).float()
    rb = b.flatten(1).argsort(dim=1).argsort(dim=1).float()
    ra, rb = ra - ra.mean(dim=1, keepdim=True), rb - rb.mean(dim=1, keepdim=True)
    return (ra * rb).sum(dim=1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-12)


@contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Seed numpy's and torch's global random states for the block; restore the caller's afterwards.

    For code that draws from the global states and takes no generator (``reset_parameters``,
    Quantus), so a caller's random streams are the same whether or not it ran.
    """
    state = np.random.get_state()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def randomised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with every layer's parameters re-initialised (``reset_parameters``),
    drawn under :func:`isolated_rng` (the caller's global random state is left as it was)."""
    clone = copy.deepcopy(model)
    with isolated_rng(seed):
        for module in clone.modules():
            if hasattr(module, "reset_parameters") and module is not clone:
                module.reset_parameters()
    return clone


def randomisation_check(
    make: Callable[[nn.Module], object], model: nn.Module, x: torch.Tensor, target: int | None = None, sign: int = 1
) -> torch.Tensor:
    """Parameter-randomisation sanity check (Adebayo et al. 2018): rank correlation ``[N]`` between
    the maps of ``make(model)`` and of ``make(randomised model)``; faithful methods give low values."""
    trained = make(model).attribute(x, target=target, sign=sign)
    rand = make(randomised_copy(model).eval()).attribute(x, target=target, sign=sign)
    return rank_correlation(trained, rand)


def faithfulness_table(
    model: nn.Module,
    x: torch.Tensor,
    explainers: dict[str, object],
    target: int | None = None,
    sign: int = 1,
    steps: int = 10,
    kind: str = "blur",
    seed: int = 0,
) -> pd.DataFrame:
    """One row per method (plus ``random`` maps): mean deletion / insertion AUC over the images."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    maps = {name: e.attribute(x, target=target, sign=sign) for name, e in explainers.items()}
    maps["random"] = torch.rand(x.shape[0], *x.shape[-2:], generator=gen).to(x.device)
    rows = []
    for name, m in maps.items():
        res = deletion_insertion(model, x, m, target, sign, steps, kind)
        rows.append(
            {
                "method": name,
                "deletion_auc": res["deletion_auc"].mean().item(),
                "insertion_auc": res["insertion_auc"].mean().item(),
                "insertion_minus_deletion": (res["insertion_auc"] - res["deletion_auc"]).mean().item(),
            }
        )
    return pd.DataFrame(rows)
