"""Demo step: overlays of the regression default and a faithfulness table on the demo SEM regressor (< 60 s).

The next step (:mod:`matsight.benchmark.demo`) checks the default's maps against the causes the generator
planted.
"""

from __future__ import annotations

import numpy as np
import torch

from matsight.data.inputs import read_for_model
from matsight.models import load_model
from matsight.report import ORDER, Section, write_section
from matsight.saliency.config import SaliencyConfig
from matsight.saliency.faithfulness import faithfulness_table
from matsight.saliency.registry import build_explainer
from matsight.saliency.runner import run
from matsight.training.demo import TrainedRegressor

COMPARED = {"fastcam": {}, "gradcam": {}, "integrated-gradients": {"n_steps": 8}}
DEMO_PRESETS = {"cpu": {"images": 6}, "full": {"images": 32}}  # tiles explained and scored
SALIENCY_RUN = "sem-saliency"  # the step's run folder under the demo folder


def run_demo(ctx, sem: TrainedRegressor) -> None:
    """Maps of a few tiles with the task's default method, then deletion/insertion AUC for FastCAM,
    Grad-CAM, integrated gradients and the default."""
    run_dir, lots = sem.run, sem.lots
    n = DEMO_PRESETS["full" if ctx.full else "cpu"]["images"]
    folder = run(
        SaliencyConfig(
            out=ctx.root / SALIENCY_RUN,
            run=run_dir,
            data=lots,
            max_images=n,
            batch_size=n,
            per_group=2,
            device=ctx.device,
        )
    )
    default = folder.read_manifest()["arguments"]["method"]
    model, spec = load_model(run_dir, ctx.device)
    ds = spec.dataset(read_for_model(lots, spec))
    x = torch.stack([ds[i][0] for i in spread_indices(len(ds), n)]).to(ctx.device)
    explainers = {key: build_explainer(key, model, **kw) for key, kw in {default: {}, **COMPARED}.items()}
    faith = faithfulness_table(model, x, explainers, steps=8)
    folder.write_table("faithfulness", faith)
    write_section(
        folder.path,
        Section(
            key="faithfulness",
            title="Saliency faithfulness (deletion / insertion)",
            text="Score = standardised prediction minus the blurred image's prediction; deletion replaces the "
            "most salient pixels first (lower AUC is better), insertion restores them (higher is better). "
            f"The overlays show {default}, the default for regressors.",
            tables=["tables/faithfulness.csv"],
            order=ORDER["faithfulness"],
        ),
    )
    ctx.report_runs.append(folder.path)
    best = faith.sort_values("insertion_minus_deletion", ascending=False).iloc[0]
    ctx.headlines.append(
        (
            "saliency: most faithful method (insertion - deletion AUC)",
            f"{best['method']} ({best['insertion_minus_deletion']:.3f})",
        )
    )


def spread_indices(total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(total)`` (every one when ``n ≥ total``)."""
    return sorted({int(i) for i in np.linspace(0, total - 1, min(n, total))})
