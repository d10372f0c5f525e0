"""The leaderboard figure: one heat map per task, methods × metrics, coloured by rank within each metric."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.benchmark.leaderboard import BASELINE_LIBRARY
from matsight.benchmark.metrics import METRICS
from matsight.benchmark.peers import PEERS
from matsight.report.style import styled

SHORT = {
    "mass_ratio": "mass ratio ↑",
    "pointing_game": "pointing ↑",
    "auroc": "AUROC ↑",
    "insertion_minus_deletion": "ins − del ↑",
    "faithfulness_correlation": "faith. corr. ↑",
    "road": "ROAD ↓",
    "randomisation": "random. corr. ↓",
    "cost": "cost × fwd ↓",
}


def _percentile(column: pd.Series, higher_is_better: bool) -> pd.Series:
    """0 (worst) … 1 (best) by rank within the column; NaN stays NaN."""
    ranks = column.rank(ascending=higher_is_better, method="average")
    return (ranks - 1) / max(column.notna().sum() - 1, 1)


def method_order(board: pd.DataFrame) -> list[str]:
    """``library:method`` keys of the board: one method's libraries side by side (matsight first), methods
    in registry order then alphabetically, baselines last."""
    from matsight.saliency.registry import METHODS

    libraries = ["matsight", *PEERS, BASELINE_LIBRARY]
    names = list(METHODS)
    pairs = board[["method", "library"]].drop_duplicates()
    pairs = pairs.assign(
        last=pairs["library"] == BASELINE_LIBRARY,
        registered=pairs["method"].map(lambda m: names.index(m) if m in names else len(names)),
        rank=pairs["library"].map(libraries.index),
    )
    pairs = pairs.sort_values(["last", "registered", "method", "rank"])
    return (pairs["library"] + ":" + pairs["method"]).tolist()


@styled
def leaderboard_figure(board: pd.DataFrame, titles: dict[str, str], n_seeds: int, path: str | os.PathLike) -> Path:
    """Write the figure: per task (in the order of ``titles``), rows = ``library:method`` (baselines in grey
    italics), columns = metrics; colour = rank within the metric (cividis: bright = better), text = the mean."""
    import matplotlib.pyplot as plt

    from matsight.report.style import SEQUENTIAL_CMAP, save_figure

    tasks = [task for task in titles if task in set(board["task"])]  # the run's order
    metrics = [m for m in METRICS if m in set(board["metric"])]
    keys = method_order(board)
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(1.0 + 0.62 * len(metrics) * len(tasks) + 2.2, 2.2 + 0.24 * len(keys)), squeeze=False
    )
    for ax, task in zip(axes[0], tasks):
        part = board[board["task"] == task].assign(key=lambda t: t["library"] + ":" + t["method"])
        means = part.pivot_table(index="key", columns="metric", values="mean").reindex(index=keys, columns=metrics)
        colour = pd.DataFrame({m: _percentile(means[m], METRICS[m].higher_is_better) for m in metrics})
        ax.imshow(colour.to_numpy(float), cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(means.to_numpy(float)):
            if np.isfinite(value):
                shade = colour.iat[i, j]
                ax.text(
                    j,
                    i,
                    f"{value:.2g}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if shade > 0.55 else "white",
                )
        ax.set_xticks(range(len(metrics)), [SHORT[m] for m in metrics], rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(keys)), keys if ax is axes[0][0] else [""] * len(keys), fontsize=7)
        ax.set_title(titles.get(task, task), fontsize=8, wrap=True)
        if ax is axes[0][0]:
            for label in ax.get_yticklabels():
                if label.get_text().startswith(BASELINE_LIBRARY + ":"):
                    label.set_color("#555555")
                    label.set_style("italic")
    fig.suptitle(
        f"Explanation benchmark: mean over {n_seeds} seeds (text); colour = rank within each metric, "
        "bright = better (↑ higher is better, ↓ lower is better)",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, path)
