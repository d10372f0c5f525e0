"""How sure is a texture score? Bootstrap over tiles within lots, permutation over lots, BH q-values.

Works on per-tile relevance ``tile_relevance [N, T]`` (mean distance of tile i to the bank images
of texture t); a lot's relevance is the mean over its tiles, so resampling tiles is cheap.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control

from matsight.textures.correlation import texture_scores


def bootstrap_scores(
    tile_relevance: np.ndarray, lots: np.ndarray, prop: np.ndarray, n_boot: int = 500, seed: int = 0
) -> np.ndarray:
    """Scores ``[n_boot, T]`` from resampling the tiles of every lot with replacement.

    ``lots``: ``int [N]`` lot index per tile (``0..L-1``); ``prop``: ``[L]``.
    """
    rng = np.random.default_rng(seed)
    lots = np.asarray(lots, dtype=np.int64)
    members = [np.flatnonzero(lots == lot) for lot in range(len(prop))]
    out = np.empty((n_boot, tile_relevance.shape[1]))
    for b in range(n_boot):
        rel = np.stack([tile_relevance[rng.choice(m, size=len(m))].mean(0) for m in members])
        out[b] = texture_scores(rel, prop)
    return out


def confidence_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap ``samples`` ``[B, T]`` → ``(low [T], high [T])``."""
    tail = (1.0 - level) / 2.0 * 100.0
    return np.percentile(samples, tail, axis=0), np.percentile(samples, 100.0 - tail, axis=0)


def permutation_pvalues(relevance: np.ndarray, prop: np.ndarray, n_perm: int = 999, seed: int = 0) -> np.ndarray:
    """Two-sided permutation p-value per texture: the property is shuffled across lots.

    ``p_t = (1 + #{perm : |s_perm,t| >= |s_t|}) / (1 + n_perm)``; ``relevance``: ``[L, T]``.
    """
    rng = np.random.default_rng(seed)
    observed = np.abs(texture_scores(relevance, prop))
    exceed = np.zeros_like(observed)
    for _ in range(n_perm):
        exceed += np.abs(texture_scores(relevance, rng.permutation(prop))) >= observed - 1e-12
    return (1.0 + exceed) / (1.0 + n_perm)


def q_values(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values ``[T]`` (``scipy.stats.false_discovery_control``): ranking T
    textures tests T hypotheses; ``q <= 0.05`` keeps the expected share of false findings at 5 %."""
    return false_discovery_control(np.asarray(p_values, dtype=np.float64), method="bh")
