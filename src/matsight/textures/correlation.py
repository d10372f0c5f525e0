"""Texture relevance and its link to a lot property (paper §4.3), with the sign made explicit.

Shapes: ``L`` lots, ``T`` texture classes. ``relevance[l, t]`` = r(C_l, T_t), the mean L2 distance
between the tiles of lot l and the bank images of class t (paper eq. 4.3). A *small* distance means
the lot looks like the texture, so the score uses similarity ``-r``:

    score_t = cos( z(-r[:, t]), z(property) )

with ``z`` the z-normalisation over lots, after :func:`remove_lot_offset` has taken out each tile's
mean distance over the textures. SIGN CONVENTION: a positive score means "the more a lot
looks like this texture, the higher its property"; a negative one, the lower. With z-normalised
vectors the cosine equals the Pearson correlation, so scores lie in [-1, 1].
"""

from __future__ import annotations

import numpy as np

SIGN_CONVENTION = (
    "positive score = the more a lot looks like this texture (smaller feature distance), "
    "the higher its property; negative = the lower"
)


def class_average(distances: np.ndarray, groups: np.ndarray, n_groups: int | None = None, axis: int = 0) -> np.ndarray:
    """Average ``distances`` over members of each group along ``axis``.

    ``distances``: ``[N, M]``; ``groups``: ``int [N]`` (axis 0) or ``int [M]`` (axis 1), values
    ``0..G-1``. Returns ``[G, M]`` (axis 0) or ``[N, G]`` (axis 1).
    """
    d = np.moveaxis(np.asarray(distances, dtype=np.float64), axis, 0)
    g = np.asarray(groups, dtype=np.int64)
    n_groups = int(g.max()) + 1 if n_groups is None else n_groups
    sums = np.zeros((n_groups,) + d.shape[1:])
    np.add.at(sums, g, d)
    counts = np.bincount(g, minlength=n_groups).astype(np.float64)
    if (counts == 0).any():
        raise ValueError(f"groups {np.flatnonzero(counts == 0).tolist()} have no members")
    return np.moveaxis(sums / counts.reshape((-1,) + (1,) * (d.ndim - 1)), 0, axis)


def zscore(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """``(v - mean) / std`` along ``axis`` (population std); a constant vector maps to zeros."""
    v = np.asarray(values, dtype=np.float64)
    std = v.std(axis=axis, keepdims=True)
    return np.divide(v - v.mean(axis=axis, keepdims=True), std, out=np.zeros_like(v), where=std > 0)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity between the columns of ``a`` ``[L, T]`` and the vector ``b`` ``[L]`` → ``[T]``
    (0 where a column is all zeros)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norm = np.linalg.norm(a, axis=0) * np.linalg.norm(b)
    return np.divide(a.T @ b, norm, out=np.zeros(a.shape[1]), where=norm > 0)


def remove_lot_offset(tile_relevance: np.ndarray) -> np.ndarray:
    """Subtract each row's mean over textures: ``r[i, t] - mean_t r[i, t]`` (``[N, T]`` or ``[L, T]``).

    A tile's (or lot's) distance to every texture shares a term of its own: the feature norm, which
    in a regressor tracks the prediction. Left in, it moves all textures together with the property
    (every texture "significant" with one sign). This is the within transformation of a model
    ``r[i, t] = mu_t + u_i + e[i, t]``: the unit's offset ``u_i`` is removed, so the score asks
    whether a lot resembles texture t *more than the other textures* as the property rises.
    Linear, so centring tiles and then averaging per lot equals averaging and then centring.
    """
    r = np.asarray(tile_relevance, dtype=np.float64)
    return r - r.mean(axis=1, keepdims=True)


def texture_scores(relevance: np.ndarray, prop: np.ndarray) -> np.ndarray:
    """Score of each texture: ``cos(z(-relevance[:, t]), z(prop))`` → ``float64 [T]`` in [-1, 1].

    ``relevance``: ``[L, T]`` mean distances; ``prop``: ``[L]`` property per lot (e.g. CPS).
    """
    return cosine(zscore(-np.asarray(relevance, dtype=np.float64), axis=0), zscore(prop))


def lot_similarity(lot_profiles: np.ndarray) -> np.ndarray:
    """Cosine similarity ``[L, L]`` between lots' z-normalised texture-similarity profiles
    (rows of ``-relevance``, z-normalised over textures) — paper Fig. 9."""
    z = zscore(-np.asarray(lot_profiles, dtype=np.float64), axis=1)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    z = np.divide(z, norm, out=np.zeros_like(z), where=norm > 0)
    return z @ z.T
