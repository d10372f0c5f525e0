"""The robustness study of Ziletti et al. (Table 2): accuracy on defective structures.

A ConvNet trained on pristine fingerprints only and spglib at three tolerances classify
structures with random displacements (σ in Å) and vacancies (fraction η).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.crystals.defects import apply_defect
from matsight.crystals.fingerprint import FingerprintTransformer
from matsight.crystals.prototypes import pristine_set, prototype_set
from matsight.crystals.spglib_baseline import TOLERANCES, spglib_classify
from matsight.crystals.train import predict_classes
from matsight.store import RunFolder

SIGMAS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.06)  # Å
VACANCIES = (0.01, 0.02, 0.05, 0.10, 0.20, 0.25, 0.30, 0.40, 0.50, 0.60)
# Held-out pristine prototypes at these maximum random rotations (degrees): in the training orientation and off it.
HELD_OUT_ROTATIONS = (0.0, 10.0)
# The paper's Table 2 (accuracy in %), for the side-by-side comparison.
PAPER_FINDINGS = (
    "spglib never finds the parent class at σ ≥ 0.02 Å at any tolerance and is ~0 % at 1 % "
    "vacancies; the ConvNet is 100 % up to σ = 0.06 Å, 100 % up to 40 % vacancies, > 97 % at 60 %."
)


def accuracies(
    model, transformer: FingerprintTransformer, structures, labels: np.ndarray, device: str = "cpu"
) -> dict[str, float]:
    """``{spglib_tight, spglib_medium, spglib_loose, convnet}``: accuracy (%) on ``structures``."""
    row = {
        f"spglib_{name}": 100 * float((spglib_classify(structures, tol) == labels).mean())
        for name, tol in TOLERANCES.items()
    }
    predicted = predict_classes(model, transformer.transform(structures).to(device))
    row["convnet"] = 100 * float((predicted == labels).mean())
    return row


def robustness_table(
    model,
    n_per_level: int = 14,
    sigmas=SIGMAS,
    vacancies=VACANCIES,
    seed: int = 1000,
    max_rotation: float = 0.0,
    device: str = "cpu",
    held_out_rotations=HELD_OUT_ROTATIONS,
) -> pd.DataFrame:
    """Columns ``defect, level, spglib_tight, spglib_medium, spglib_loose, convnet`` (accuracies in %).

    The first rows (``defect = pristine``) are the held-out pristine set: one structure per element
    of every class (:func:`prototype_set`, 70 structures), randomly rotated by up to ``level``
    degrees for each level in ``held_out_rotations``. Then ``level`` is σ in Å for
    ``displacement`` and η in % for ``vacancies``, on ``n_per_level`` pristine structures (classes
    balanced, rotated by up to ``max_rotation`` degrees). All structures come from seeds different
    from the training set's."""
    transformer = FingerprintTransformer(device=device)
    rows = []
    for degrees in held_out_rotations:
        held_out, held_out_labels, _ = prototype_set(seed, max_rotation=degrees)
        rows.append(
            {
                "defect": "pristine",
                "level": float(degrees),
                **accuracies(model, transformer, held_out, held_out_labels, device),
            }
        )
    structures, labels = pristine_set(n_per_level, seed=seed, max_rotation=max_rotation)
    for defect, levels in (("displacement", sigmas), ("vacancies", vacancies)):
        for li, level in enumerate(levels):
            defective = [apply_defect(a, defect, level, seed=seed + 7919 * li + i) for i, a in enumerate(structures)]
            rows.append(
                {
                    "defect": defect,
                    "level": level if defect == "displacement" else round(100 * level, 3),
                    **accuracies(model, transformer, defective, labels, device),
                }
            )
    return pd.DataFrame(rows)


def plot_robustness(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Accuracy against defect level, one panel per defect, one line per classifier."""
    import matplotlib.pyplot as plt

    from matsight.report.style import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    labels = {
        "spglib_tight": "spglib 1e-5",
        "spglib_medium": "spglib 1e-3",
        "spglib_loose": "spglib 1e-1",
        "convnet": "ConvNet (pristine-trained)",
    }
    for ax, (defect, xlabel) in zip(axes, (("displacement", "displacement σ (Å)"), ("vacancies", "vacancies η (%)"))):
        part = table[table["defect"] == defect]
        for col, label in labels.items():
            ax.plot(part["level"], part[col], marker="o", ms=3, label=label, lw=2.2 if col == "convnet" else 1.2)
        ax.set_xlabel(xlabel)
        ax.set_xscale("log")
        ax.set_ylim(-3, 103)
    axes[0].set_ylabel("accuracy (%)")
    axes[1].legend(fontsize=7, loc="center left")
    return save_figure(fig, path)


def run_robustness(
    run_dir: str | os.PathLike,
    out: str | os.PathLike,
    n_per_level: int = 14,
    sigmas=SIGMAS,
    vacancies=VACANCIES,
    seed: int = 1000,
    device: str = "cpu",
) -> pd.DataFrame:
    """Load the ConvNet of ``run_dir``, write ``out/tables/robustness.{csv,parquet}``, the figure
    ``out/figures/robustness.png`` and a report section; return the table."""
    from matsight.models import load_model
    from matsight.report import Section, write_section

    model, _ = load_model(run_dir, device=device)
    run = RunFolder(out)
    run.start("crystals robustness", {"run": str(run_dir), "n_per_level": n_per_level}, seed=seed)
    table = robustness_table(model, n_per_level, sigmas, vacancies, seed, device=device)
    run.write_table("robustness", table)
    plot_robustness(table, run.figure_path("robustness.png"))
    write_section(
        run.path,
        Section(
            key="crystals-robustness",
            title="Crystal structures: robustness to defects",
            text=(
                "Pristine rows: one held-out structure per element of every class (70), level = maximum "
                "random rotation in degrees. "
                f"{n_per_level} structures per defect level (classes balanced), ConvNet trained on pristine structures "
                f"only, spglib at tolerances 1e-5/1e-3/1e-1 Å. Paper: {PAPER_FINDINGS}"
            ),
            figures=["figures/robustness.png"],
            tables=["tables/robustness.csv"],
            order=61,
        ),
    )
    run.set_status("finished")
    return table
