"""Texture-concept formulas on tiny hand-made feature arrays with known answers."""

import numpy as np
import pytest
import torch

from matsight.textures.correlation import (
    class_average,
    cosine,
    lot_similarity,
    remove_lot_offset,
    texture_scores,
    zscore,
)
from matsight.textures.distances import grouped_mean_distances, nearest
from matsight.textures.uncertainty import bootstrap_scores, confidence_interval, permutation_pvalues, q_values


def test_nearest_order_and_ties():
    x = np.array([[0.0, 0.0], [10.0, 0.0]])
    y = np.array([[3.0, 0.0], [0.0, 1.0], [-2.0, 0.0], [1.0, 0.0], [10.0, 0.5]])
    idx, dist = nearest(x, y, k=4, block=2)  # blocks force the running top-k merge
    assert idx[0].tolist() == [1, 3, 2, 0]  # distances 1, 1 (tie: lower index first), 2, 3
    np.testing.assert_allclose(dist[0], [1, 1, 2, 3])
    assert idx[1, 0] == 4 and dist[1, 0] == pytest.approx(0.5)


def test_grouped_distances_match_brute_force_for_any_block():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(11, 5)), rng.normal(size=(7, 5))
    full = np.linalg.norm(x[:, None] - y[None], axis=2)
    lots, classes = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 0, 1]), np.array([0, 1, 1, 0, 2, 2, 2])
    expect = np.array([[full[lots == a][:, classes == b].mean() for b in range(3)] for a in range(3)])
    for block in (1, 3, 100):
        np.testing.assert_allclose(grouped_mean_distances(x, y, block=block), full, atol=1e-9)
        np.testing.assert_allclose(grouped_mean_distances(x, y, lots, classes, block=block), expect, atol=1e-9)
        np.testing.assert_allclose(
            grouped_mean_distances(x, y, None, classes, block=block), class_average(full, classes, axis=1), atol=1e-9
        )
    # float32 torch input gives the same within float32 precision
    got = grouped_mean_distances(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), lots)
    np.testing.assert_allclose(got, class_average(full, lots), rtol=1e-5)


def test_class_average_by_hand():
    d = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 20.0]])
    np.testing.assert_allclose(class_average(d, [0, 0, 1]), [[2.0, 3.0], [10.0, 20.0]])
    np.testing.assert_allclose(class_average(d, [1, 0], axis=1), [[2.0, 1.0], [4.0, 3.0], [20.0, 10.0]])
    with pytest.raises(ValueError):
        class_average(d, [0, 0, 2])  # group 1 is empty


def test_relevance_by_hand():
    # 1-D features: lot A tiles at 0 and 2, lot B tile at 10; texture P images at 0, 1; texture Q at 9.
    x = np.array([[0.0], [2.0], [10.0]])
    y = np.array([[0.0], [1.0], [9.0]])
    r = grouped_mean_distances(x, y, np.array([0, 0, 1]), np.array([0, 0, 1]))
    # A-P: (0+1+2+1)/4 = 1; A-Q: (9+7)/2 = 8; B-P: (10+9)/2 = 9.5; B-Q: 1
    np.testing.assert_allclose(r, [[1.0, 8.0], [9.5, 1.0]])


