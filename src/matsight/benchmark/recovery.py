"""Concept and knob recovery on the CPS lots: do the texture probe and the attribute knobs find the
formula the generator planted, and do they follow it when a coefficient is flipped?

Per benchmark seed ``k`` three lot sets share their tiles (:func:`~matsight.synth.sem.generate_lots`
with the same seed draws the same attributes and tiles whatever the coefficients), their CPS made by
the *planted* formula (:data:`~matsight.synth.sem.DEFAULT_COEFFICIENTS`) or by that formula with one
coefficient negated (:data:`SETTINGS`: porosity for the concepts, size for the knobs — one flip each, so
neither answer can follow the other attribute's flip). Each set gets a CPS regressor fine-tuned from a
texture classifier (the demo's recipe, :func:`matsight.textures.demo.texture_classifier` and
:func:`~matsight.textures.demo.finetuned_regressor`: the probe needs texture-aware features). The
texture probe reads the planted and the porosity-flipped regressor; one attribute editor per seed
(trained on the planted lots' tiles, which it reads without their CPS) is swept with the planted and
the size-flipped regressor, each knob judged as in the demo (:func:`matsight.knobs.agreement.knob_agreement`).

Leaderboard rows (task ``cps``, library ``matsight``; mean ± sd over seeds like every metric):

- ``textures`` / ``concept_auroc``: how high the pit-like family sits in the texture table under the
  planted formula, as the AUROC of the table's order against family membership (1 = the family fills
  the top, 0 = the bottom, chance 0.5; CPS rises with porosity, so high is right);
  ``concept_auroc_flipped``: the same with porosity's coefficient negated (CPS falls with porosity: low
  is right); ``concept_flip``: the first minus the second (> 0: the table follows the flip; chance 0);
- ``knobs`` / ``knob_control``: the size knob's control slope (1: the independent measurer reads the
  requested change); ``knob_sign_agreement``: share of the sweeps of trusted knobs with a resolved planted
  effect whose 95 % interval has the planted sign (both regressors pooled; NaN when no knob qualifies);
  ``knob_flip``: 1 when the size knob passes the control check and its sweep's interval changes sign
  between the planted and the size-flipped regressor, else 0 (NaN when it fails the control check).

Every step is a matsight workflow run under the benchmark's cache folder, so a rerun resumes where it
stopped; ``tables/recovery_textures.csv`` and ``tables/recovery_knobs.csv`` keep every seed's tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.progress import note
from matsight.store.atomic import complete_folder

SETTINGS = {"planted": None, "flipped-porosity": "porosity", "flipped-size": "size"}
"""Lot sets of a seed -> the coefficient negated in it: porosity, the pit-like textures' attribute (the
concepts), and size, the knob that passes the control check on the demo's lots most often (docs/knobs.md)."""
CONCEPT_SETTINGS = ("planted", "flipped-porosity")
KNOB_SETTINGS = ("planted", "flipped-size")
KNOB = "size"
"""The knob whose control and flip are scored."""
LIBRARY = "matsight"
RECOVERY_METRICS = {
    "concept_auroc": "textures",
    "concept_auroc_flipped": "textures",
    "concept_flip": "textures",
    "knob_control": "knobs",
    "knob_sign_agreement": "knobs",
    "knob_flip": "knobs",
}
"""metric -> the method (leaderboard row) it scores; every one is better high except
``concept_auroc_flipped`` (the family should sink when porosity's coefficient is negated)."""


@dataclass(frozen=True)
class RecoveryPreset:
    """Sizes of the recovery runs, in the demo's own preset layouts: ``sem`` the lots
    (:data:`matsight.training.demo.DEMO_PRESETS` keys ``lots``, ``tiles_per_lot``, ``tile_size``,
    ``design``), ``textures`` the texture classifier, the regressors' fine-tune and the probe
    (:data:`matsight.textures.demo.DEMO_PRESETS`), ``knobs`` the editor and the sweep
    (:data:`matsight.knobs.demo.DEMO_PRESETS` keys ``editor`` and ``sweep``: config fields).
    :meth:`of_demo` gives the demo's."""

    sem: Mapping
    textures: Mapping
    knobs: Mapping

    @classmethod
    def of_demo(cls, recipe: str) -> RecoveryPreset:
        """The SEM recipe of ``matsight demo`` (``"cpu"``) or ``matsight demo --full`` (``"full"``)."""
        from matsight.knobs.demo import DEMO_PRESETS as KNOBS
        from matsight.textures.demo import DEMO_PRESETS as TEXTURES
        from matsight.training.demo import DEMO_PRESETS as SEM

        return cls(sem=SEM[recipe], textures=TEXTURES[recipe], knobs=KNOBS[recipe])


