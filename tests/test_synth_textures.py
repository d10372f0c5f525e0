"""Procedural texture bank: DTD layout, ≥ 24 classes, real intra-class variation, determinism."""

import numpy as np
import pytest

from matsight.data.images import read_image
from matsight.errors import ConfigError, DataLayoutError
from matsight.synth.textures import CLASSES, POROSITY_FAMILY, generate_bank, render_texture
from matsight.textures.bank import read_bank


def test_bank_layout_and_classes(tmp_path):
    generate_bank(tmp_path / "bank", per_class=2, size=32, seed=3)
    table = read_bank(tmp_path / "bank")
    assert len(table.class_names) == len(CLASSES) >= 24
    assert set(POROSITY_FAMILY) <= set(table.class_names)
    assert len(table) == 2 * len(CLASSES)
    assert read_image(table.paths[0]).shape == (1, 32, 32)
    sub = read_bank(tmp_path / "bank", per_class=1)
    assert len(sub) == len(CLASSES) and sorted(set(sub.groups)) == table.class_names


def test_intra_class_variation_and_determinism():
    for name in CLASSES:
        a, b = (render_texture(name, np.random.default_rng([7, i]), 48) for i in range(2))
        assert a.dtype == np.uint8 and a.shape == (48, 48)
        assert a.std() > 8, f"{name} is nearly flat"
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 5, f"{name}: two draws look the same"
        again = render_texture(name, np.random.default_rng([7, 0]), 48)
        assert np.array_equal(a, again)


def test_bad_inputs(tmp_path):
    with pytest.raises(ConfigError, match="unknown texture classes"):
        generate_bank(tmp_path / "x", classes=["dotted", "plaid-ish"])
    generate_bank(tmp_path / "one", per_class=1, size=16, classes=["dotted"])
    with pytest.raises(DataLayoutError, match="at least 2 classes"):
        read_bank(tmp_path / "one")
