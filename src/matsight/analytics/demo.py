"""Demo step ``xray``: synthetic scattering images → small multi-label ResNet-18 → analytics for the app."""

from __future__ import annotations

from matsight.analytics.compute import Analytics, AnalyticsConfig
from matsight.analytics.compute import run as run_analytics
from matsight.report import ORDER, Section, write_section
from matsight.report.agreement import tag_agreement

# Settings of the demo's x-ray step: images, image size (px), epochs, model input size (px). 30 epochs on 2 cores
# take about 2 min: held-out mAP 0.73 and 7 of 17 tags read as the generator drew them (40 epochs: 0.76, 7 of 17,
# 30 s more of the demo's 15-minute budget; 3 epochs 0.60 and 2 of 17; docs/xray.md).
DEMO_PRESETS = {
    "cpu": dict(n=600, size=64, epochs=30, image_size=48),
    "full": dict(n=4000, size=256, epochs=30, image_size=128),
}


def run_demo(ctx) -> Analytics:
    """Generate data, train a tagger, compute its analytics (a run folder with its report section);
    record the held-out mAP headline and return the analytics."""
    from matsight.synth.xray import generate_xray
    from matsight.training import TrainConfig, train

    preset = DEMO_PRESETS["full" if ctx.full else "cpu"]
    data = generate_xray(ctx.root / "xray-data", n=preset["n"], size=preset["size"], seed=ctx.seed)
    run = train(
        TrainConfig(
            data=data,
            out=ctx.root / "xray-tagger",
            task="multilabel",
            arch="resnet18",
            epochs=preset["epochs"],
            image_size=preset["image_size"],
            batch_size=32,
            optimizer="adam",
            seed=ctx.seed,
            device=ctx.device,
        )
    )
    folder = run_analytics(AnalyticsConfig(out=run.path / "analytics", run=run.path, seed=ctx.seed, device=ctx.device))
    result = Analytics.read(folder.path)
    mean_ap, val_ap = result.summary["map"], result.summary["map_held_out"]
    ctx.report_runs += [run.path, folder.path]
    ctx.headlines.append(("X-ray tagger mAP", f"{val_ap:.3f} held out ({mean_ap:.3f} all images)"))
    ctx.console.print(
        f"x-ray tagger mAP {val_ap:.3f} on held-out images; explore it with: [bold]matsight app {run.path}[/]"
    )
    held_out = result.points[result.points["split"] == "val"]
    names = result.summary["attributes"]
    agreement = tag_agreement(
        held_out[[f"label__{a}" for a in names]].to_numpy(), held_out[[f"prob__{a}" for a in names]].to_numpy(), names
    )
    ctx.console.print(agreement.console_line())
    title = "X-ray tagger vs the generator's tags"
    write_section(
        folder.path, Section("analytics-agreement", title, agreement.report_text(), order=ORDER["analytics"] + 1)
    )
    return result
