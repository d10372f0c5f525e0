"""Demo step: do the saliency default's maps find the causes the SEM generator planted?

The demo lots' CPS rises with porosity and falls with grain size, so a tile's pits and grain boundaries
are where it carries what raises CPS (:func:`matsight.synth.sem.raising_cause_mask`, read from the lots'
``masks/``). The regression default's maps (:data:`matsight.saliency.registry.DEFAULT_METHOD`), as
detectors of those pixels (AUROC, chance 0.5), should beat chance and the input's Sobel edges — the
edge-detector baseline that outlines grain boundaries and pit rims without reading the model
(:mod:`matsight.benchmark.baselines`); the benchmark's CPS task asks the same question over seeds
(docs/benchmark.md). The verdict is printed and written as a report section of the saliency step's run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import wilcoxon

from matsight.benchmark.baselines import sobel_edges
from matsight.benchmark.metrics import auroc
from matsight.data.dataset import ImageTable
from matsight.data.inputs import read_for_model
from matsight.models import load_model
from matsight.report import ORDER, Section, write_section
from matsight.saliency.demo import SALIENCY_RUN, spread_indices
from matsight.saliency.registry import DEFAULT_METHOD, build_explainer
from matsight.training.demo import TrainedRegressor

DEMO_PRESETS = {"cpu": {"tiles": 24}, "full": {"tiles": 128}}  # tiles whose maps are checked
AGREEMENT_P = 0.05  # one-sided Wilcoxon signed-rank test over tiles, against chance and against Sobel


def run_demo(ctx, sem: TrainedRegressor) -> bool:
    """Score the default's maps of tiles spread over the lots against the planted causes; print and report
    the verdict; return whether they agree (:func:`localisation_agreement`)."""
    model, spec = load_model(sem.run, ctx.device)
    method = DEFAULT_METHOD[spec.task]
    table = read_for_model(sem.lots, spec)
    ds = spec.dataset(table)
    tiles = spread_indices(len(ds), DEMO_PRESETS["full" if ctx.full else "cpu"]["tiles"])
    x = torch.stack([ds[i][0] for i in tiles]).to(ctx.device)
    masks = torch.from_numpy(planted_causes(sem.lots, table, tiles))
    agrees, line = localisation_agreement(
        method,
        auroc(_resized(build_explainer(method, model).attribute(x).cpu(), masks), masks),
        auroc(_resized(sobel_edges(model, x, None, 1), masks), masks),
    )
    ctx.console.print(f"saliency vs ground truth: {line}")
    write_section(
        ctx.root / SALIENCY_RUN,
        Section(
            key="saliency-planted-causes",
            title="Saliency demo: do the maps find the planted causes?",
            text=f"Maps of {len(tiles)} tiles spread over the lots against the pits and grain boundaries the "
            f"generator drew (what raises CPS in its formula). The {line}.",
            metrics={"planted causes": "agrees" if agrees else "does not agree"},
            order=ORDER["faithfulness"] + 1,
        ),
    )
    ctx.headlines.append(
        (f"saliency: {method} maps vs planted pits and grain boundaries", "agrees" if agrees else "does NOT agree")
    )
    return agrees


def planted_causes(lots: Path, table: ImageTable, indices: list[int]) -> np.ndarray:
    """``bool [n, H, W]``: for the tiles ``table.paths[indices]`` of synthetic lots, where each carries what
    raises CPS (:func:`matsight.synth.sem.raising_cause_mask` of its ``masks/<lot>/<tile>.png``)."""
    from matsight.synth.masks import read_masks
    from matsight.synth.sem import raising_cause_mask

    truth = json.loads((Path(lots) / "ground_truth.json").read_text())
    folder, bits = Path(lots) / truth["masks"]["folder"], truth["masks"]["bits"]
    return np.stack(
        [
            raising_cause_mask(read_masks(folder / table.groups[i] / table.paths[i].name, bits), truth["coefficients"])
            for i in indices
        ]
    )


def localisation_agreement(method: str, method_auroc: np.ndarray, sobel_auroc: np.ndarray) -> tuple[bool, str]:
    """Do ``method``'s maps find the planted causes? ``(agrees, one line)`` from per-tile AUROCs ``[n]`` of the
    method's maps and of the input's Sobel edges against the cause masks: agrees when the method beats
    chance (0.5) and Sobel, each by a one-sided Wilcoxon signed-rank test over tiles at p ≤ :data:`AGREEMENT_P`."""
    p_chance, p_sobel = _greater(method_auroc, 0.5), _greater(method_auroc, sobel_auroc)
    agrees = p_chance <= AGREEMENT_P and p_sobel <= AGREEMENT_P
    return agrees, (
        f"{method} maps {'agree' if agrees else 'do NOT agree'} with the planted causes (pits and grain "
        f"boundaries, what raises CPS): AUROC {method_auroc.mean():.2f} ± {method_auroc.std():.2f} over "
        f"{len(method_auroc)} tiles vs chance 0.5 (p = {p_chance:.3f}) and Sobel edges "
        f"{sobel_auroc.mean():.2f} ± {sobel_auroc.std():.2f} (p = {p_sobel:.3f})"
    )


def _greater(a: np.ndarray, b: np.ndarray | float) -> float:
    """One-sided Wilcoxon signed-rank p that ``a`` exceeds ``b`` tile by tile (1 when they never differ)."""
    differences = np.asarray(a - b, np.float64)
    if not np.any(differences):
        return 1.0
    return float(wilcoxon(differences, alternative="greater").pvalue)


def _resized(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Maps ``[n, h, w]`` resized (bilinear) to the masks' ``[n, H, W]`` when they differ."""
    if maps.shape[-2:] == masks.shape[-2:]:
        return maps
    return F.interpolate(maps[:, None].float(), size=masks.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
