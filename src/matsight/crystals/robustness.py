"""The robustness study: ConvNet (fingerprint), MLP (SOAP) and spglib at three tolerances on
held-out-element structures with growing defects, with uncertainty.

Every structure is a library prototype filled with at least one held-out element (never seen in
training). Axes (:class:`RobustnessConfig`): the pristine held-out structures, random
displacements (σ as a fraction of the nearest-neighbour distance), vacancies, both together,
random strain and random rotation. Per level and method: accuracy with a Wilson 95 % interval,
mean predictive entropy and mutual information (MC dropout) with their quartiles, and the
expected calibration error. The same base structures are used at every level (paired). Levels are
cached in ``arrays/levels`` so a rerun resumes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.crystals.config import RobustnessConfig
from matsight.crystals.defects import apply_defect
from matsight.crystals.descriptors import descriptor
from matsight.crystals.library import CLASS_NAMES, library_set
from matsight.crystals.spglib_baseline import TOLERANCES, fitted_baselines
from matsight.crystals.train import load_classifier, predict
from matsight.crystals.uncertainty import expected_calibration_error
from matsight.progress import note, progress
from matsight.report.style import styled
from matsight.scale.engine import claim as tie_store
from matsight.store import RunFolder
from matsight.store.digest import file_digest
from matsight.workflow import execute

AXES = ("held-out elements", "displacement", "vacancies", "displacement+vacancies", "strain", "rotation")
METHODS = ("convnet", "soap_mlp", *(f"spglib_{name}" for name in TOLERANCES))
METHOD_LABELS = {
    "convnet": "ConvNet (fingerprint)",
    "soap_mlp": "MLP (SOAP)",
    **{f"spglib_{name}": f"spglib {tol:g} Å" for name, tol in TOLERANCES.items()},
}
LEARNED = {"convnet": "fingerprint", "soap_mlp": "soap"}
TOLERANCE_TEXT = ", ".join(f"{t:g}" for t in TOLERANCES.values())
# The papers' findings for the side-by-side comparison (no numbers are quoted where we have none).
PAPER_FINDINGS = (
    "Ziletti et al. 2018 (7 elemental classes, spglib vs ConvNet): spglib never finds the parent class at "
    "σ ≥ 0.02 Å and is ~0 % at 1 % vacancies; the ConvNet is 100 % up to σ = 0.06 Å and 40 % vacancies, > 97 % at "
    "60 %. ARISE (Leitherer et al. 2021, 108 prototypes, Bayesian NN on SOAP) reports robustness to displacements "
    "and vacancies with mutual information rising with disorder; its figures are not reproduced here."
)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (%) of a binomial proportion."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


def method_row(method: str, labels: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy, Wilson interval, uncertainty quartiles and ECE of one method on one level."""
    predicted = arrays[f"{method}_predicted"]
    correct = predicted == labels
    low, high = wilson_interval(int(correct.sum()), len(labels))
    row = {"method": method, "accuracy": 100 * float(correct.mean()), "ci_low": low, "ci_high": high, "n": len(labels)}
    if method in LEARNED:
        for name in ("entropy", "mutual_information"):
            values = arrays[f"{method}_{name}"]
            row[name] = float(values.mean())
            row[f"{name}_q25"], row[f"{name}_q75"] = (float(q) for q in np.quantile(values, [0.25, 0.75]))
        row["ece"] = expected_calibration_error(arrays[f"{method}_confidence"], correct)
    return row


def defective(atoms, defects: list[tuple[str, float]], seed: int):
    """``atoms`` with each ``(defect, amount)`` applied in turn (seeds ``seed``, ``seed + 104729``, ...)."""
    for k, (defect, amount) in enumerate(defects):
        atoms = apply_defect(atoms, defect, amount, seed=seed + 104729 * k)
    return atoms


def levels_key(config: RobustnessConfig) -> str:
    """What decides the cached levels: every setting but the output folder and device, and the
    bytes of both checkpoints."""
    settings = {k: v for k, v in config.arguments().items() if k != "out"}
    text = json.dumps(settings, sort_keys=True) + file_digest(Path(config.convnet) / "checkpoint.pt")
    return hashlib.blake2b(
        (text + file_digest(Path(config.soap) / "checkpoint.pt")).encode(), digest_size=16
    ).hexdigest()


def robustness_table(config: RobustnessConfig, run: RunFolder | None = None) -> pd.DataFrame:
    """The long table (one row per axis, level and method; see the module docstring); levels are
    cached in ``run``'s ``arrays/levels`` when a run folder is given."""
    classes = list(config.classes) if config.classes is not None else list(range(len(CLASS_NAMES)))
    base = library_set(config.per_class * len(classes), seed=config.seed, split="test", classes=classes)
    teach = library_set(config.spglib_per_class * len(classes), seed=config.seed + 1, split="train", classes=classes)
    baselines = fitted_baselines(teach.structures, teach.labels)
    models = {
        "convnet": load_classifier(config.convnet, config.device, name="fingerprint")[0],
        "soap_mlp": load_classifier(config.soap, config.device, name="soap")[0],
    }
    descriptors = {m: descriptor(name, config.device) for m, name in LEARNED.items()}
    rows, levels = [], config.levels()
    store = run.chunks("levels") if run is not None else None
    if store is not None:  # levels of another job (other models or settings) are stale: deleted
        tie_store(store, levels_key(config), len(levels), 1)
    with progress(len(levels), "robustness levels") as bar:
        for index, (axis, level, label, defects) in enumerate(levels):
            if store is not None and store.has(index):
                arrays = store.read(index)
            else:
                structures = [
                    defective(atoms, defects, config.seed + 7919 * index + i) for i, atoms in enumerate(base.structures)
                ]
                arrays = {}
                for method, model in models.items():
                    p = predict(
                        model, descriptors[method].transform(structures), config.mc_samples, config.seed + index
                    )
                    arrays.update({f"{method}_{key}": value for key, value in p.arrays().items()})
                for name, baseline in baselines.items():
                    arrays[f"spglib_{name}_predicted"] = baseline.predict(structures)
                if store is not None:
                    store.write(index, **arrays)
            level_rows = [
                {"axis": axis, "level": level, "label": label, **method_row(m, base.labels, arrays)} for m in METHODS
            ]
            rows += level_rows
            bar.advance(info=f"{axis} {label}")
            note(
                f"robustness {axis} {label}: "
                + ", ".join(f"{METHOD_LABELS[r['method']]} {r['accuracy']:.0f} %" for r in level_rows)
            )
    return pd.DataFrame(rows)


