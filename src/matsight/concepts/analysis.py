"""The ``matsight textures`` workflow: probe a trained run, write tables, figures and a report section."""

from __future__ import annotations

import os

import numpy as np

from matsight import options
from matsight.concepts.correlation import SIGN_CONVENTION, lot_similarity, zscore
from matsight.concepts.figures import lot_similarity_figure, neighbours_figure, per_lot_figure, scores_bar
from matsight.concepts.probe import TextureProbe, TextureResult
from matsight.data.dataset import ImageDataset
from matsight.errors import ConfigError
from matsight.models import load_model
from matsight.report import ORDER, Section, write_section
from matsight.scale import LOCAL, Engine
from matsight.store import RunFolder

STAGES = ("Z1", "Z2", "Z3", "Z4", "Z5")
FIGURES = ("neighbours_tiles.png", "neighbours_lots.png", "texture_scores.png", "per_lot.png", "lot_similarity.png")


def analyse(
    model_run: str | os.PathLike,
    lots: str | os.PathLike,
    bank: str | os.PathLike,
    out: str | os.PathLike,
    stage: str = "Z5",
    k: int = 9,
    target: str | None = None,
    n_boot: int = 200,
    n_perm: int = 999,
    bank_per_class: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    highlight: tuple[str, ...] = (),
    engine: Engine = LOCAL,
) -> TextureResult:
    """Run the probe and write ``<out>/tables/texture_scores.csv``, ``texture_table1.csv``,
    the figures in :data:`FIGURES` and a report section. Feature chunks resume in ``<out>/arrays``
    and are computed on ``engine`` (local or Ray)."""
    from matsight.concepts.bank import read_bank
    from matsight.data import read_lots

    options.one_of("--stage", stage, STAGES)
    for option, value in (("--k", k), ("--n-boot", n_boot), ("--n-perm", n_perm)):
        options.at_least(option, value, 1)
    model, spec = load_model(model_run, device=device)
    prop = target or spec.target
    if prop is None:
        raise ConfigError(f"{model_run} names no property column: pass --target COLUMN (a column of lots.csv)")
    read_lots(lots, target=prop)  # a missing --target column fails now, not after the extraction
    run = RunFolder(out)
    run.start(
        "textures",
        {
            "run": str(model_run),
            "lots": str(lots),
            "bank": str(bank),
            "stage": stage,
            "k": k,
            "property": prop,
            "n_boot": n_boot,
            "n_perm": n_perm,
        },
        seed=seed,
    )
    probe = TextureProbe(
        model,
        stage=stage,
        k=k,
        image_size=spec.crop_size,
        channels=spec.channels,
        intensity=spec.intensity,
        device=device,
        run=run,
        n_boot=n_boot,
        n_perm=n_perm,
        seed=seed,
        engine=engine,
    )
    probe.fit(read_bank(bank, per_class=bank_per_class, seed=seed))
    result = probe.correlate(read_lots(lots, target=prop).measured(), property=prop)
    run.write_table("texture_scores", result.table())
    run.write_table("texture_table1", result.top_bottom(10))
    write_figures(run, probe, result, highlight)
    table = result.table()
    write_section(
        run.path,
        Section(
            key="textures",
            title="Texture concepts: what the model sees, ranked by its link to " + prop,
            text=(
                f"Activations at the most salient location (FastCAM) of stage {stage} for every tile and "
                f"bank image; lots compared to {len(result.textures)} texture classes by mean L2 distance; "
                f"score = cosine of z-normalised similarity and z-normalised {prop} over {len(result.lots)} lots. "
                f"Sign convention: {SIGN_CONVENTION}. Intervals: 95% bootstrap over tiles within lots; "
                f"p: permutation of {prop} across lots ({n_perm} draws)."
            ),
            figures=[f"figures/{name}" for name in FIGURES],
            tables=["tables/texture_table1.csv"],
            metrics={
                "top texture": table.texture[0],
                "top score": round(float(table.score[0]), 3),
                "bottom texture": table.texture.iloc[-1],
                "bottom score": round(float(table.score.iloc[-1]), 3),
            },
            order=ORDER.get("textures", 30),
        ),
    )
    run.set_status("finished")
    return result


def _images(probe: TextureProbe, which: str) -> ImageDataset:
    table = probe.bank_ if which == "bank" else probe.lots_
    return ImageDataset(table, probe.image_size, channels=1, crop_size=probe.image_size)


def write_figures(run: RunFolder, probe: TextureProbe, result: TextureResult, highlight: tuple[str, ...] = ()) -> None:
    """Paper Figs. 3, 4, 5, 8, 9 into ``run/figures``."""
    bank_images, tile_images = _images(probe, "bank"), _images(probe, "tiles")
    bank_f, tile_f, stage = probe.bank_features_, probe.lot_features_, probe.stage
    classes = probe.bank_.targets[:, 0].astype(int)

    def bank_entry(j: int, distance: float) -> tuple[str, np.ndarray, tuple]:
        return (f"{result.textures[classes[j]]}\n{distance:.3g}", bank_images[j][0][0].numpy(), bank_f.box(j, stage))

    order = np.argsort(result.prop)
    chosen = [order[-1], order[len(order) // 2], order[0]]  # highest, median, lowest property
    # Fig. 3: one tile of each chosen lot and its k nearest bank images.
    rows = []
    for lot in chosen:
        i = int(np.flatnonzero(result.tile_lot == lot)[0])
        rows.append(
            (
                f"{result.lots[lot]}\n{result.prop_name}={result.prop[lot]:.3g}",
                tile_images[i][0][0].numpy(),
                tile_f.box(i, stage),
                [bank_entry(j, d) for j, d in zip(result.neighbours[i], result.neighbour_distance[i])],
            )
        )
    neighbours_figure(rows, run.figure_path("neighbours_tiles.png"), f"nearest bank images to one tile (stage {stage})")
    # Fig. 4: class-averaged neighbours of whole lots.
    rows = []
    for lot in chosen:
        i = int(np.flatnonzero(result.tile_lot == lot)[0])
        nearest_bank = np.argsort(result.lot_bank[lot], kind="stable")[: probe.k]
        rows.append(
            (
                f"lot {result.lots[lot]}\n{result.prop_name}={result.prop[lot]:.3g}",
                tile_images[i][0][0].numpy(),
                None,
                [bank_entry(j, result.lot_bank[lot, j]) for j in nearest_bank],
            )
        )
    neighbours_figure(
        rows, run.figure_path("neighbours_lots.png"), "nearest bank images to whole lots (mean over tiles)"
    )
    scores_bar(
        result.textures,
        result.scores,
        result.ci_low,
        result.ci_high,
        run.figure_path("texture_scores.png"),
        result.prop_name,
        highlight,
    )
    subset = order[np.linspace(0, len(order) - 1, min(12, len(order))).round().astype(int)]
    similarity = zscore(-result.relevance, axis=0)
    per_lot_figure(
        [result.lots[i] for i in subset],
        result.prop[subset],
        similarity[subset],
        result.textures,
        run.figure_path("per_lot.png"),
        result.prop_name,
    )
    lot_similarity_figure(
        result.lots,
        result.prop,
        lot_similarity(result.relevance),
        run.figure_path("lot_similarity.png"),
        result.prop_name,
    )
