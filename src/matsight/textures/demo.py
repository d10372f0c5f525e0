"""Demo step: a texture-pretrained regressor → procedural texture bank → ranked textures in the report.

The probe reads texture images through the model's features, so it needs a model that has learnt
textures (docs/textures.md). The demo follows its own recipe at CPU size: a ResNet-18 texture
classifier on a pretraining bank of its own (seed 100), then a regressor fine-tuned from it on the
demo's SEM lots (handed over by the training step), then the probe with the demo bank (seed ``ctx.seed``).
The demo lots plant CPS rising with porosity, so the pit-like textures (:data:`POROSITY_FAMILY`)
should rank near the top; the step prints whether they do (:func:`planted_story`), and what the
family's textures track in these lots (:func:`what_textures_track`): a texture's score is the
correlation of the lots' similarity to it with CPS, so it follows whichever lot attribute that
similarity follows — which need not be the one its name suggests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from matsight.report import ORDER, Section, write_section
from matsight.store import RunFolder
from matsight.store.atomic import complete_folder
from matsight.synth.sem import ATTRIBUTE_RANGES
from matsight.synth.textures import POROSITY_FAMILY, generate_bank
from matsight.textures.analysis import run
from matsight.textures.config import TexturesConfig
from matsight.training import TrainConfig, train
from matsight.training.demo import TrainedRegressor

# per_class/size: the probe bank; pretrain_*: the texture classifier (its bank drawn at pretrain_size px, trained
# at that size); finetune_epochs/image_size: the regressor (at the SEM regressor's size, so pits stay visible);
# n_boot/n_perm: the probe's bootstrap and permutation draws
DEMO_PRESETS = {
    "cpu": dict(
        per_class=8,
        size=64,
        pretrain_per_class=24,
        pretrain_epochs=4,
        pretrain_size=64,
        finetune_epochs=4,
        image_size=96,
        n_boot=100,
        n_perm=499,
    ),
    "full": dict(
        per_class=40,
        size=256,
        pretrain_per_class=40,
        pretrain_epochs=8,
        pretrain_size=128,
        finetune_epochs=20,
        image_size=384,
        n_boot=1000,
        n_perm=9999,
    ),
}
PRETRAIN_SEED = 100


def texture_regressor(ctx, lots: Path, settings: Mapping) -> Path:
    """Pretrain a texture classifier on its own bank, fine-tune a CPS regressor from it; the run folder.

    Reruns reuse the banks and the finished runs."""
    classifier = texture_classifier(
        ctx.root / "texture-pretrain-bank", ctx.root / "texture-pretrained", settings, ctx.seed, ctx.device
    )
    return finetuned_regressor(lots, ctx.root / "sem-regressor-textures", classifier, settings, ctx.seed, ctx.device)


def texture_classifier(bank: Path, out: Path, settings: Mapping, seed: int, device: str) -> Path:
    """Train (or reuse the finished run ``out`` of) a ResNet-18 texture classifier on a procedural bank of
    its own — ``bank``, drawn with :data:`PRETRAIN_SEED` when missing: ``pretrain_per_class`` images per
    class at ``pretrain_size`` px — for ``pretrain_epochs`` (Adam, cosine); its checkpoint file."""
    size = settings["pretrain_size"]
    complete_folder(bank, lambda folder: generate_bank(folder, settings["pretrain_per_class"], size, PRETRAIN_SEED))
    run = train(
        TrainConfig(
            data=bank,
            out=out,
            task="classification",
            epochs=settings["pretrain_epochs"],
            image_size=size,
            optimizer="adam",
            schedule="cosine",
            seed=seed,
            device=device,
        )
    )
    return run.path / "checkpoint.pt"


def finetuned_regressor(lots: Path, out: Path, classifier: Path, settings: Mapping, seed: int, device: str) -> Path:
    """Train (or reuse) the CPS regressor ``out`` on ``lots``, started from the texture classifier's
    checkpoint (its head replaced) and fine-tuned for ``finetune_epochs`` at ``image_size`` px (Adam,
    cosine); its run folder."""
    run = train(
        TrainConfig(
            data=lots,
            out=out,
            task="regression",
            target="cps",
            epochs=settings["finetune_epochs"],
            image_size=settings["image_size"],
            weights=classifier,
            optimizer="adam",
            schedule="cosine",
            seed=seed,
            device=device,
        )
    )
    return run.path


def planted_story(table: pd.DataFrame, family: tuple[str, ...] = POROSITY_FAMILY) -> tuple[bool, str]:
    """Does the score table (``texture, score``, highest first: :meth:`TextureResult.table`) rank the
    planted family above the other textures? ``(agrees, one line)``.

    One-sided Mann-Whitney test of the family's scores against the rest's (exact for 28 textures);
    agrees when p <= 0.05.
    """
    members = [t for t in family if t in set(table.texture)]
    in_family = table.texture.isin(members).to_numpy()
    ranks = np.flatnonzero(in_family) + 1
    p = float(mannwhitneyu(table.score[in_family], table.score[~in_family], alternative="greater").pvalue)
    agrees = p <= 0.05
    line = (
        f"{'agrees' if agrees else 'does NOT agree'} with the planted story (CPS rises with porosity, so pit-like "
        f"textures should rank high): the {len(members)} pit-like textures have mean rank {ranks.mean():.1f} of "
        f"{len(table)} (chance {(len(table) + 1) / 2:.1f}), {int((ranks <= 5).sum())} in the top 5; "
        f"Mann-Whitney p = {p:.3f}; best {table.texture[in_family].iloc[0]} (rank {ranks[0]})"
    )
    return agrees, line


def what_textures_track(similarity: pd.DataFrame, lots: pd.DataFrame) -> pd.DataFrame:
    """Pearson r over lots between each texture's similarity and each planted attribute: rows textures,
    columns the attributes of :data:`~matsight.synth.sem.ATTRIBUTE_RANGES` in ``lots`` (user units).

    ``similarity``: ``lot`` and one column per texture (``tables/lot_texture_similarity.csv``);
    ``lots``: ``lots.csv`` of generator lots (``lot`` and the attributes)."""
    textures = similarity.set_index("lot").astype(float)
    attributes = lots.set_index("lot").loc[textures.index, [a for a in ATTRIBUTE_RANGES if a in lots]]
    return pd.DataFrame({a: textures.corrwith(attributes[a].astype(float)) for a in attributes.columns})


def tracking_line(tracks: pd.DataFrame, family: tuple[str, ...] = POROSITY_FAMILY, planted: str = "porosity") -> str:
    """What each texture of ``family`` tracks most strongly among the lots' attributes (signed r), and its
    correlation with the ``planted`` attribute, in one line."""
    members = [t for t in family if t in tracks.index]
    best = tracks.loc[members].abs().idxmax(axis=1)
    strongest = [f"{t} {best[t]} {tracks.loc[t, best[t]]:+.2f}" for t in members]
    with_planted = tracks.loc[members, planted]
    return (
        f"what the pit-like textures track across the lots (Pearson r of a lot's similarity with its attributes): "
        f"{', '.join(strongest)}; with {planted} r {with_planted.min():+.2f} to {with_planted.max():+.2f}"
    )


def run_demo(ctx, sem: TrainedRegressor) -> None:
    """Write the banks, the texture-pretrained regressor and the ``ctx.root/"textures"`` run; add headlines."""
    settings = DEMO_PRESETS["full" if ctx.full else "cpu"]
    regressor = texture_regressor(ctx, sem.lots, settings)
    bank = complete_folder(
        ctx.root / "texture-bank",
        lambda folder: generate_bank(folder, per_class=settings["per_class"], size=settings["size"], seed=ctx.seed),
    )
    folder = run(
        TexturesConfig(
            out=ctx.root / "textures",
            run=regressor,
            lots=sem.lots,
            bank=bank,
            device=ctx.device,
            seed=ctx.seed,
            n_boot=settings["n_boot"],
            n_perm=settings["n_perm"],
            highlight=POROSITY_FAMILY,
        )
    )
    table = folder.read_table("texture_scores")
    agrees, line = planted_story(table)
    tracks = what_textures_track(folder.read_table("lot_texture_similarity"), pd.read_csv(sem.lots / "lots.csv"))
    folder.write_table("texture_attributes", tracks.rename_axis("texture").reset_index())
    tracking = tracking_line(tracks)
    r2 = RunFolder(regressor).read_json("metrics.json")["validation"]["tiles"]["r2"]
    ctx.console.print(f"textures: texture-pretrained regressor, held-out tile R² {r2:.3f}")
    ctx.console.print(f"textures: {line}")
    ctx.console.print(f"textures: {tracking}")
    write_section(
        folder.path,
        Section(
            key="textures-planted-story",
            title="Texture demo: does the table tell the planted story?",
            text=f"The regressor probed here was pretrained on a texture bank of its own (seed {PRETRAIN_SEED}) "
            f"and fine-tuned on the demo lots (held-out tile R² {r2:.3f}). The table {line}. A texture's score "
            f"follows whatever lot attribute the lots' similarity to it follows; {tracking} "
            "(texture_attributes.csv: every texture against every attribute).",
            tables=["tables/texture_attributes.csv"],
            metrics={"planted story": "agrees" if agrees else "does not agree"},
            order=ORDER["textures"] + 1,
        ),
    )
    ctx.report_runs.append(folder.path)
    top = ", ".join(f"{t} {s:+.2f}" for t, s in zip(table.texture[:3], table.score[:3]))
    ctx.headlines.append(("textures: top 3 (score)", top))
    ctx.headlines.append(("textures: bottom", f"{table.texture.iloc[-1]} {table.score.iloc[-1]:+.2f}"))
    ctx.headlines.append(("textures: planted pit-like family", "agrees" if agrees else "does NOT agree"))