def resolve(preset: str | RecoveryPreset) -> RecoveryPreset:
    """A :class:`RecoveryPreset` from a preset's ``recovery`` field (a demo recipe name or a preset)."""
    return preset if isinstance(preset, RecoveryPreset) else RecoveryPreset.of_demo(preset)


def coefficients(setting: str) -> dict[str, float]:
    """The CPS formula's coefficients of a lot set of :data:`SETTINGS` (the planted ones, one negated)."""
    from matsight.synth.sem import DEFAULT_COEFFICIENTS

    return {name: -c if name == SETTINGS[setting] else c for name, c in DEFAULT_COEFFICIENTS.items()}


@dataclass(frozen=True)
class RecoveryOutcome:
    """One seed's result: leaderboard rows (``task, seed, method, library, metric, value, n``) and the
    texture and knob tables behind them (with ``seed`` and ``setting`` columns)."""

    scores: pd.DataFrame
    textures: pd.DataFrame
    knobs: pd.DataFrame


PARTS = tuple(f.name for f in fields(RecoveryOutcome))
"""The tables of a :class:`RecoveryOutcome`, in field order."""


def recover(root: Path, preset: RecoveryPreset, seed: int, device: str, pool_seed: int = 0) -> RecoveryOutcome:
    """Run (or resume) one seed's recovery under ``root`` (``root/seed<k>``; the texture classifier and
    the probe bank are shared by the seeds in ``root``). The lots are drawn with seed ``seed + 1000 ×
    pool_seed`` (the benchmark's ``--seed``), the models trained with ``seed``."""
    from matsight.knobs.config import EditorConfig
    from matsight.knobs.pipeline import read_control, run_train
    from matsight.models import read_spec
    from matsight.synth.sem import generate_lots
    from matsight.synth.textures import generate_bank
    from matsight.textures.demo import finetuned_regressor, texture_classifier

    sem, textures = preset.sem, preset.textures
    classifier = texture_classifier(root / "pretrain-bank", root / "texture-classifier", textures, 0, device)
    bank = complete_folder(
        root / "probe-bank", lambda out: generate_bank(out, textures["per_class"], textures["size"], 0)
    )
    folder = root / f"seed{seed}"
    lots, regressors = {}, {}
    for setting in SETTINGS:
        lots[setting] = complete_folder(
            folder / f"lots-{setting}",
            lambda out, c=coefficients(setting): generate_lots(
                out,
                sem["lots"],
                sem["tiles_per_lot"],
                sem["tile_size"],
                seed + 1000 * pool_seed,
                coefficients=c,
                design=sem["design"],
                masks=False,
            ),
        )
        regressors[setting] = finetuned_regressor(
            lots[setting], folder / f"regressor-{setting}", classifier, textures, seed, device
        )
    probes = [
        _probe(folder / f"textures-{s}", regressors[s], lots[s], bank, preset, seed, device, s)
        for s in CONCEPT_SETTINGS
    ]
    textures = pd.concat(probes, ignore_index=True)
    editor = run_train(
        EditorConfig(
            out=folder / "editor",
            regressor=regressors["planted"],
            lots=lots["planted"],
            image_size=read_spec(regressors["planted"]).image_size,
            seed=seed,
            device=device,
            **preset.knobs["editor"],
        )
    )
    control = read_control(editor.path)
    sweeps = [_sweep(folder / f"sweep-{s}", editor.path, regressors[s], preset, device) for s in KNOB_SETTINGS]
    knobs = pd.concat([table.assign(setting=s) for s, table in zip(KNOB_SETTINGS, sweeps)], ignore_index=True)
    knobs = knobs[["setting", *(c for c in knobs.columns if c != "setting" and not c.startswith("inverse_"))]]
    scores = pd.DataFrame(
        [
            {"method": RECOVERY_METRICS[metric], "library": LIBRARY, "metric": metric, "value": value}
            for metric, value in {**concept_scores(textures), **knob_scores(knobs, control)}.items()
        ]
    )
    scores.insert(0, "seed", seed)
    scores.insert(0, "task", "cps")
    scores["n"] = 1
    for table in (textures, knobs):
        table.insert(0, "seed", seed)
    return RecoveryOutcome(scores, textures, knobs)


