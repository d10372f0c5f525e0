"""Demo step: FastCAM overlays and a faithfulness table on the demo SEM regressor (< 60 s, 2 cores)."""

from __future__ import annotations

import torch

from matsight.data.validate import read_dataset
from matsight.models import load_model
from matsight.report import Section, write_section
from matsight.saliency.captum_methods import IntegratedGradients
from matsight.saliency.faithfulness import faithfulness_table
from matsight.saliency.fastcam import FastCAM
from matsight.saliency.gradcam import GradCAM
from matsight.saliency.runner import explain_dataset


def run_demo(ctx) -> None:
    """FastCAM maps of a few tiles, then deletion/insertion AUC for FastCAM, Grad-CAM and IG."""
    run_dir, lots = ctx.shared["sem_run"], ctx.shared["sem_lots"]
    n = 32 if ctx.full else 6
    run = explain_dataset(
        run_dir,
        lots,
        ctx.root / "sem-saliency",
        method="fastcam",
        max_images=n,
        batch_size=n,
        per_group=2,
        device=ctx.device,
    )
    model, spec = load_model(run_dir, ctx.device)
    ds = spec.dataset(read_dataset(lots, target=spec.target))
    x = torch.stack([ds[i][0] for i in range(0, len(ds), max(1, len(ds) // n))][:n]).to(ctx.device)
    explainers = {
        "fastcam": FastCAM(model),
        "gradcam": GradCAM(model),
        "integrated-gradients": IntegratedGradients(model, n_steps=8),
    }
    faith = faithfulness_table(model, x, explainers, steps=8)
    run.write_table("faithfulness", faith)
    write_section(
        run.path,
        Section(
            key="faithfulness",
            title="Saliency faithfulness (deletion / insertion)",
            text="Score = standardised prediction minus the blurred image's prediction; deletion replaces the "
            "most salient pixels first (lower AUC is better), insertion restores them (higher is better).",
            tables=["tables/faithfulness.csv"],
        ),
    )
    ctx.report_runs.append(run.path)
    best = faith.sort_values("insertion_minus_deletion", ascending=False).iloc[0]
    ctx.headlines.append(
        (
            "saliency: most faithful method (insertion - deletion AUC)",
            f"{best['method']} ({best['insertion_minus_deletion']:.3f})",
        )
    )
