"""Synthetic x-ray scattering: layout, determinism, and tags consistent with what was drawn."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from matsight.cli.main import app
from matsight.data import read_multilabel
from matsight.synth import xray_physics as phys
from matsight.synth.xray import BEAMSTOP_TAGS, TAGS, draw_image, generate_xray


@pytest.fixture(scope="module")
def scenes():
    """Tags of 400 small images (drawn in memory)."""
    return pd.DataFrame([draw_image(32, np.random.default_rng([7, i]))[1] for i in range(400)])


def test_tags_follow_from_the_scene(scenes):
    beamstops = scenes[list(BEAMSTOP_TAGS.values())]
    assert (beamstops[scenes["Beam Off Image"] == 1].sum(axis=1) == 0).all()  # beam off → no beamstop
    assert (beamstops.sum(axis=1) <= 1).all()
    assert (scenes.loc[scenes["Many rings"] == 1, "Higher orders"] == 1).all()
    assert (scenes.loc[scenes["Higher orders"] == 1, "Ring"] == 1).all()
    assert (scenes.loc[(scenes["BCC"] == 1) | (scenes["FCC"] == 1), "Structure factor"] == 1).all()
    assert not ((scenes["BCC"] == 1) & (scenes["FCC"] == 1)).any()
    assert not ((scenes["Strong scattering"] == 1) & (scenes["Weak scattering"] == 1)).any()
    assert (scenes[TAGS].mean() > 0.03).all(), "every tag occurs"


def test_layout_determinism_and_cli(tmp_path):
    first = generate_xray(tmp_path / "a", n=6, size=32, seed=3)
    table = read_multilabel(first)
    assert table.target_names == TAGS and len(table) == 6
    result = CliRunner().invoke(app, ["synth", "xray", str(tmp_path / "b"), "--n", "6", "--size", "32", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert (first / "labels.csv").read_text() == (tmp_path / "b" / "labels.csv").read_text()
    assert (first / "images" / "xray_00005.png").read_bytes() == (
        tmp_path / "b" / "images" / "xray_00005.png"
    ).read_bytes()
    other = generate_xray(tmp_path / "c", n=6, size=32, seed=4)
    assert (other / "labels.csv").read_text() != (first / "labels.csv").read_text()


def test_beam_off_images_have_no_beam_centre_on_the_detector(scenes):
    for i in np.flatnonzero(scenes["Beam Off Image"].to_numpy())[:3]:
        rng = np.random.default_rng([7, int(i)])
        image, tags = draw_image(32, rng)
        assert tags["Beam Off Image"] == 1 and image.dtype == np.uint16


def test_physics_terms():
    q, chi = phys.q_map(65, (32, 32))
    assert q[32, 32] == 0 and q[32, 64] == pytest.approx(phys.Q_EDGE * 32 / 32.5)
    assert phys.anisotropy(chi, 0.0, 2, 0.0) == pytest.approx(1.0)
    aniso = phys.anisotropy(np.array([0.0, np.pi / 2]), 0.6, 2, 0.0)
    assert aniso[0] > 1 > aniso[1]  # peaks along chi0
    assert phys.sphere_form_factor(1e-6, 5.0) == pytest.approx(1.0, abs=1e-4)
    assert phys.sphere_form_factor(4.4934 / 5.0, 5.0) < 1e-8  # first zero at qR ≈ 4.4934
    assert phys.high_q(np.array([0.0]), 2.0, 1.0)[0] == 0
    mask = phys.beamstop_mask("circular", 64, (32, 32), np.random.default_rng(0))
    assert mask[32, 32] == pytest.approx(1.0, abs=0.01) and mask.min() >= 0
