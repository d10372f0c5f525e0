"""Figure of the SEM attributes: one row per attribute, tiles at the low and high end of its range."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from matsight.report.style import styled
from matsight.store.atomic import atomic_path
from matsight.synth.sem import ATTRIBUTE_RANGES
from matsight.synth.sem_tiles import TileAttributes, render_tile

MIDDLE = {"size": 12.0, "porosity": 0.3, "polydispersity": 0.25, "facetness": 0.8, "cracks": 0.0}


@styled
def attribute_figure(path: str | os.PathLike, side: int = 128, seed: int = 0) -> Path:
    """Write the figure: each row varies one attribute (others at :data:`MIDDLE`), low | high, same seed."""
    import matplotlib.pyplot as plt

    from matsight.report.style import save_figure

    fig, axes = plt.subplots(len(ATTRIBUTE_RANGES), 2, figsize=(3.6, 1.8 * len(ATTRIBUTE_RANGES)))
    for row, (name, (low, high)) in enumerate(ATTRIBUTE_RANGES.items()):
        for col, value in enumerate((low, high)):
            tile = render_tile(TileAttributes(**{**MIDDLE, name: value}), side, np.random.default_rng(seed))
            ax = axes[row, col]
            ax.imshow(tile, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name} = {value:g}", fontsize=9)
    fig.tight_layout()
    with plt.rc_context({"savefig.dpi": 100}):  # tiles shown near 1:1; keeps the noisy PNG small
        save_figure(fig, path)
    with atomic_path(Path(path)) as tmp:  # the figure is grey: one channel instead of RGBA (< 300 KB)
        Image.open(path).convert("L").save(tmp, format="PNG", optimize=True)
    return Path(path)
