"""Pictures of maps: overlays with a colour bar, CLEAR / dominant-unit maps.

Overlays use :data:`matsight.report.style.SALIENCY_CMAP` (inferno: perceptually uniform, readable
with every common colour-vision deficiency and in grey print) over the grey image.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch

from matsight.report.style import SALIENCY_CMAP, palette, styled


def clear_rgb(dominant: torch.Tensor, level: torch.Tensor, n: int | None = None) -> np.ndarray:
    """CLEAR picture ``[N,H,W,3]``: colour = dominant output, brightness = level / per-image max."""
    dom = dominant.detach().cpu().numpy()
    lev = level.detach().float().cpu()
    lev = (lev / lev.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)).numpy()
    colours = palette(n or int(dom.max()) + 1)
    return colours[dom] * lev[..., None]


def legend_handles(names: list[str]) -> list[Patch]:
    """Legend patches for ``clear_rgb`` colours."""
    colours = palette(len(names))
    return [Patch(color=colours[i], label=name) for i, name in enumerate(names)]


EMPTY_NOTE = "all-zero map: nothing here pushes {target} {direction}"
CLASS_AGNOSTIC = "where the activations are informative (the same map for every target and sign)"


@dataclass(frozen=True)
class OverlayPanel:
    """One image of an overlay figure: ``image [C,h,w]`` (the model's input, in [0,1]), ``map [h,w]``
    in [0,1], ``label`` (lot and file), ``extent`` (``imshow`` extent in the original image's pixels,
    see :class:`matsight.saliency.geometry.CropGeometry`), ``peak`` ``(y, x)`` original pixels or
    ``None`` for an all-zero map."""

    image: torch.Tensor
    map: torch.Tensor
    label: str
    extent: tuple[float, float, float, float] | None = None
    peak: tuple[float, float] | None = None


def explained(target: str, sign: int, class_agnostic: bool = False) -> str:
    """What a map shows, in words: ``"what pushes cps up"`` / ``"... down"``, or :data:`CLASS_AGNOSTIC`."""
    return CLASS_AGNOSTIC if class_agnostic else f"what pushes {target} {direction(sign)}"


def direction(sign: int) -> str:
    return "up" if sign > 0 else "down"


@styled
def overlay_figure(
    panels: list[OverlayPanel],
    method: str,
    target: str,
    sign: int,
    class_agnostic: bool = False,
    cmap: str = SALIENCY_CMAP,
    alpha: float = 0.5,
) -> plt.Figure:
    """A row per image: the grey image, and the image with the map on top; axes in the original
    image's pixels, the peak marked, one labelled colour bar. Titled with ``method``, ``target`` (a name,
    or e.g. "the top-scoring class of each image", each panel's ``label`` then naming its own) and
    ``sign`` (``class_agnostic``: the method ignores them, e.g. FastCAM, and the title says so); an
    all-zero map is drawn as the plain image with a note, never as an empty overlay."""
    n = len(panels)
    fig, axes = plt.subplots(n, 2, figsize=(6, 2.6 * n + 0.6), squeeze=False)
    what = explained(target, sign, class_agnostic)
    fig.suptitle(f"{method}: {what}" if class_agnostic else f"{method}: {what} (sign {sign:+d})", fontsize=10)
    shown = None
    for row, panel in zip(axes, panels):
        img = panel.image.detach().float().cpu().mean(dim=0).numpy()
        for ax in row:
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, extent=panel.extent)
            ax.set_xlabel("x (px, original image)", fontsize=7)
            ax.set_ylabel("y (px)", fontsize=7)
            ax.tick_params(labelsize=6)
        row[0].set_title(panel.label, fontsize=8)
        if panel.peak is None:
            row[1].set_title(f"{method}: all-zero map", fontsize=8)
            row[1].text(
                0.5,
                0.5,
                EMPTY_NOTE.format(target=target, direction=direction(sign)).replace(": ", ":\n"),
                transform=row[1].transAxes,
                ha="center",
                va="center",
                fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"},
            )
            continue
        m = panel.map.detach().float().cpu().numpy()
        shown = row[1].imshow(m, cmap=cmap, vmin=0, vmax=1, alpha=alpha, extent=panel.extent)
        y, x = panel.peak
        row[1].plot([x], [y], marker="+", markersize=11, markeredgewidth=2, color="white")
        row[1].plot([x], [y], marker="+", markersize=8, markeredgewidth=1, color="black")
        row[1].set_title(f"{method}, peak at x={x:.0f}, y={y:.0f} px", fontsize=8)
    if shown is not None:
        fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label=f"{method}: {what} (0 = none, 1 = image max)")
    return fig
