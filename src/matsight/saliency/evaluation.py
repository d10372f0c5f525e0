"""How faithful are saliency maps? Quantus 0.6.0's metrics next to matsight's deletion/insertion.

The explained quantity is the scalar ``s(x) = sign * output[:, target]`` (:func:`select_output`):
the signed prediction of a regressor, a class logit or an attribute logit; ``target`` is one index
for every image or one per image (e.g. each image's top-scoring class). Quantus reads
``model(x)[:, y]`` with ``y`` one label per image, so the model is handed to it as
:class:`SignedOutputs` (``sign * output``, no softmax) with ``y`` = each image's target (0 for a
regressor): every metric then measures what happens to ``s``.

Metrics (per image; the table gives mean, sd and n over images):

- ``insertion-minus-deletion`` (matsight :func:`deletion_insertion`, blur substrate): insertion AUC
  minus deletion AUC. Higher is better.
- ``faithfulness-correlation`` (``quantus.FaithfulnessCorrelation``, Bhatt et al. 2020): Pearson r
  between the map's sum over random pixel subsets and the drop of ``s`` when they are set to the
  baseline. Higher is better.
- ``region-perturbation`` (``quantus.RegionPerturbation``, Samek et al. 2016, most relevant first):
  mean drop of ``s`` while the most salient patches are replaced (AOPC). Higher is better.
- ``road`` (``quantus.ROAD``, Rong et al. 2022, most relevant first): fraction of removal levels
  (noisy linear imputation) at which the prediction still holds. Lower is better.
- ``mprt`` (``quantus.MPRT``, Adebayo et al. 2018): Spearman rho between the maps of the trained and
  of the fully randomised model. Lower is better (the map depends on what the model learnt).

"The prediction still holds" (ROAD): for a classifier, argmax = target (Quantus's own reading); for
a regressor or an attribute, ``s`` has fallen by less than ``tolerance`` (default: half the standard
deviation of ``s`` over the evaluated images), read by Quantus through :class:`StillHolds`.

Every table row carries the same metric for a random map (``random_baseline``): uniform noise drawn
once from a local generator, the same on every call, so it ignores the model (its MPRT is 1).

Quantus draws from numpy's global random state (FaithfulnessCorrelation's subsets, ROAD's noise)
and its MPRT calls ``torch.manual_seed``. Each Quantus call therefore runs inside
:func:`isolated_rng`, which seeds both for the call and restores the caller's states afterwards.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from matsight.errors import ConfigError
from matsight.saliency.base import Target, check_sign, per_image_targets, select_output, target_of
from matsight.saliency.faithfulness import deletion_insertion, isolated_rng

# An explanation function for MPRT: (model, images [N,C,H,W], target) -> maps [N,H,W]; it must use the model it
# is given. ``target``: ``None`` (a regressor's output) or one output index per image.
ExplainFn = Callable[[nn.Module, torch.Tensor, list[int] | None], torch.Tensor]

METRICS = ("insertion-minus-deletion", "faithfulness-correlation", "region-perturbation", "road", "mprt")
HIGHER_IS_BETTER = {
    "insertion-minus-deletion": True,
    "faithfulness-correlation": True,
    "region-perturbation": True,
    "road": False,
    "mprt": False,
}
RANDOM = "random"


class SignedOutputs(nn.Module):
    """``model`` as Quantus reads it: ``sign * model(x)`` as ``[N, T]`` (a regressor: ``T = 1``); Quantus
    picks each image's explained output with its label ``y``."""

    def __init__(self, model: nn.Module, sign: int):
        super().__init__()
        self.model, self.sign = model, check_sign(sign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return self.sign * out.reshape(out.shape[0], -1)


class ExplainedScalar(nn.Module):
    """``model`` as one output: ``sign * model(x)[:, target]`` as ``[N, 1]`` (read ``y = 0``; ROAD's
    :class:`StillHolds` reads it one image at a time)."""

    def __init__(self, model: nn.Module, target: Target, sign: int):
        super().__init__()
        self.model, self.target, self.sign = model, target, check_sign(sign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return select_output(self.model(x), self.target, self.sign)[:, None]


class StillHolds(nn.Module):
    """Two logits ``[s - threshold, threshold - s]`` ``[N, 2]`` of an :class:`ExplainedScalar` ``s``:
    argmax is 0 (the prediction still holds) while ``s`` stays above ``threshold`` (output units)."""

    def __init__(self, scalar: ExplainedScalar, threshold: float):
        super().__init__()
        self.scalar, self.threshold = scalar, float(threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        margin = self.scalar(x) - self.threshold
        return torch.cat([margin, -margin], dim=1)


@dataclass(frozen=True)
class EvaluationConfig:
    """Settings of :func:`evaluate_maps`.

    ``steps``: deletion/insertion steps; ``substrate``: ``blur`` or ``mean`` (deletion/insertion);
    ``perturb_baseline``: what Quantus's FaithfulnessCorrelation / RegionPerturbation put in
    (``black``, ``mean``, ``uniform``...); ``runs`` and ``subset_fraction``: FaithfulnessCorrelation's
    random subsets (fraction of the pixels each); ``patch_size`` and ``regions``: RegionPerturbation;
    ``road_percentages``: ROAD's removal levels (% of pixels); ``tolerance``: ROAD's "still holds"
    margin for regressors (output units; ``None`` = half the standard deviation of ``s``);
    ``metrics``: which rows to compute; ``seed``: random maps and Quantus's draws.
    """

    steps: int = 10
    substrate: str = "blur"
    perturb_baseline: str = "black"
    runs: int = 50
    subset_fraction: float = 1 / 16
    patch_size: int = 8
    regions: int = 30
    road_percentages: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90)
    tolerance: float | None = None
    metrics: tuple[str, ...] = METRICS
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ConfigError(f"unknown faithfulness metric(s) {unknown}: choose from {', '.join(METRICS)}")
        if not 0 < self.subset_fraction < 1:
            raise ConfigError(f"subset_fraction must be in (0, 1), got {self.subset_fraction}")
        if self.steps < 1 or self.runs < 2 or self.regions < 1 or self.patch_size < 1:
            raise ConfigError("steps, regions and patch_size must be >= 1 and runs >= 2")


class _NoStructure(Exception):
    """The randomised model's maps are all zero (MPRT undefined)."""


def random_maps(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Uniform random maps ``[N,H,W]`` from a local generator: the same for the same ``x`` shape and seed."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return torch.rand(x.shape[0], *x.shape[-2:], generator=gen).to(x.device)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


class _Evaluator:
    """Per-image scores of one metric for one set of maps (used by :func:`evaluate_maps`)."""

    def __init__(self, model: nn.Module, x: torch.Tensor, target: Target, sign: int, classification: bool, config):
        self.model, self.x, self.sign = model, x, sign
        self.classification, self.config = classification, config
        self.signed = SignedOutputs(model, sign).eval()
        self.device = str(x.device)
        self.x_np = _numpy(x)
        with torch.no_grad():
            self.s = select_output(model(x), target, sign).float().cpu().numpy()  # checks the target
        per_image = per_image_targets(target, len(x))
        self.target = per_image if per_image is not None else target  # None, one index, or one per image
        self.y = np.array([0 if target is None else target_of(self.target, i) for i in range(len(x))], dtype=int)
        spread = float(self.s.std()) if len(self.s) > 1 else 0.0
        self.tolerance = config.tolerance if config.tolerance is not None else max(0.5 * spread, 1e-6)

    def _quantus(self, metric, model: nn.Module, x: np.ndarray, y: np.ndarray, maps: np.ndarray, **kwargs):
        with isolated_rng(self.config.seed):
            scores = metric(
                model=model,
                x_batch=x,
                y_batch=y,
                a_batch=maps[:, None],
                device=self.device,
                softmax=False,
                batch_size=len(x),
                **kwargs,
            )
        return scores

    def subset(self, rows: np.ndarray) -> _Evaluator:
        """The same evaluator (same tolerance) on images ``rows`` only."""
        view = copy.copy(self)
        view.x, view.x_np, view.y, view.s = self.x[torch.as_tensor(rows)], self.x_np[rows], self.y[rows], self.s[rows]
        if isinstance(self.target, list):
            view.target = [self.target[i] for i in rows]
        return view

    def score(self, metric: str, maps: torch.Tensor, explain: ExplainFn | None) -> np.ndarray:
        """``float64 [N]``: NaN where the metric is undefined: an empty map (constant or all zero, e.g.
        signed Grad-CAM where nothing pushes the output this way) has no order of pixels to test."""
        m = _numpy(maps)
        structured = np.ptp(m.reshape(len(m), -1), axis=1) > 0
        out = np.full(len(m), np.nan)
        if structured.all():
            return self._score(metric, maps, explain)
        if structured.any():
            rows = np.flatnonzero(structured)
            out[rows] = self.subset(rows)._score(metric, maps[torch.as_tensor(rows)], explain)
        return out

    def _score(self, metric: str, maps: torch.Tensor, explain: ExplainFn | None) -> np.ndarray:
        import quantus

        c, m = self.config, _numpy(maps)
        if metric == "insertion-minus-deletion":
            res = deletion_insertion(self.model, self.x, maps, self.target, self.sign, c.steps, c.substrate)
            return _numpy(res["insertion_auc"] - res["deletion_auc"]).astype(np.float64)
        if metric == "faithfulness-correlation":
            pixels = int(np.prod(self.x.shape[1:]))
            fc = quantus.FaithfulnessCorrelation(
                nr_runs=c.runs,
                subset_size=max(2, int(pixels * c.subset_fraction)),
                perturb_baseline=c.perturb_baseline,
                normalise=False,
                return_aggregate=False,
                disable_warnings=True,
            )
            return np.asarray(self._quantus(fc, self.signed, self.x_np, self.y, m), dtype=np.float64)
        if metric == "region-perturbation":
            rp = quantus.RegionPerturbation(
                patch_size=c.patch_size,
                regions_evaluation=c.regions,
                perturb_baseline=c.perturb_baseline,
                normalise=False,
                disable_warnings=True,
            )
            return np.asarray(self._quantus(rp, self.signed, self.x_np, self.y, m), dtype=np.float64).mean(axis=1)
        if metric == "road":
            return self._road(m)
        if metric == "mprt":
            if explain is None:
                return np.full(len(m), np.nan)
            mprt = quantus.MPRT(
                skip_layers=True, return_last_correlation=True, normalise=False, abs=False, disable_warnings=True
            )

            def quantus_explain(model, inputs, targets, **_):
                x = torch.as_tensor(inputs, device=self.x.device)
                target = None if self.target is None else [int(t) for t in targets]
                randomised = _numpy(explain(model.model, x, target))[:, None]
                if not randomised.any():  # Quantus refuses all-zero maps; the rank correlation is undefined
                    raise _NoStructure
                return randomised

            try:
                scores = self._quantus(mprt, self.signed, self.x_np, self.y, m, explain_func=quantus_explain)
            except _NoStructure:
                return np.full(len(m), np.nan)
            return np.asarray(scores, dtype=np.float64)
        raise ConfigError(f"unknown faithfulness metric {metric!r}")

    def _road(self, maps: np.ndarray) -> np.ndarray:
        """Mean over ROAD's removal levels of "the prediction still holds", per image (lower = more faithful).

        One Quantus call per image: ROAD averages over the images of a call, and each image of a
        regressor has its own threshold ``s_i - tolerance``.
        """
        import quantus

        native = self.classification and self.sign == 1
        out = np.empty(len(maps))
        for i in range(len(maps)):
            road = quantus.ROAD(
                percentages=list(self.config.road_percentages),
                normalise=False,
                return_aggregate=False,
                disable_warnings=True,
            )
            if native:
                model, y = self.model, self.y[i : i + 1]
            else:
                scalar = ExplainedScalar(self.model, None if self.target is None else int(self.y[i]), self.sign)
                model, y = StillHolds(scalar, self.s[i] - self.tolerance).eval(), np.zeros(1, dtype=int)
            curve = self._quantus(road, model, self.x_np[i : i + 1], y, maps[i : i + 1])
            out[i] = np.mean(list(curve.values()))
        return out


def evaluate_maps(
    model: nn.Module,
    x: torch.Tensor,
    maps: dict[str, torch.Tensor],
    explain: dict[str, ExplainFn] | None = None,
    target: int | list[int] | None = None,
    sign: int = 1,
    task: str = "regression",
    config: EvaluationConfig | None = None,
    on_step: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Faithfulness table of ``maps`` (``name -> [N,H,W]`` for images ``x [N,C,H,W]``).

    ``target``: ``None`` (a regressor's output), one output index for every image, or a list of one
    index per image (e.g. each image's top-scoring class). ``explain[name](model, x, target) -> [N,H,W]``
    recomputes a method's maps on another model (needed for MPRT; without it the MPRT row is NaN;
    ``target`` is ``None`` or one index per image of ``x``). Returns one row per method and metric:
    ``method, metric, mean, sd, n, random_baseline, higher_is_better, beats_random`` (mean and sd over
    the images where the metric is defined; ``n`` = their number; sd with ddof 1). ``on_step(text)``
    is called before each metric of each map (progress).
    """
    config = config or EvaluationConfig()
    evaluator = _Evaluator(model, x, target, sign, task == "classification", config)
    rand = random_maps(x, config.seed)
    explain = dict(explain or {})
    explain[RANDOM] = lambda _model, images, _target: random_maps(images, config.seed)
    rows = []
    for metric in config.metrics:
        if on_step is not None:
            on_step(f"{metric}: random maps")
        baseline = _summary(evaluator.score(metric, rand, explain[RANDOM]))
        for name, m in maps.items():
            if on_step is not None:
                on_step(f"{metric}: {name}")
            s = _summary(evaluator.score(metric, m, explain.get(name)))
            higher = HIGHER_IS_BETTER[metric]
            beats = s["mean"] > baseline["mean"] if higher else s["mean"] < baseline["mean"]
            rows.append(
                {
                    "method": name,
                    "metric": metric,
                    **s,
                    "random_baseline": baseline["mean"],
                    "higher_is_better": higher,
                    "beats_random": bool(beats) if np.isfinite(s["mean"]) else False,
                }
            )
    return pd.DataFrame(rows)


def _summary(scores: np.ndarray) -> dict[str, float]:
    finite = scores[np.isfinite(scores)]
    n = len(finite)
    return {
        "mean": float(finite.mean()) if n else float("nan"),
        "sd": float(finite.std(ddof=1)) if n > 1 else float("nan"),
        "n": n,
    }
