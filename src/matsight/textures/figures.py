"""Figures of the texture workflow (paper Figs. 3, 4, 5, 8, 9) and the bank contact sheet.

Images are passed as ``float/uint8 [H, W]`` grey arrays; salient regions as ``(y0, x0, y1, x1)``
boxes in fractions of the image size (the cell of the chosen stage's grid holding the saliency
maximum).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from matsight.report.style import DIVERGING_CMAP, OKABE_ITO, SEQUENTIAL_CMAP, save_figure, styled

Box = tuple[float, float, float, float]


def _show(ax, image: np.ndarray, title: str, box: Box | None = None) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255 if image.dtype == np.uint8 else 1)
    if box is not None:
        h, w = image.shape[:2]
        y0, x0, y1, x1 = box
        ax.add_patch(
            Rectangle(
                (x0 * w - 0.5, y0 * h - 0.5),
                (x1 - x0) * w,
                (y1 - y0) * h,
                fill=False,
                edgecolor=OKABE_ITO[1],
                linewidth=1.5,
            )
        )
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


@styled
def contact_sheet(
    images: Sequence[np.ndarray], titles: Sequence[str], path: str | os.PathLike, columns: int = 7, suptitle: str = ""
) -> Path:
    """Grid of grey images with a title each (the bank contact sheet)."""
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.45 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, title in zip(axes.ravel(), images, titles):
        ax.axis("on")
        _show(ax, image, title)
    if suptitle:
        fig.suptitle(suptitle)
    return save_figure(fig, path)


@styled
def neighbours_figure(
    rows: Sequence[tuple[str, np.ndarray, Box | None, list[tuple[str, np.ndarray, Box | None]]]],
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """One row per query: the query image, then its neighbours closest first, salient regions outlined.

    ``rows``: ``(query_title, query_image, query_box, [(neighbour_title, image, box), ...])``
    (paper Fig. 3 for one tile, Fig. 4 for lots represented by one of their tiles).
    """
    k = max(len(r[3]) for r in rows)
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(1.25 * (k + 1), 1.45 * len(rows)), squeeze=False)
    for ax_row, (qtitle, qimage, qbox, neighbours) in zip(axes, rows):
        for ax in ax_row:
            ax.axis("off")
        ax_row[0].axis("on")
        _show(ax_row[0], qimage, qtitle, qbox)
        for ax, (ntitle, nimage, nbox) in zip(ax_row[1:], neighbours):
            ax.axis("on")
            _show(ax, nimage, ntitle, nbox)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


@styled
def scores_bar(
    textures: Sequence[str],
    scores: np.ndarray,
    ci_low: np.ndarray,
    ci_high: np.ndarray,
    path: str | os.PathLike,
    prop: str = "property",
    highlight: Sequence[str] = (),
) -> Path:
    """All texture scores sorted, with bootstrap intervals (paper Fig. 5).

    A percentile interval need not contain the point estimate (few resamples, skewed scores); its
    bar is then drawn to the estimate on that side.
    """
    order = np.argsort(scores)[::-1]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.22 * len(textures)), 3.2))
    colours = [OKABE_ITO[3] if textures[i] in highlight else OKABE_ITO[0] for i in order]
    errors = np.clip(np.vstack([scores[order] - ci_low[order], ci_high[order] - scores[order]]), 0, None)
    ax.bar(range(len(order)), scores[order], color=colours, yerr=errors, capsize=1.5, error_kw={"linewidth": 0.7})
    ax.set_xticks(range(len(order)), [textures[i] for i in order], rotation=90, fontsize=7)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel(f"score = cos(z(similarity), z({prop}))")
    ax.set_xlabel("texture (positive: looks more like it → higher " + prop + ")")
    return save_figure(fig, path)


@styled
def per_lot_figure(
    lots: Sequence[str],
    prop_values: np.ndarray,
    similarity: np.ndarray,
    textures: Sequence[str],
    path: str | os.PathLike,
    prop: str = "property",
) -> Path:
    """Heatmap of z-normalised texture similarity for a subset of lots ordered by property (Fig. 8).

    ``similarity``: ``[L, T]`` (e.g. ``z(-relevance)`` over lots).
    """
    order = np.argsort(prop_values)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.22 * len(textures)), 0.3 * len(lots) + 1.5))
    lim = float(np.abs(similarity).max()) or 1.0
    im = ax.imshow(similarity[order], cmap=DIVERGING_CMAP, vmin=-lim, vmax=lim, aspect="auto")
    ax.set_yticks(range(len(order)), [f"{lots[i]} ({prop_values[i]:.3g})" for i in order], fontsize=7)
    ax.set_xticks(range(len(textures)), textures, rotation=90, fontsize=7)
    ax.set_ylabel(f"lot ({prop}), ordered by {prop}")
    ax.set_xlabel("texture")
    fig.colorbar(im, ax=ax, label="texture similarity (z over lots)")
    return save_figure(fig, path)


@styled
def lot_similarity_figure(
    lots: Sequence[str], prop_values: np.ndarray, matrix: np.ndarray, path: str | os.PathLike, prop: str = "property"
) -> Path:
    """Lot-by-lot similarity of texture profiles, ordered by property (paper Fig. 9)."""
    order = np.argsort(prop_values)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    im = ax.imshow(matrix[np.ix_(order, order)], cmap=SEQUENTIAL_CMAP, vmin=-1, vmax=1)
    labels = [f"{prop_values[i]:.3g}" for i in order]
    step = max(1, len(order) // 15)
    ax.set_xticks(range(0, len(order), step), labels[::step], rotation=90, fontsize=6)
    ax.set_yticks(range(0, len(order), step), labels[::step], fontsize=6)
    ax.set_xlabel(f"lot ({prop}, ascending)")
    ax.set_ylabel(f"lot ({prop}, ascending)")
    fig.colorbar(im, ax=ax, label="cosine similarity of texture profiles")
    return save_figure(fig, path)


def bank_contact_sheet(bank: str | os.PathLike, path: str | os.PathLike, columns: int = 7) -> Path:
    """The first image of every class of a DTD-layout bank, titled by class."""
    from matsight.data.images import read_image
    from matsight.textures.bank import read_bank

    table = read_bank(bank, per_class=1)
    return contact_sheet([read_image(p)[0] for p in table.paths], table.groups, path, columns)
