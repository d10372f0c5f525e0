"""The ``matsight textures`` workflow: probe a trained run, write tables, figures and a report section.

``run(TexturesConfig(out=..., run=..., lots=..., bank=...))`` writes ``tables/texture_scores``
(:meth:`TextureResult.table`), ``tables/texture_table1``, ``tables/tiles`` (one row per tile: lot,
predicted value and, when the run keeps an out-of-distribution reference, the check's columns), the
figures in :data:`FIGURES` and a report section.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.data.dataset import ImageDataset
from matsight.errors import ConfigError, DataLayoutError
from matsight.models import ModelSpec, load_model
from matsight.ood import summary_line
from matsight.progress import note
from matsight.report import ORDER, Section, write_section
from matsight.store import RunFolder
from matsight.textures.config import TexturesConfig
from matsight.textures.correlation import SIGN_CONVENTION, lot_similarity, zscore
from matsight.textures.figures import lot_similarity_figure, neighbours_figure, per_lot_figure, scores_bar
from matsight.textures.pretraining import Pretraining, pretraining_of
from matsight.textures.probe import TextureProbe, TextureResult
from matsight.workflow import execute

MIN_LOTS = 3
"""Measured lots a texture ranking needs: its scores are correlations over lots."""
FIGURES = ("neighbours_tiles.png", "neighbours_lots.png", "texture_scores.png", "per_lot.png", "lot_similarity.png")


def run(config: TexturesConfig) -> RunFolder:
    """Probe ``config.run`` with the bank, correlate with the lots' property (see the module docstring).

    The inputs are checked before the run folder is claimed (a missing ``--target`` column fails now,
    not after the extraction); ``config.target=None`` becomes the run's property. Feature chunks resume
    in ``<out>/arrays``. The table's ``model_pretrained`` and the report say whether the model was
    pretrained (:mod:`matsight.textures.pretraining`); the CLI shows :meth:`Pretraining.warning`.
    """
    from matsight.data import read_lots
    from matsight.data.layouts import require_readable
    from matsight.textures.bank import read_bank

    model, spec = load_model(config.run, device=config.device)
    config = dataclasses.replace(config, target=config.target or spec.target)
    if config.target is None:
        raise ConfigError(f"{config.run} names no property column: pass --target COLUMN (a column of lots.csv)")
    lots = read_lots(config.lots, target=config.target).measured()
    require_readable(lots)
    measured = sorted(set(lots.groups))
    if len(measured) < MIN_LOTS:
        raise DataLayoutError(
            f"{config.lots / 'lots.csv'}: {len(measured)} lot(s) have a value in column '{config.target}'; a "
            f"texture's score is a correlation over lots, so write the values of at least {MIN_LOTS} lots"
        )
    bank = read_bank(config.bank, per_class=config.bank_per_class, seed=config.seed)

    def body(folder: RunFolder) -> RunFolder:
        probe = TextureProbe(
            model,
            stage=config.stage,
            k=config.k,
            image_size=spec.image_size,
            crop_size=spec.crop_size,
            channels=spec.channels,
            intensity=spec.intensity,
            device=config.device,
            run=folder,
            n_boot=config.n_boot,
            n_perm=config.n_perm,
            seed=config.seed,
            engine=config.engine,
            ood_reference=config.run,
        )
        probe.fit(bank)
        pretraining = pretraining_of(config.run)
        result = dataclasses.replace(
            probe.correlate(lots, property=config.target), model_pretrained=pretraining.pretrained
        )
        folder.write_table("texture_scores", result.table())
        folder.write_table("texture_table1", result.top_bottom(10))
        folder.write_table("lot_texture_similarity", result.lot_similarity())
        ood_line = _tiles_table(folder, probe, spec, config.run)
        write_figures(folder, probe, result, config.highlight)
        _section(folder, config, result, pretraining, ood_line)
        return folder

    return execute(config, body)


def _tiles_table(folder: RunFolder, probe: TextureProbe, spec: ModelSpec, model_run: Path) -> str | None:
    """``tables/tiles``: image, lot, predicted (user units for a regressor) and the out-of-distribution
    columns; returns the check's one-line verdict (None when the run keeps no reference)."""
    table = probe.lots_
    predictions = probe.lot_features_.predictions
    frame = pd.DataFrame({"image": [str(p) for p in table.paths], "lot": table.groups})
    if spec.task == "regression":
        frame["predicted"] = spec.to_user_units(predictions[:, 0], 0)
    scores = probe.ood_scores(spec)
    line = None
    if scores is not None:
        for column, values in scores.columns().items():
            frame[column] = values
        line = summary_line(scores, [p.name for p in table.paths])
        if scores.out_of_distribution.any():
            note(f"textures: {line}")
    folder.write_table("tiles", frame)
    return line


def _section(
    folder: RunFolder, config: TexturesConfig, result: TextureResult, pretraining: Pretraining, ood_line: str | None
) -> None:
    table = result.table()
    prop = config.target
    warning = pretraining.warning()
    significant = int((table.q_value <= 0.05).sum())
    metrics = {
        "top texture": table.texture[0],
        "top score": round(float(table.score[0]), 3),
        "bottom texture": table.texture.iloc[-1],
        "bottom score": round(float(table.score.iloc[-1]), 3),
        "textures with q <= 0.05": f"{significant} of {len(table)}",
        "model pretrained on textures": "yes" if pretraining.pretrained else "NO (see warning)",
    }
    if ood_line is not None:
        metrics["tiles unlike the training data"] = int(folder.read_table("tiles")["out_of_distribution"].sum())
    write_section(
        folder.path,
        Section(
            key="textures",
            title="Texture concepts: what the model sees, ranked by its link to " + prop,
            text=(
                (_plain_warning(warning) if warning else "")
                + f"Activations at the most salient location (FastCAM) of stage {config.stage} for every tile and "
                f"bank image; lots compared to {len(result.textures)} texture classes by mean L2 distance; "
                f"each tile's mean distance over textures removed (the lot-level offset), so scores compare "
                f"textures, not lots; score = cosine of z-normalised similarity and z-normalised "
                f"{prop} over {len(result.lots)} lots. "
                f"Sign convention: {SIGN_CONVENTION}. Intervals: 95% bootstrap over tiles within lots; "
                f"p: permutation of {prop} across lots ({config.n_perm} draws); q: Benjamini-Hochberg "
                f"over the {len(result.textures)} textures ({significant} with q <= 0.05). "
                + ("Model pretrained from " + str(pretraining.weights) + ". " if pretraining.pretrained else "")
                + (f"Out-of-distribution check on the tiles: {ood_line}." if ood_line else "")
            ),
            figures=[f"figures/{name}" for name in FIGURES],
            tables=["tables/texture_table1.csv"],
            metrics=metrics,
            order=ORDER.get("textures", 30),
        ),
    )


def _plain_warning(warning: str) -> str:
    """The pretraining warning as section text: its first line, then its commands as `code`."""
    first, *commands = warning.strip().split("\n")
    return f"Warning: {first} " + "".join(f"`{command.strip()}` " for command in commands if command.strip())


def _images(probe: TextureProbe, which: str) -> ImageDataset:
    """The bank's or the lots' images as the model saw them (its resize and crop): the feature boxes are
    placed on them."""
    table = probe.bank_ if which == "bank" else probe.lots_
    return ImageDataset(table, probe.image_size, channels=1, crop_size=probe.crop_size)


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
