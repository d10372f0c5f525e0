"""The regressor's real response to each attribute, on lots drawn by :mod:`matsight.synth.sem`.

A knob sweep estimates how the regressor's prediction moves as one attribute moves, through the
editor's edit. On generator lots the same question has an answer without any editor: render every
lot's tiles again with only that attribute changed — the same random stream at every value, so the
same grains, pits and cracks wherever the attribute does not decide them — and let the regressor
read them. The slope of its mean prediction is its true partial dependence on the attribute. A knob
whose sweep has the opposite sign *misreads the regressor*: its edit is not what the regressor reads
as that attribute, so neither its sweep nor an inverse search that turns it explains the regressor
(:mod:`matsight.knobs.agreement`). The control check cannot tell: the attribute measurer and the
regressor may read the same edit differently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from matsight.knobs.sweep import lot_slopes, summarise_sweeps
from matsight.progress import note
from matsight.synth.sem_tiles import TileAttributes, render_tile

FIELDS = tuple(TileAttributes.__dataclass_fields__)
# first word of the re-rendered tiles' random streams, so they never repeat the lots' own tiles
STREAM = 7919


@torch.no_grad()
def rerendered_predictions(
    regressor: nn.Module,
    lots: pd.DataFrame,
    attribute: str,
    values: np.ndarray,
    tiles_per_lot: int,
    tile_size: int,
    seed: int = 0,
    batch_size: int = 64,
) -> np.ndarray:
    """Predictions ``[len(values), L·tiles_per_lot]`` (lot-major) on every lot's tiles re-rendered with
    ``attribute`` set to each of ``values`` (user units) and the others at the lot's values.

    ``lots``: ``L`` rows with the columns of :class:`~matsight.synth.sem_tiles.TileAttributes`;
    ``regressor``: tiles ``[N, 1, S, S]`` in [0, 1] → ``[N]``. Tile ``j`` of lot ``i`` uses the random
    stream ``(STREAM, seed, i, j)`` at every value, so only the attribute differs between the levels."""
    rows = lots[list(FIELDS)].astype(float).to_dict("records")
    device = next(regressor.parameters(), torch.empty(0)).device
    out = np.zeros((len(values), len(rows) * tiles_per_lot))
    for k, value in enumerate(values):
        tiles = [
            render_tile(
                TileAttributes(**{**row, attribute: float(value)}),
                tile_size,
                np.random.default_rng([STREAM, seed, i, j]),
            )
            for i, row in enumerate(rows)
            for j in range(tiles_per_lot)
        ]
        batch = torch.from_numpy(np.stack(tiles)[:, None].astype(np.float32) / 255)
        out[k] = np.concatenate(
            [regressor(batch[s : s + batch_size].to(device)).cpu().numpy() for s in range(0, len(batch), batch_size)]
        )
    return out


def regressor_response(
    regressor: nn.Module,
    lots_dir: Path,
    values_user: Mapping[str, np.ndarray],
    tiles_per_lot: int = 2,
) -> pd.DataFrame | None:
    """The regressor's real response to each attribute of ``values_user`` (name → values in user
    units, lowest to highest, as the knob sweep uses them), in the layout of ``knob_sweeps.csv``
    (:func:`~matsight.knobs.sweep.summarise_sweeps`: per attribute and level the mean prediction and
    10–90 % band, the slope per range, its 95 % interval over the lots and ``lots_agreeing``).

    ``None`` when ``lots_dir`` is not a generator lots folder (no ``ground_truth.json`` with a tile
    size, or a ``lots.csv`` without every attribute the generator draws); attributes the generator
    does not draw are left out."""
    lots_dir = Path(lots_dir)
    try:
        truth = json.loads((lots_dir / "ground_truth.json").read_text())
        tile_size, seed = int(truth["tile_size"]), int(truth.get("seed", 0))
        lots = pd.read_csv(lots_dir / "lots.csv")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    names = [name for name in values_user if name in FIELDS]
    if not names or not set(FIELDS) <= set(lots.columns):
        return None
    groups = np.repeat(lots["lot"].astype(str).to_numpy(), tiles_per_lot).tolist()
    curves = {}
    for name in names:
        levels = len(values_user[name])
        note(f"knobs: the regressor's real response to {name} ({levels} levels × {len(groups)} re-rendered tiles)")
        curves[name] = rerendered_predictions(
            regressor, lots, name, np.asarray(values_user[name], float), tiles_per_lot, tile_size, seed
        )
    values01 = np.linspace(0, 1, len(next(iter(curves.values()))))
    return summarise_sweeps(curves, values01, {n: values_user[n] for n in names}, lot_slopes(curves, values01, groups))
