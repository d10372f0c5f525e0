"""Demo step ``sem``: synthetic SEM lots → ResNet-18 CPS regressor → held-out predictions.

Writes ``ctx.root/"sem-lots"`` (layout 1, :func:`matsight.synth.sem.generate_lots`) and trains
``ctx.root/"sem-regressor"`` with :func:`matsight.training.train`, and returns both as a
:class:`TrainedRegressor` that the later SEM steps (saliency, textures, knobs) receive. The CPU preset
trains in about 3 minutes on 2 cores; ``full`` uses paper-scale settings (384 px, 40 tiles per lot,
resnet18 for 30 epochs) meant for a GPU. Reruns reuse the lots and resume/skip the training run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matsight.training.config import TrainConfig
from matsight.training.train import train

# lots, tiles per lot, rendered tile size px, training image size px, epochs, optimiser, lr schedule (Adam
# with cosine annealing converges from scratch on CPU; the paper's SGD recipe is for the GPU-sized run),
# design of the lot attributes (matsight.synth.sem.generate_lots)
DEMO_PRESETS = {
    "cpu": dict(
        lots=30,
        tiles_per_lot=24,
        tile_size=96,
        image_size=96,
        epochs=18,
        optimizer="adam",
        schedule="cosine",
        design="random",
    ),
    "full": dict(
        lots=30,
        tiles_per_lot=40,
        tile_size=384,
        image_size=384,
        epochs=30,
        optimizer="sgd",
        schedule="exponential",
        design="random",
    ),
}


@dataclass(frozen=True)
class TrainedRegressor:
    """What the SEM part's first step hands to the next ones: the lots folder and the regressor's run folder."""

    lots: Path
    run: Path


def run_demo(ctx) -> TrainedRegressor:
    """Generate the lots, train and evaluate the regressor, record the headline R²."""
    from matsight.synth.sem import generate_lots

    settings = DEMO_PRESETS["full" if ctx.full else "cpu"]
    lots = ctx.root / "sem-lots"
    if not (lots / "ground_truth.json").exists():
        generate_lots(
            lots,
            lots=settings["lots"],
            tiles_per_lot=settings["tiles_per_lot"],
            size=settings["tile_size"],
            seed=ctx.seed,
            design=settings["design"],
        )
    config = TrainConfig(
        data=lots,
        out=ctx.root / "sem-regressor",
        task="regression",
        arch="resnet18",
        target="cps",
        epochs=settings["epochs"],
        image_size=settings["image_size"],
        split="tiles",
        optimizer=settings["optimizer"],
        schedule=settings["schedule"],
        seed=ctx.seed,
        device=ctx.device,
    )
    run = train(config)
    validation = run.read_json("metrics.json")["validation"]
    tiles, per_lot = validation["tiles"], validation["lots"]
    ctx.console.print(
        f"SEM regressor, held-out tiles: R² {tiles['r2']:.3f}, MAE {tiles['mae']:.2f} MPa; "
        f"lot means: R² {per_lot['r2']:.3f}, MAE {per_lot['mae']:.2f} MPa"
    )
    ctx.report_runs.append(run.path)
    ctx.headlines.append(("SEM regressor held-out R² (tiles)", f"{tiles['r2']:.3f}"))
    ctx.headlines.append(("SEM regressor held-out R² (lot means)", f"{per_lot['r2']:.3f}"))
    return TrainedRegressor(lots=lots, run=run.path)
