"""Forward sensitivity: turn one knob (or two) across its range, the others at each tile's own values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn


@torch.no_grad()
def sweep_knob(editor: nn.Module, regressor: nn.Module, images: torch.Tensor, attributes: torch.Tensor,
               knob: int, values: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Predictions ``[len(values), N]`` for tiles ``[N,1,S,S]`` with attribute ``knob`` set to each
    of ``values`` (scaled, in [0,1]) and the other attributes ``[N, A]`` left at their own values."""
    out = np.zeros((len(values), len(images)), np.float64)
    for i, v in enumerate(values):
        for s in range(0, len(images), batch_size):
            a = attributes[s:s + batch_size].clone()
            a[:, knob] = float(v)
            out[i, s:s + batch_size] = regressor(editor(images[s:s + batch_size], a)).cpu().numpy()
    return out


@torch.no_grad()
def sweep_pair(editor: nn.Module, regressor: nn.Module, images: torch.Tensor, attributes: torch.Tensor,
               knobs: tuple[int, int], values: np.ndarray) -> np.ndarray:
    """Mean prediction ``[len(values), len(values)]`` over tiles; rows: knob 0, columns: knob 1."""
    grid = np.zeros((len(values), len(values)))
    for i, u in enumerate(values):
        a = attributes.clone()
        a[:, knobs[0]] = float(u)
        grid[i] = sweep_knob(editor, regressor, images, a, knobs[1], values).mean(1)
    return grid


def summarise_sweeps(curves: dict[str, np.ndarray], values01: np.ndarray, values_user: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long table: ``attribute, knob (0..1), value (user units), mean, low, high`` (10–90 % band over
    tiles) and per attribute the least-squares ``slope`` of mean prediction per unit of the knob (0..1)."""
    rows = []
    for name, pred in curves.items():
        mean = pred.mean(1)
        slope = float(np.polyfit(values01, mean, 1)[0])
        low, high = np.percentile(pred, [10, 90], axis=1)
        for k, v in enumerate(values01):
            rows.append({"attribute": name, "knob": float(v), "value": float(values_user[name][k]),
                         "mean": float(mean[k]), "low": float(low[k]), "high": float(high[k]), "slope": slope})
    return pd.DataFrame(rows)
