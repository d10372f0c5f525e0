"""Figures of the knobs workflow: sweeps, a 2-D sweep heatmap, control/cross-talk, per-tile ΔA (paper Fig. 3)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from matsight.report.style import DIVERGING_CMAP, OKABE_ITO, SEQUENTIAL_CMAP, save_figure, styled


@styled
def sweep_figure(table: pd.DataFrame, path: Path, ylabel: str, response: pd.DataFrame | None = None) -> Path:
    """One panel per attribute: mean prediction vs knob value (user units) with the 10–90 % band over tiles;
    given the regressor's real response (:mod:`~matsight.knobs.response`, same layout), its mean dashed."""
    names = list(dict.fromkeys(table["attribute"]))
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.4), sharey=True, squeeze=False)
    for ax, name, colour in zip(axes[0], names, OKABE_ITO):
        t = table[table["attribute"] == name]
        ax.fill_between(t["value"], t["low"], t["high"], color=colour, alpha=0.25, label="10–90 % of tiles")
        ax.plot(t["value"], t["mean"], color=colour, lw=2, label="knob sweep, mean")
        title = f"knob slope {t['slope'].iloc[0]:+.2f} per range"
        real = None if response is None else response[response["attribute"] == name]
        if real is not None and len(real):
            ax.plot(real["value"], real["mean"], color="black", lw=1.2, ls="--", label="re-rendered tiles, mean")
            title += f"\nreal response {real['slope'].iloc[0]:+.2f}"
        ax.set_xlabel(name)
        ax.set_title(title, fontsize=8)
    axes[0, 0].set_ylabel(ylabel)
    axes[0, 0].legend(fontsize=7, frameon=False)
    return save_figure(fig, path)


@styled
def heatmap_figure(
    grid: np.ndarray, u: np.ndarray, v: np.ndarray, names: tuple[str, str], path: Path, label: str
) -> Path:
    """Mean prediction over tiles for a pair of knobs: rows ``names[0]`` values ``u``, columns ``names[1]``."""
    fig, ax = plt.subplots(figsize=(3.4, 2.9))
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap=SEQUENTIAL_CMAP, extent=[v[0], v[-1], u[0], u[-1]])
    ax.set_xlabel(names[1])
    ax.set_ylabel(names[0])
    fig.colorbar(im, ax=ax, label=label)
    return save_figure(fig, path)


@styled
def control_figure(slopes: np.ndarray, names: list[str], path: Path) -> Path:
    """Knob i (rows) → measured attribute j (columns) slope; diagonal = control, off-diagonal = cross-talk."""
    fig, ax = plt.subplots(figsize=(3.6, 3.0))
    lim = max(1.0, float(np.abs(slopes).max()))
    im = ax.imshow(slopes, cmap=DIVERGING_CMAP, vmin=-lim, vmax=lim)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{slopes[i, j]:+.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("measured attribute")
    ax.set_ylabel("knob turned")
    fig.colorbar(im, ax=ax, label="d measured / d requested (scaled)")
    return save_figure(fig, path)


@styled
def inverse_figure(
    original: np.ndarray,
    edited: dict[str, np.ndarray],
    deltas: dict[str, np.ndarray],
    names: list[str],
    path: Path,
    labels: list[str] | None = None,
) -> Path:
    """Paper Fig. 3: per tile, the original, the edits for each direction and the ΔA bar plot.

    ``original [K, S, S]``; ``edited``/``deltas``: direction → ``[K, S, S]`` / ``[K, A]`` (fraction of each range);
    ``labels``: what each row answers for (e.g. its lot), shown over the original.
    """
    k, directions = len(original), list(edited)
    fig, axes = plt.subplots(
        k,
        len(directions) + 2,
        figsize=(2.0 * (len(directions) + 1) + 3.2, 2.0 * k),
        squeeze=False,
        gridspec_kw={"width_ratios": [1] * (len(directions) + 1) + [1.8]},
    )
    x = np.arange(len(names))
    for r in range(k):
        axes[r, 0].imshow(original[r], cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_title("original" if labels is None else f"original ({labels[r]})", fontsize=8)
        for c, d in enumerate(directions, start=1):
            axes[r, c].imshow(edited[d][r], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_title(f"edited ({d})", fontsize=8)
        for ax in axes[r, :-1]:
            ax.axis("off")
        bar = axes[r, -1]
        width = 0.8 / len(directions)
        for c, (d, colour) in enumerate(zip(directions, OKABE_ITO)):
            bar.bar(x + (c - (len(directions) - 1) / 2) * width, deltas[d][r], width, color=colour, label=d)
        bar.axhline(0, color="black", lw=0.5)
        bar.set_xticks(x, names, rotation=30, ha="right", fontsize=7)
        bar.set_ylabel("ΔA (fraction of range)", fontsize=7)
    axes[0, -1].legend(fontsize=7, frameon=False)
    return save_figure(fig, path)
