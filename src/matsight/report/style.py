"""Figure style shared by every workflow: colour-blind-safe palettes, readable fonts, saving."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matsight.store.atomic import atomic_path  # noqa: E402

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
SEQUENTIAL_CMAP = "cividis"  # maps and heatmaps
DIVERGING_CMAP = "RdBu_r"  # signed quantities centred on 0
SALIENCY_CMAP = "inferno"  # saliency overlays on grey images

plt.rcParams.update(
    {
        "figure.dpi": 110,
        "savefig.dpi": 150,
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
        "image.cmap": SEQUENTIAL_CMAP,
        "savefig.bbox": "tight",
    }
)


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Save ``fig`` atomically (format from the extension) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
