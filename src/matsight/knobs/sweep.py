"""Forward sensitivity: turn one knob (or two) across its range, the others at each tile's own values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from matsight.knobs.transfer import transfer_edit


@torch.no_grad()
def predict_edits(
    editor: nn.Module,
    regressor: nn.Module,
    images: torch.Tensor,
    requested: torch.Tensor,
    full: torch.Tensor | None = None,
    reconstructed: torch.Tensor | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Predictions ``[N]`` for tiles ``[N,1,S,S]`` edited to attributes ``requested [N, A]``.

    ``full``: the same tiles at the regressor's resolution, with ``reconstructed = G(I; own
    attributes)``; the regressor then sees them plus the edit
    (:func:`~matsight.knobs.transfer.transfer_edit`) instead of the editor's output.
    """
    out = np.zeros(len(images), np.float64)
    for s in range(0, len(images), batch_size):
        rows = slice(s, s + batch_size)
        edited = editor(images[rows], requested[rows])
        if full is not None:
            edited = transfer_edit(full[rows], edited, reconstructed[rows])
        out[rows] = regressor(edited).cpu().numpy()
    return out


@torch.no_grad()
def _edit_grid(
    editor: nn.Module,
    regressor: nn.Module,
    images: torch.Tensor,
    attributes: torch.Tensor,
    settings: list[dict[int, float]],
    full: torch.Tensor | None,
) -> np.ndarray:
    """Predictions ``[len(settings), N]``; each setting maps knob index → scaled value, the other
    attributes stay at each tile's own values."""
    reconstructed = editor(images, attributes) if full is not None else None
    out = np.zeros((len(settings), len(images)), np.float64)
    for i, setting in enumerate(settings):
        requested = attributes.clone()
        for knob, value in setting.items():
            requested[:, knob] = float(value)
        out[i] = predict_edits(editor, regressor, images, requested, full, reconstructed)
    return out


def sweep_knob(
    editor: nn.Module,
    regressor: nn.Module,
    images: torch.Tensor,
    attributes: torch.Tensor,
    knob: int,
    values: np.ndarray,
    full: torch.Tensor | None = None,
) -> np.ndarray:
    """Predictions ``[len(values), N]`` for tiles ``[N,1,S,S]`` with attribute ``knob`` set to each
    of ``values`` (scaled, in [0,1]) and the other attributes ``[N, A]`` left at their own values
    (``full``: the tiles at the regressor's resolution, see :func:`predict_edits`)."""
    return _edit_grid(editor, regressor, images, attributes, [{knob: v} for v in values], full)


def sweep_pair(
    editor: nn.Module,
    regressor: nn.Module,
    images: torch.Tensor,
    attributes: torch.Tensor,
    knobs: tuple[int, int],
    values: np.ndarray,
    full: torch.Tensor | None = None,
) -> np.ndarray:
    """Mean prediction ``[len(values), len(values)]`` over tiles; rows: knob 0, columns: knob 1
    (``full``: as in :func:`sweep_knob`)."""
    settings = [{knobs[0]: u, knobs[1]: v} for u in values for v in values]
    return _edit_grid(editor, regressor, images, attributes, settings, full).mean(1).reshape(len(values), len(values))


def lot_slopes(curves: dict[str, np.ndarray], values01: np.ndarray, groups: list[str]) -> pd.DataFrame:
    """Per knob and lot, the least-squares slope of the lot's mean prediction per unit of the knob:
    ``attribute, lot, tiles, slope`` from curves ``[levels, N]`` and each tile's lot ``[N]``."""
    lots = np.asarray(groups, str)
    rows = []
    for name, pred in curves.items():
        for lot in np.unique(lots):
            mine = lots == lot
            rows.append(
                {
                    "attribute": name,
                    "lot": lot,
                    "tiles": int(mine.sum()),
                    "slope": float(np.polyfit(values01, pred[:, mine].mean(1), 1)[0]),
                }
            )
    return pd.DataFrame(rows)


def lots_interval(slopes: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """t interval of the mean of the lots' slopes ``[L]`` (NaN for fewer than two lots)."""
    if len(slopes) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, len(slopes) - 1) * slopes.std(ddof=1) / np.sqrt(len(slopes))
    return float(slopes.mean() - half), float(slopes.mean() + half)


def summarise_sweeps(
    curves: dict[str, np.ndarray],
    values01: np.ndarray,
    values_user: dict[str, np.ndarray],
    per_lot: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long table: ``attribute, knob (0..1), value (user units), mean, low, high`` (10–90 % band over
    tiles) and per attribute the least-squares ``slope`` of mean prediction per unit of the knob (0..1);
    given :func:`lot_slopes`, ``lots_agreeing``: the fraction of lots whose own slope has the sign of
    ``slope`` (near 1: the lots agree; near 0.5: a few lots decide the mean), and ``ci_low, ci_high``:
    the 95 % interval of the mean of the lots' slopes (:func:`lots_interval`)."""
    rows = []
    for name, pred in curves.items():
        mean = pred.mean(1)
        slope = float(np.polyfit(values01, mean, 1)[0])
        low, high = np.percentile(pred, [10, 90], axis=1)
        extra = {}
        if per_lot is not None:
            lots = per_lot.loc[per_lot["attribute"] == name, "slope"].to_numpy()
            ci_low, ci_high = lots_interval(lots)
            extra = {
                "lots_agreeing": float((np.sign(lots) == np.sign(slope)).mean()),
                "ci_low": ci_low,
                "ci_high": ci_high,
            }
        for k, v in enumerate(values01):
            rows.append(
                {
                    "attribute": name,
                    "knob": float(v),
                    "value": float(values_user[name][k]),
                    "mean": float(mean[k]),
                    "low": float(low[k]),
                    "high": float(high[k]),
                    "slope": slope,
                    **extra,
                }
            )
    return pd.DataFrame(rows)
