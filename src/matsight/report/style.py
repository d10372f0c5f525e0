"""Figure style shared by every workflow: colour-blind-safe palettes, readable fonts, saving.

Importing this module changes nothing in matplotlib: the style applies inside :func:`figure_style`
(a ``with`` block) or to a function decorated with :func:`styled`, and is undone after it, so a
user's own figures in the same session keep their settings.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cycler import cycler

from matsight.store.atomic import atomic_path

F = TypeVar("F", bound=Callable)

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def palette(n: int):
    """``n`` distinct RGB colours, float ``[n,3]`` in [0,1]: Okabe-Ito up to 8, tab20 up to 20 (beyond,
    tab20 repeats)."""
    import matplotlib
    import numpy as np
    from matplotlib.colors import to_rgb

    if n <= len(OKABE_ITO):
        return np.array([to_rgb(c) for c in OKABE_ITO[:n]]).reshape(n, 3)
    return matplotlib.colormaps["tab20"](np.arange(n) % 20)[:, :3]


SEQUENTIAL_CMAP = "cividis"  # maps and heatmaps
DIVERGING_CMAP = "RdBu_r"  # signed quantities centred on 0
SALIENCY_CMAP = "inferno"  # saliency overlays on grey images

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "image.cmap": SEQUENTIAL_CMAP,
    "savefig.bbox": "tight",
}


def figure_style():
    """A ``with`` block in which figures get matsight's style (``matplotlib.rc_context``)."""
    import matplotlib

    return matplotlib.rc_context(STYLE)


def styled(function: F) -> F:
    """Decorator: run ``function`` (one that draws and saves a figure) inside :func:`figure_style`."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with figure_style():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save the matplotlib figure ``fig`` atomically (format from the extension) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