def concept_scores(textures: pd.DataFrame) -> dict[str, float]:
    """``concept_auroc`` (planted), ``concept_auroc_flipped`` and ``concept_flip`` from the probe tables of
    :data:`CONCEPT_SETTINGS` (``setting, texture, in_family``, highest score first): the AUROC of the table's order
    as a detector of the family (the chance that a family texture ranks above another texture; 1: the
    family fills the top, 0: the bottom, 0.5: chance; NaN without family members or other textures)."""
    from sklearn.metrics import roc_auc_score

    auroc = {}
    for setting in CONCEPT_SETTINGS:
        family = textures.loc[textures["setting"] == setting, "in_family"].to_numpy(bool)
        order = -np.arange(len(family))  # the table's order as a score: first = highest
        auroc[setting] = float(roc_auc_score(family, order)) if 0 < family.sum() < len(family) else math.nan
    return {
        "concept_auroc": auroc["planted"],
        "concept_auroc_flipped": auroc["flipped-porosity"],
        "concept_flip": auroc["planted"] - auroc["flipped-porosity"],
    }


def knob_scores(knobs: pd.DataFrame, control: dict) -> dict[str, float]:
    """``knob_control``, ``knob_sign_agreement`` and ``knob_flip`` from the knob agreement tables of
    :data:`KNOB_SETTINGS` (:func:`~matsight.knobs.agreement.knob_agreement` with a ``setting`` column) and
    the editor's control check (``knob_control.json``: ``names``, ``slopes [A, A]`` knob i → measured j;
    the control slope is the diagonal's)."""
    from matsight.knobs.agreement import AGREES, DISAGREES, NOT_RESOLVED, interval_sign

    names = list(control["names"])
    control_slope = (
        float(np.asarray(control["slopes"])[names.index(KNOB), names.index(KNOB)]) if KNOB in names else math.nan
    )
    judged = knobs[knobs["verdict"].isin([AGREES, DISAGREES, NOT_RESOLVED]) & knobs["resolved"]]
    flip = math.nan
    rows = [knobs[(knobs["setting"] == s) & (knobs["knob"] == KNOB)] for s in KNOB_SETTINGS]
    if all(len(row) for row in rows) and bool(rows[0]["passes"].iloc[0]):
        signs = [interval_sign(row["sweep_low"].iloc[0], row["sweep_high"].iloc[0]) for row in rows]
        flip = float(signs[0] != 0 and signs[1] == -signs[0])
    return {
        "knob_control": control_slope,
        "knob_sign_agreement": float((judged["verdict"] == AGREES).mean()) if len(judged) else math.nan,
        "knob_flip": flip,
    }


def _probe(
    out: Path, regressor: Path, lots: Path, bank: Path, preset: RecoveryPreset, seed: int, device: str, setting: str
) -> pd.DataFrame:
    """The texture table of one setting: ``setting, texture, score, rank, in_family``, highest score first."""
    from matsight.synth.textures import POROSITY_FAMILY
    from matsight.textures.analysis import run
    from matsight.textures.config import TexturesConfig

    folder = run(
        TexturesConfig(
            out=out,
            run=regressor,
            lots=lots,
            bank=bank,
            device=device,
            seed=seed,
            n_boot=preset.textures["n_boot"],
            n_perm=preset.textures["n_perm"],
            highlight=POROSITY_FAMILY,
        )
    )
    table = folder.read_table("texture_scores")[["texture", "score"]].reset_index(drop=True)
    table.insert(0, "setting", setting)
    table["rank"] = np.arange(1, len(table) + 1)
    table["in_family"] = table["texture"].isin(POROSITY_FAMILY)
    expected = "rises with porosity: near the top" if setting == "planted" else "falls with porosity: near the bottom"
    ranks = table.loc[table["in_family"], "rank"]
    note(
        f"cps recovery seed {seed}, {setting} formula: the pit-like textures' mean rank {ranks.mean():.1f} of "
        f"{len(table)} (CPS {expected})"
    )
    return table


def _sweep(out: Path, editor: Path, regressor: Path, preset: RecoveryPreset, device: str) -> pd.DataFrame:
    """The knob agreement table of one setting — the one the sweep of the editor's knobs with that
    setting's regressor writes (judged against the ``ground_truth.json`` of the regressor's lots; no
    inverse search) — with a ``resolved`` column (planted effect at or above the regressor's resolution)."""
    from matsight.knobs.agreement import agreement_summary
    from matsight.knobs.config import SweepConfig
    from matsight.knobs.pipeline import run_sweep

    sweep = run_sweep(SweepConfig(out=out, editor=editor, regressor=regressor, device=device, **preset.knobs["sweep"]))
    table = sweep.read_table("knob_agreement")
    note(f"cps recovery, {Path(out).name}: knobs {agreement_summary(table)}")
    table["resolved"] = table["planted_effect"].abs() >= table["resolution"]
    return table


def identity(preset: RecoveryPreset, pool_seed: int) -> dict:
    """What a recovery's runs depend on (the key of its folder in the cache)."""
    return {"preset": asdict(preset), "settings": SETTINGS, "pool_seed": pool_seed, "version": 1}
