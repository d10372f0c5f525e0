"""Synthetic SEM lots: determinism, user coefficients, attributes visible in the tiles."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from matsight.data import read_lots
from matsight.errors import ConfigError
from matsight.synth.sem import ATTRIBUTE_RANGES, generate_lots, lot_attributes, lot_names, read_coefficients
from matsight.synth.sem_tiles import TileAttributes, render_tile

MATSIGHT = str(Path(sys.executable).with_name("matsight"))
BASE = dict(size=10.0, porosity=0.3, polydispersity=0.2, facetness=0.8, cracks=0.0)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_deterministic_for_a_seed_and_readable(tmp_path):
    a = generate_lots(tmp_path / "a", lots=3, tiles_per_lot=2, size=32, seed=5, progress=False)
    b = generate_lots(tmp_path / "b", lots=3, tiles_per_lot=2, size=32, seed=5, progress=False)
    c = generate_lots(tmp_path / "c", lots=3, tiles_per_lot=2, size=32, seed=6, progress=False)
    assert _digest(a) == _digest(b)
    assert _digest(a)["lots.csv"] != _digest(c)["lots.csv"]
    table = read_lots(a, target="cps")
    assert len(table) == 6 and sorted(set(table.groups)) == ["A", "B", "C"]
    assert table.attribute_names == ["size", "porosity", "polydispersity", "facetness", "cracks"]
    truth = json.loads((a / "ground_truth.json").read_text())
    assert "cps" in truth["formula"] and len(truth["lots"]) == 3


def test_lot_names_like_llnl():
    names = [n for n, _ in zip(lot_names(), range(28))]
    assert names[:3] == ["A", "B", "C"] and names[25:] == ["Z", "AA", "AB"]


def _cps_porosity_correlation(tmp_path: Path, coefficients_file: Path | None) -> float:
    out = tmp_path / (coefficients_file.stem if coefficients_file else "default")
    args = ["--coefficients", str(coefficients_file)] if coefficients_file else []
    subprocess.run(
        [MATSIGHT, "synth", "sem-lots", str(out), "--lots", "30", "--tiles-per-lot", "1", "--size", "16", *args],
        check=True,
        capture_output=True,
        timeout=180,
    )
    lots = pd.read_csv(out / "lots.csv")
    return float(np.corrcoef(lots["cps"], lots["porosity"])[0, 1])


def test_coefficients_file_flips_porosity_correlation(tmp_path):
    flipped = tmp_path / "flipped.json"
    flipped.write_text(json.dumps({"porosity": -1.0}))  # other coefficients keep their defaults
    default = _cps_porosity_correlation(tmp_path, None)
    negative = _cps_porosity_correlation(tmp_path, flipped)
    assert default > 0.3 and negative < -0.3


@pytest.mark.parametrize("content, key", [('{"porosty": 1}', "porosty"), ('{"size": "big"}', "size")])
def test_bad_coefficients_name_file_and_key(tmp_path, content, key):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=key) as info:
        read_coefficients(path)
    assert str(path) in str(info.value)
    result = subprocess.run(
        [MATSIGHT, "synth", "sem-lots", str(tmp_path / "o"), "--coefficients", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and key in result.stderr


def _tiles(n: int = 4, side: int = 64, **changes) -> np.ndarray:
    attributes = TileAttributes(**{**BASE, **changes})
    rng = np.random.default_rng(0)
    return np.stack([render_tile(attributes, side, rng) for _ in range(n)]).astype(np.float32) / 255


RING = np.ones((7, 7), bool)
RING[1:-1, 1:-1] = False


def _pits_per_tile(tiles: np.ndarray) -> float:
    """Isolated dark spots: pixels darker than every pixel on the 7x7 ring around them (lines and gaps are not)."""
    count = 0
    for tile in tiles:
        smooth = ndimage.gaussian_filter(tile, 0.8)
        count += ndimage.label(smooth < ndimage.minimum_filter(smooth, footprint=RING) - 0.08)[1]
    return count / len(tiles)


def test_porosity_makes_more_dark_pits():
    low, mid, high = (_pits_per_tile(_tiles(porosity=p, size=18.0)) for p in (0.0, 0.6, 1.2))
    assert low < mid < high and high > 2 * low + 3


def test_smaller_grains_mean_more_edges():
    def edge_density(tiles):
        return float(np.mean([np.hypot(ndimage.sobel(t, 0), ndimage.sobel(t, 1)).mean() for t in tiles]))

    assert edge_density(_tiles(size=6.0)) > 1.3 * edge_density(_tiles(size=20.0))


def test_cracks_darken_long_thin_lines():
    dark = [float((_tiles(cracks=c, porosity=0.0) < 0.15).mean()) for c in (0.0, 3.0)]
    assert dark[1] > 4 * dark[0] + 0.001  # measured 0.0020 vs 0.0001


def test_crack_counts_are_stratified_around_the_expected_count():
    from matsight.synth.sem_tiles import _stratified_count

    rng = np.random.default_rng(0)
    counts = np.array([_stratified_count(rng, 2.3) for _ in range(4000)])
    assert set(counts.tolist()) == {2, 3}
    assert abs(counts.mean() - 2.3) < 0.03


def test_latin_hypercube_design_covers_each_range_evenly_with_uncorrelated_attributes():
    names = [f"L{i}" for i in range(30)]
    lhs = lot_attributes(names, "lhs", np.random.default_rng(0), seed=0)
    random = lot_attributes(names, "random", np.random.default_rng(0), seed=0)
    for name, (low, high) in ATTRIBUTE_RANGES.items():
        strata = np.floor((lhs[name] - low) / (high - low) * 30).astype(int)
        assert sorted(strata) == list(range(30))  # one lot per thirtieth of every range
    off_diagonal = lambda c: np.abs(c.to_numpy()[~np.eye(len(c), dtype=bool)]).max()  # noqa: E731
    assert off_diagonal(lhs.corr()) < 0.15 < off_diagonal(random.corr())
    with pytest.raises(ConfigError, match="--design"):
        lot_attributes(names, "grid", np.random.default_rng(0), seed=0)


def test_design_option_of_the_command(tmp_path):
    out = tmp_path / "lhs"
    subprocess.run(
        [
            MATSIGHT,
            "synth",
            "sem-lots",
            str(out),
            "--lots",
            "6",
            "--tiles-per-lot",
            "1",
            "--size",
            "16",
            "--design",
            "lhs",
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    table = pd.read_csv(out / "lots.csv").set_index("lot")
    expected = lot_attributes(list(table.index), "lhs", np.random.default_rng(0), seed=0)
    np.testing.assert_allclose(table[list(ATTRIBUTE_RANGES)], expected, atol=1e-6)
    assert json.loads((out / "ground_truth.json").read_text())["design"] == "lhs"


def test_the_largest_grain_seed_never_gets_a_nan_height():
    """float32 rounding makes max(r)² − r² = −1.5e-5 for the largest of these radii; the tile that drew
    them (benchmark CPS pool, tile 1993 of 3000) crashed the k-d tree with NaN before."""
    from matsight.synth.sem_tiles import _laguerre_labels

    radii = np.array([14.4313135, 3.0], np.float32)
    assert (radii.max() ** 2 - radii**2)[0] < 0  # the rounding this guards against
    labels = _laguerre_labels((8, 8), np.array([[2.0, 2.0], [6.0, 6.0]], np.float32), radii)
    assert (labels == 0).all()  # power distance: the much larger grain owns every pixel
    tile = render_tile(
        TileAttributes(17.936905951508884, 0.7958495333539363, 0.23493991084437643, 0.82, 0.196),
        48,
        np.random.default_rng([1, 1993]),
    )
    assert tile.shape == (48, 48)