@styled
def plot_robustness(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Accuracy (Wilson 95 % bands) and mean mutual information (quartile bands) against the level,
    one column per defect axis, one line per method."""
    import matplotlib.pyplot as plt

    from matsight.report.style import OKABE_ITO, save_figure

    axes_names = [a for a in AXES if a != "held-out elements" and a in set(table["axis"])]
    fig, axes = plt.subplots(2, len(axes_names), figsize=(3.2 * len(axes_names), 6), squeeze=False)
    pristine = table[table["axis"] == "held-out elements"].set_index("method")
    colours = dict(zip(METHODS, OKABE_ITO))
    for col, axis in enumerate(axes_names):
        part = table[table["axis"] == axis]
        top, bottom = axes[0, col], axes[1, col]
        for method in METHODS:
            rows = part[part["method"] == method]
            x = np.concatenate([[0.0], rows["level"].to_numpy()])
            y = np.concatenate([[pristine.loc[method, "accuracy"]], rows["accuracy"].to_numpy()])
            lo = np.concatenate([[pristine.loc[method, "ci_low"]], rows["ci_low"].to_numpy()])
            hi = np.concatenate([[pristine.loc[method, "ci_high"]], rows["ci_high"].to_numpy()])
            width = 2.2 if method in LEARNED else 1.2
            top.plot(x, y, marker="o", ms=3, lw=width, color=colours[method], label=METHOD_LABELS[method])
            top.fill_between(x, lo, hi, color=colours[method], alpha=0.15, lw=0)
            if method in LEARNED:
                mi = np.concatenate([[pristine.loc[method, "mutual_information"]], rows["mutual_information"]])
                q25 = np.concatenate([[pristine.loc[method, "mutual_information_q25"]], rows["mutual_information_q25"]])
                q75 = np.concatenate([[pristine.loc[method, "mutual_information_q75"]], rows["mutual_information_q75"]])
                bottom.plot(x, mi, marker="o", ms=3, lw=width, color=colours[method], label=METHOD_LABELS[method])
                bottom.fill_between(x, q25, q75, color=colours[method], alpha=0.2, lw=0)
        xlabel = _axis_label(axis)
        top.set_title(f"accuracy vs {axis}", fontsize=9)
        top.set_ylim(-3, 103)
        bottom.set_title(f"mutual information vs {axis}", fontsize=9)
        for ax in (top, bottom):
            ax.set_xlabel(xlabel, fontsize=8)
        if axis == "displacement+vacancies":
            labels = ["0"] + part[part["method"] == METHODS[0]]["label"].tolist()
            for ax in (top, bottom):
                ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=6)
    axes[0, 0].set_ylabel("accuracy on held-out elements (%)")
    axes[1, 0].set_ylabel("mutual information (nats), MC dropout")
    axes[0, -1].legend(fontsize=7, loc="lower left")
    fig.suptitle("Crystal classifiers on held-out elements: accuracy (95 % Wilson band) and epistemic uncertainty")
    fig.tight_layout()
    return save_figure(fig, path)


def _axis_label(axis: str) -> str:
    return {
        "displacement": "σ / nearest-neighbour distance",
        "vacancies": "vacancy fraction η",
        "displacement+vacancies": "combined level",
        "strain": "random strain magnitude ε",
        "rotation": "maximum rotation (degrees)",
    }[axis]


def run_robustness(config: RobustnessConfig) -> RunFolder:
    """Write ``tables/robustness.{parquet,csv}``, ``figures/robustness.png`` and a report section."""
    from matsight.report import Section, write_section

    def body(run: RunFolder) -> RunFolder:
        table = robustness_table(config, run)
        run.write_table("robustness", table)
        plot_robustness(table, run.figure_path("robustness.png"))
        pristine = table[table["axis"] == "held-out elements"].set_index("method")
        write_section(
            run.path,
            Section(
                key="crystals-robustness",
                title="Crystal classifiers: held-out elements, defects, uncertainty",
                text=(
                    f"{config.per_class} structure(s) per class and level "
                    f"({len(config.classes or CLASS_NAMES)} prototypes), every one with at least one element never "
                    f"seen in training; ConvNet on diffraction fingerprints and MLP on SOAP trained on pristine "
                    f"structures only, MC dropout ({config.mc_samples} samples); spglib keyed by space group, "
                    f"Wyckoff letters and stoichiometry at tolerances {TOLERANCE_TEXT} Å. "
                    f"{PAPER_FINDINGS}"
                ),
                metrics={
                    f"{METHOD_LABELS[m]}: held-out pristine accuracy (%)": round(float(pristine.loc[m, "accuracy"]), 1)
                    for m in METHODS
                }
                | {f"{METHOD_LABELS[m]}: held-out ECE": round(float(pristine.loc[m, "ece"]), 3) for m in LEARNED},
                figures=["figures/robustness.png"],
                tables=["tables/robustness.csv"],
                order=61,
            ),
        )
        return run

    return execute(config, body)