def test_zscore_and_cosine():
    np.testing.assert_allclose(zscore([1.0, 2.0, 3.0]), [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    np.testing.assert_allclose(zscore([[1.0, 5.0], [3.0, 5.0]], axis=0), [[-1.0, 0.0], [1.0, 0.0]])  # constant → 0
    a = np.array([[1.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(cosine(a, np.array([1.0, 0.0])), [1.0, 1 / np.sqrt(2)])


def test_score_sign_convention():
    cps = np.array([10.0, 20.0, 30.0, 40.0])
    relevance = np.array([[4.0, 1.0, 5.0], [3.0, 2.0, 5.0], [2.0, 3.0, 5.0], [1.0, 4.0, 5.0]])
    # texture 0: higher-CPS lots are CLOSER (look more like it) → +1; texture 1: farther → -1; 2: constant → 0
    np.testing.assert_allclose(texture_scores(relevance, cps), [1.0, -1.0, 0.0], atol=1e-12)
    # cosine of z-scores = Pearson correlation of similarity and property
    rel = np.random.default_rng(1).normal(size=(9, 4))
    prop = np.random.default_rng(2).normal(size=9)
    expect = [np.corrcoef(-rel[:, t], prop)[0, 1] for t in range(4)]
    np.testing.assert_allclose(texture_scores(rel, prop), expect, atol=1e-12)


def test_lot_similarity_is_cosine_of_profiles():
    rel = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 2.0, 1.0]])
    s = lot_similarity(rel)
    np.testing.assert_allclose(np.diag(s), 1.0)
    assert s[0, 1] == pytest.approx(1.0) and s[0, 2] == pytest.approx(-1.0)


def test_bootstrap_and_permutation():
    rng = np.random.default_rng(0)
    lots = np.repeat(np.arange(8), 5)
    prop = np.arange(8.0)
    signal = -prop[lots][:, None] + 0.1 * rng.normal(size=(40, 1))  # closer as prop grows → +
    noise = rng.normal(size=(40, 1))
    tile_rel = np.hstack([signal, noise])
    samples = bootstrap_scores(tile_rel, lots, prop, n_boot=100, seed=0)
    low, high = confidence_interval(samples)
    assert low[0] > 0.95 and high[0] <= 1.0
    assert high[1] - low[1] > 0.2  # noise: a wide interval
    lot_rel = class_average(tile_rel, lots)
    p = permutation_pvalues(lot_rel, prop, n_perm=199, seed=0)
    assert p[0] == pytest.approx(1 / 200)  # no permutation of 8 lots beats a perfect ranking
    assert p[1] > 0.05
    # identical tiles within lots → zero-width interval
    flat = bootstrap_scores(np.repeat(-prop, 3)[:, None], np.repeat(np.arange(8), 3), prop, n_boot=20)
    assert np.ptp(flat) == pytest.approx(0.0)


def test_result_table_order_rank_and_table1():
    from matsight.textures.probe import TextureResult

    t = 22
    scores = np.linspace(-1, 1, t)
    zeros = np.zeros(t)
    r = TextureResult(
        [f"t{i}" for i in range(t)], [], "cps", zeros, scores, zeros, zeros, zeros, zeros, None, None, None, None, None
    )
    assert r.table().texture[0] == f"t{t - 1}" and r.rank_of("t0") == t
    top = r.top_bottom(10)
    assert len(top) == 20 and top["rank"].tolist() == list(range(1, 11)) + list(range(13, 23))


def test_benjamini_hochberg_known_answers():
    # worked example: p sorted, q_i = min_{j >= i} p_j * m / j
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    np.testing.assert_allclose(q_values(p), [0.025, 0.05, 0.05, 0.025, 0.5])
    rng = np.random.default_rng(0)
    p = rng.uniform(size=28)
    q = q_values(p)
    assert (q >= p - 1e-15).all() and (q <= 1).all()
    assert np.all(np.diff(q[np.argsort(p)]) >= 0)  # the order of the p-values is kept


def test_a_planted_lot_offset_is_not_a_texture_finding():
    """Lots whose distance to *every* texture grows with the property, and no texture effect at all:
    uncorrected, all textures come out significant; with the offset removed, none does."""
    rng = np.random.default_rng(3)
    lots, tiles, textures = 12, 6, 10
    prop = rng.normal(size=lots)
    tile_lot = np.repeat(np.arange(lots), tiles)
    base = rng.uniform(5, 10, size=textures)  # each texture's typical distance
    offset = 2.0 * prop[tile_lot][:, None]  # one lot-level shift, shared by all textures
    tile_rel = base[None] + offset + 0.3 * rng.normal(size=(lots * tiles, textures))
    before = permutation_pvalues(class_average(tile_rel, tile_lot), prop, n_perm=199, seed=0)
    assert (q_values(before) <= 0.05).all()  # 10 of 10 "significant": the old behaviour
    centred = class_average(remove_lot_offset(tile_rel), tile_lot)
    after = q_values(permutation_pvalues(centred, prop, n_perm=199, seed=0))
    assert (after > 0.05).all()
    # a real texture effect survives: texture 0 gets closer as the property rises
    tile_rel[:, 0] -= 1.5 * prop[tile_lot]
    scores = texture_scores(class_average(remove_lot_offset(tile_rel), tile_lot), prop)
    p = permutation_pvalues(class_average(remove_lot_offset(tile_rel), tile_lot), prop, n_perm=199, seed=0)
    assert scores.argmax() == 0 and scores[0] > 0.9 and q_values(p)[0] <= 0.05
    np.testing.assert_allclose(remove_lot_offset(tile_rel).mean(axis=1), 0.0, atol=1e-12)
