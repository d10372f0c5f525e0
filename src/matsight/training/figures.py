"""Training figures: predicted vs measured, learning curves, confusion matrix."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from matsight.report.style import OKABE_ITO, SEQUENTIAL_CMAP, save_figure, styled


@styled
def predicted_vs_measured(predictions: pd.DataFrame, per_lot: pd.DataFrame, target: str, path) -> None:
    """Tiles as faint points, lots as means with ±1 s.d. error bars, the identity line."""
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.scatter(predictions["measured"], predictions["predicted"], s=6, alpha=0.25, color=OKABE_ITO[5], label="tiles")
    ax.errorbar(
        per_lot["measured"],
        per_lot["predicted_mean"],
        yerr=per_lot["predicted_std"],
        fmt="o",
        color=OKABE_ITO[0],
        ms=4,
        capsize=2,
        label="lot mean ± s.d.",
    )
    low = float(min(predictions["measured"].min(), predictions["predicted"].min()))
    high = float(max(predictions["measured"].max(), predictions["predicted"].max()))
    ax.plot([low, high], [low, high], color="0.4", lw=0.8, ls="--", label="identity")
    ax.set_xlabel(f"measured {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title("Held-out predictions")
    ax.legend(frameon=False, fontsize=8)
    save_figure(fig, path)


@styled
def learning_curves(history: pd.DataFrame, path) -> None:
    fig, ax = plt.subplots(figsize=(4.2, 3))
    ax.plot(history["epoch"], history["train_loss"], label="training")
    ax.plot(history["epoch"], history["val_loss"], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(frameon=False)
    save_figure(fig, path)


@styled
def confusion_matrix(matrix: list[list[int]], names: list[str], path) -> None:
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(names), 0.8 + 0.45 * len(names)))
    image = ax.imshow(matrix, cmap=SEQUENTIAL_CMAP)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(value),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value < matrix.max() / 2 else "black",
        )
    fig.colorbar(image, ax=ax, label="images")
    save_figure(fig, path)
