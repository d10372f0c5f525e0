"""What a regressor really does when one attribute of a synthetic lot changes: the oracle sweep.

On lots from :mod:`matsight.synth.sem` the attributes are known and the tiles can be rendered again
with one attribute changed and the same random seed (the same grains, pits and cracks wherever the
attribute does not decide them). The regressor's mean prediction on such re-rendered tiles, as one
attribute moves across the lots' range, is its true partial dependence on that attribute — what a
knob sweep through the editor tries to estimate. Comparing the two separates an editor that fails
to show the model's behaviour from a model that did not learn the formula.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from matsight.synth.sem_tiles import TileAttributes, render_tile


@torch.no_grad()
def oracle_sweep(
    regressor: nn.Module,
    lots: pd.DataFrame,
    knob: str,
    values: np.ndarray,
    tiles_per_lot: int = 4,
    size: int = 96,
    seed: int = 0,
    batch_size: int = 64,
) -> np.ndarray:
    """Predictions ``[len(values), len(lots)·tiles_per_lot]`` on tiles re-rendered with ``knob`` set to
    each of ``values`` (user units) and every other attribute at its lot's value.

    ``lots``: one row per lot with the columns of :class:`TileAttributes`; ``regressor``: tiles
    ``[N, 1, size, size]`` in [0,1] → ``[N]``. Tile ``j`` of lot ``i`` uses the random stream
    ``(seed, i, j)`` at every value, so only the attribute differs between the levels.
    """
    fields = list(TileAttributes.__dataclass_fields__)
    tiles = [(i, j) for i in range(len(lots)) for j in range(tiles_per_lot)]
    out = np.zeros((len(values), len(tiles)))
    for k, value in enumerate(values):
        images = []
        for i, j in tiles:
            attributes = TileAttributes(**{**lots.iloc[i][fields].astype(float).to_dict(), knob: float(value)})
            images.append(render_tile(attributes, size, np.random.default_rng([seed, i, j])))
        batch = torch.from_numpy(np.stack(images)[:, None].astype(np.float32) / 255)
        out[k] = np.concatenate(
            [regressor(batch[s : s + batch_size]).cpu().numpy() for s in range(0, len(batch), batch_size)]
        )
    return out
