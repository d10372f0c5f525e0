"""Knobs: editor/critic shapes, attribute targets, scaling, and the inverse search on an analytic stand-in."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from matsight.errors import ConfigError
from matsight.knobs.editor import AttributeRegressor, AttributeScaler, Discriminator, Editor
from matsight.knobs.inverse import Goal, InverseSearch, answers_table, effects_table
from matsight.knobs.losses import discriminator_loss, generator_loss
from matsight.knobs.quality import r2_scores
from matsight.knobs.sweep import lot_slopes, summarise_sweeps, sweep_knob, sweep_pair
from matsight.knobs.train_editor import fit_guide, target_attributes
from matsight.knobs.transfer import choose_view, transfer_edit


class AddEditor(nn.Module):
    """G(I; A) = I + Σ_k A_k c_k (constant offsets): the answer of the inverse search is analytic."""

    def __init__(self, c):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c, dtype=torch.float32))

    def forward(self, x, a):
        return x + (a * self.c).sum(1)[:, None, None, None]


class MeanRegressor(nn.Module):
    std = 1.0

    def forward(self, x):
        return 10 * x.mean((1, 2, 3))


@pytest.mark.parametrize("size,depth", [(32, 3), (64, 4)])
def test_editor_and_critic_shapes(size, depth):
    torch.manual_seed(0)
    g, d = Editor(4, width=8, depth=depth), Discriminator(4, width=8, depth=depth)
    x, a = torch.rand(3, 1, size, size), torch.rand(3, 4)
    y = g(x, a)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert not torch.allclose(g(x, a), g(x, 1 - a))  # the attributes reach the output
    score, attr = d(y)
    assert score.shape == (3,) and attr.shape == (3, 4)
    assert AttributeRegressor(4, width=8, depth=depth)(x).shape == (3, 4)
    dl = discriminator_loss(d, x, y, a)
    gl = generator_loss(d, g(x, a), x, y, a)
    dl["total"].backward(retain_graph=True)
    assert torch.isfinite(gl["total"]) and set(gl) >= {"reconstruction", "attribute", "adversarial"}


def test_the_guide_learns_to_read_a_planted_attribute_off_windows_of_the_tiles():
    """Tiles whose brightness is attribute 0 and whose stripes' contrast is attribute 1: after fitting on
    random 8 px windows the guide reads both off other windows of new tiles."""
    torch.manual_seed(0)

    def tiles(a):
        x = torch.arange(16.0)
        stripes = torch.sin(x * torch.pi / 2).expand(16, 16) * a[:, 1, None, None, None]
        return 0.3 + 0.4 * a[:, 0, None, None, None] + 0.25 * stripes

    a, a_new = torch.rand(128, 2), torch.rand(64, 2)
    guide = AttributeRegressor(2, width=8, depth=2)
    untrained = r2_scores(guide(tiles(a_new)[..., :8, :8]).detach().numpy(), a_new.numpy())
    fit_guide(guide, tiles(a), a, crop=8, epochs=40, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        r2 = r2_scores(guide(tiles(a_new)[..., 4:12, 4:12]).numpy(), a_new.numpy())
    assert (r2 > 0.5).all() and (untrained < 0).all(), (r2, untrained)


def test_the_editor_loss_reads_the_edit_with_the_guide_when_given():
    torch.manual_seed(0)
    g, d = Editor(2, width=8, depth=2), Discriminator(2, width=8, depth=2)
    x, target = torch.rand(3, 1, 16, 16), torch.full((3, 2), 0.25)

    class Constant(nn.Module):
        def forward(self, images):
            return torch.full((len(images), 2), 0.75)

    y = g(x, target)
    assert float(generator_loss(d, y, x, y, target, guide=Constant())["attribute"]) == pytest.approx(0.25)
    assert float(generator_loss(d, y, x, y, target)["attribute"]) != pytest.approx(0.25)


def test_target_attributes_stay_in_range_and_mix_lots():
    gen = torch.Generator().manual_seed(0)
    a = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).repeat(50, 1)
    b = target_attributes(a, jitter=0.1, generator=gen)
    assert b.shape == a.shape and float(b.min()) >= 0 and float(b.max()) <= 1
    assert len(torch.unique(b[:, 0])) > 50  # interpolation + jitter give many distinct targets


def test_scaler_round_trip():
    values = np.array([[2.0, 0.1], [4.0, 0.3], [3.0, 0.2]])
    s = AttributeScaler.fit(["size", "porosity"], values)
    np.testing.assert_allclose(s.transform(values)[:, 0], [0, 1, 0.5], atol=1e-6)
    np.testing.assert_allclose(s.inverse_transform(s.transform(values)), values, atol=1e-6)
    assert AttributeScaler.from_dict(s.to_dict()).names == ["size", "porosity"]


def test_goal_parsing():
    assert Goal.parse("+10%") == Goal(0.1, True) and Goal.parse("-10%").direction == "decrease"
    assert Goal.parse("3.5") == Goal(3.5, False) and str(Goal.parse("-5%")) == "-5%"
    with pytest.raises(ConfigError):
        Goal.parse("more")


def test_negative_attribute_weight_is_a_config_error():
    from matsight.knobs.train_editor import EditorConfig

    with pytest.raises(ConfigError, match="--attribute-weight"):
        EditorConfig(regressor="r", lots="l", out="o", attribute_weight=-1.0)


def test_inverse_reaches_reachable_target_analytically():
    # I = 0.2 everywhere, c = 0.5, A = 0.3: R = 10(0.2 + 0.15) = 3.5; +10% → 3.85 → A' = (0.385 - 0.2)/0.5 = 0.37
    images = torch.full((2, 1, 8, 8), 0.2)
    attrs = torch.tensor([[0.3], [0.3]])
    search = InverseSearch(AddEditor([0.5]), MeanRegressor(), lam=10, lr=0.01, steps=500, tolerance=1e-3)
    res = search.search(images, attrs, "+10%")
    assert res.converged.all()
    np.testing.assert_allclose(res.found[:, 0], 0.37, atol=5e-4)
    np.testing.assert_allclose(res.reached, 3.85, atol=2e-3)
    down = search.search(images, attrs, "-10%")  # 3.15 → A' = 0.23
    np.testing.assert_allclose(down.found[:, 0], 0.23, atol=5e-4)
    absolute = search.search(images, attrs, 4.0)  # A' = 0.4
    np.testing.assert_allclose(absolute.found[:, 0], 0.4, atol=5e-4)


def test_inverse_search_reports_progress_with_its_loss(capsys):
    images, attrs = torch.full((2, 1, 8, 8), 0.2), torch.tensor([[0.3], [0.3]])
    InverseSearch(AddEditor([0.5]), MeanRegressor(), lr=0.01, steps=5, tolerance=1e-6).search(images, attrs, "+10%")
    lines = capsys.readouterr().err.strip().splitlines()  # plain lines: standard error is not a terminal here
    assert lines[0].endswith("inverse search +10%: 0/5 (0 %) · 0 s elapsed")
    assert "inverse search +10%: 5/5 (100 %) loss " in lines[-1] and "0/2 reached" in lines[-1]


def test_inverse_search_gives_the_editor_back_as_it_was():
    editor = AddEditor([0.5, 0.25])
    editor.c.requires_grad_(True)
    before = editor.c.detach().clone()
    InverseSearch(editor, MeanRegressor(), steps=5).search(
        torch.full((1, 1, 8, 8), 0.2), torch.tensor([[0.3, 0.3]]), "+10%"
    )
    assert editor.c.requires_grad and torch.equal(editor.c.detach(), before)
    with pytest.raises(ConfigError):  # an error inside the search also gives it back
        InverseSearch(editor, MeanRegressor()).search(torch.rand(2, 1, 8, 8), torch.rand(2, 2), "+10%", groups=["a"])
    assert editor.c.requires_grad


def test_inverse_clamps_to_training_range():
    images = torch.full((1, 1, 8, 8), 0.2)
    attrs = torch.tensor([[0.9, 0.1]])
    res = InverseSearch(AddEditor([0.5, -0.5]), MeanRegressor(), lr=0.1, steps=200).search(images, attrs, "+300%")
    assert not res.converged.any()  # unreachable inside [0,1]
    np.testing.assert_allclose(res.found, [[1.0, 0.0]], atol=1e-6)  # pushed to the bounds, not beyond
    assert res.steps < 50  # held there by the gradient, the search stops instead of running all 200 steps
    # one knob still free to move inside the range keeps the search going until it reaches its bound too
    slow = InverseSearch(AddEditor([0.5, -0.5]), MeanRegressor(), lr=0.01, steps=200)
    assert slow.search(images, attrs, "+300%").steps > res.steps


def test_inverse_turns_only_free_knobs():
    # two knobs raise R equally (c = 0.5 each); with knob 0 fixed, knob 1 alone must reach +10 %:
    # R = 10(0.2 + 0.5·0.3 + 0.5·0.3) = 5.0 → 5.5 → A1' = 0.3 + 0.05/0.5 = 0.4
    images = torch.full((2, 1, 8, 8), 0.2)
    attrs = torch.tensor([[0.3, 0.3], [0.3, 0.3]])
    search = InverseSearch(AddEditor([0.5, 0.5]), MeanRegressor(), lam=10, lr=0.01, steps=500, tolerance=1e-3)
    res = search.search(images, attrs, "+10%", free=np.array([False, True]))
    assert res.converged.all()
    np.testing.assert_array_equal(res.found[:, 0], attrs[:, 0].numpy())
    np.testing.assert_allclose(res.found[:, 1], 0.4, atol=5e-4)
    both = search.search(images, attrs, "+10%")
    assert (both.delta[:, 0] > 0.01).all()  # with both free, both move
    table = effects_table({"increase": res}, ["size", "porosity"], np.array([1.0, 1.0]), free=np.array([False, True]))
    assert table["free"].tolist() == [False, True] and table["mean_delta"].iloc[0] == 0.0
    with pytest.raises(ConfigError, match="no knob"):
        search.search(images, attrs, "+10%", free=np.array([False, False]))


def test_grouped_search_gives_each_lot_one_answer_for_its_mean_prediction():
    # c = 0.5. Lot x: tiles I = 0.1 and 0.3 (mean 0.2), A = 0.3: mean R = 10(0.2 + 0.15) = 3.5 → 3.85 at A' = 0.37
    # (tile by tile the answers would be 0.35 and 0.39). Lot y: one tile I = 0.2, A = 0.5: R = 4.5 → 4.95 at A' = 0.59.
    images = torch.stack([torch.full((1, 8, 8), v) for v in (0.2, 0.1, 0.3)])
    attrs = torch.tensor([[0.5], [0.3], [0.3]])
    search = InverseSearch(AddEditor([0.5]), MeanRegressor(), lam=10, lr=0.01, steps=500, tolerance=1e-3)
    lots = search.search(images, attrs, "+10%", groups=["y", "x", "x"])
    assert lots.groups == ["x", "y"] and lots.converged.all()
    np.testing.assert_allclose(lots.found[:, 0], [0.37, 0.59], atol=5e-4)
    np.testing.assert_allclose(lots.baseline, [3.5, 4.5], atol=1e-5)
    tiles = search.search(images, attrs, "+10%")
    assert tiles.groups is None
    np.testing.assert_allclose(tiles.found[:, 0], [0.59, 0.35, 0.39], atol=5e-4)
    answers = answers_table({"increase": lots}, ["size"], span=np.array([10.0]))
    assert answers["group"].tolist() == ["x", "y"]
    np.testing.assert_allclose(answers["delta_size"], [0.7, 0.9], atol=5e-3)  # user units: ΔA01 · span
    with pytest.raises(ConfigError, match="group 'x' have different attributes"):
        search.search(images, torch.tensor([[0.5], [0.3], [0.4]]), "+10%", groups=["y", "x", "x"])
    with pytest.raises(ConfigError, match="one group name per tile"):
        search.search(images, attrs, "+10%", groups=["x", "y"])


def test_effects_table_and_sweep_signs():
    images = torch.full((6, 1, 8, 8), 0.2)
    attrs = torch.full((6, 2), 0.5)
    g, r = AddEditor([0.3, -0.3]), MeanRegressor()
    res = InverseSearch(g, r, lr=0.02, steps=300, tolerance=1e-3).search(images, attrs, "+10%")
    table = effects_table({"increase": res}, ["a", "b"], span=np.array([2.0, 1.0]))
    assert list(table.columns[:5]) == ["attribute", "direction", "mean_delta", "ci_low", "ci_high"]
    assert table.set_index("attribute").loc["a", "mean_delta"] > 0 > table.set_index("attribute").loc["b", "mean_delta"]
    curve = sweep_knob(g, r, images, attrs, knob=1, values=np.linspace(0, 1, 5))
    assert curve.shape == (5, 6)
    np.testing.assert_allclose(np.diff(curve.mean(1)), -3 * 0.25, atol=1e-5)  # slope 10·(-0.3) per unit


def test_inverse_effects_count_only_the_searches_that_reached_the_goal():
    from matsight.knobs.inverse import InverseResult

    def result(delta, converged):
        start = np.full((len(delta), 1), 0.5)
        zeros = np.zeros(len(delta))
        return InverseResult(start, start + np.array(delta)[:, None], zeros, zeros, zeros, np.array(converged), 10)

    # three tiles reached the goal by lowering the knob; the fourth stopped short after turning it the other way
    table = effects_table(
        {
            "increase": result([-0.2, -0.4, -0.3, 0.5], [True, True, True, False]),
            "decrease": result([0.3, 0.1], [False, False]),
            "one": result([0.1, 0.2], [True, False]),
        },
        ["size"],
        span=np.array([10.0]),
    ).set_index("direction")
    up = table.loc["increase"]
    assert up["mean_delta"] == pytest.approx(-3.0) and up["n"] == 4 and up["reached"] == 3
    assert up["ci_low"] < -3.0 < up["ci_high"] < 0 and up["converged"] == pytest.approx(3 / 4)
    assert np.isnan(table.loc["decrease", ["mean_delta", "ci_low", "ci_high"]].astype(float)).all()
    assert table.loc["one", "mean_delta"] == pytest.approx(1.0) and np.isnan(table.loc["one", "ci_low"])


def test_transfer_edit_adds_the_upsampled_change_and_keeps_the_original_otherwise():
    full = torch.rand(2, 1, 16, 16) * 0.5
    small = torch.rand(2, 1, 8, 8)
    assert torch.equal(transfer_edit(full, small, small), full)  # no edit → the real tile
    moved = transfer_edit(full, small + 0.25, small)
    torch.testing.assert_close(moved, full + 0.25)
    assert float(transfer_edit(full, small + 2.0, small).max()) == 1.0  # clamped to [0, 1]


def test_sweeps_and_inverse_on_full_resolution_tiles_start_from_the_real_prediction():
    images = torch.full((4, 1, 8, 8), 0.2)  # what the editor sees
    full = torch.full((4, 1, 16, 16), 0.4)  # the same tiles at the regressor's size
    attrs = torch.full((4, 2), 0.5)
    g, r = AddEditor([0.3, -0.3]), MeanRegressor()
    values = np.linspace(0, 1, 5)
    curve = sweep_knob(g, r, images, attrs, knob=1, values=values, full=full)
    np.testing.assert_allclose(curve[2], 4.0, atol=1e-5)  # knob at the own value → R(real tile) = 10·0.4
    np.testing.assert_allclose(np.diff(curve.mean(1)), -3 * 0.25, atol=1e-5)
    grid = sweep_pair(g, r, images, attrs, (0, 1), values, full=full)
    expected = 4.0 + 3 * (values[:, None] - 0.5) - 3 * (values[None, :] - 0.5)
    np.testing.assert_allclose(grid, expected, atol=1e-5)
    res = InverseSearch(g, r, lr=0.02, steps=300, tolerance=1e-3).search(images, attrs, "+10%", full=full)
    np.testing.assert_allclose(res.baseline, 4.0, atol=1e-5)
    assert res.converged.all() and np.allclose(res.reached, 4.4, atol=0.01)


def test_a_knob_passes_only_when_it_is_readable_strong_and_clean():
    from matsight.knobs.quality import knob_passes

    slopes = np.array(
        [
            [0.50, 0.10, 0.00, 0.00, 0.90],  # clean: cross-talk 0.1 ≤ 0.5·0.5 (0.9 goes to an unreadable one)
            [0.10, 0.40, 0.30, 0.00, 0.00],  # moves attribute 2 by 0.3 > 0.5·0.4
            [0.00, 0.00, 0.10, 0.00, 0.00],  # control slope below 0.2
            [0.00, 0.00, 0.00, 0.60, 0.00],  # strong and clean, but the measurer cannot read it
            [0.00, 0.00, 0.00, 0.00, 0.90],
        ]
    )
    r2 = np.array([0.8, 0.8, 0.8, 0.1, 0.2])
    assert knob_passes(slopes, r2).tolist() == [True, False, False, False, False]


class DarkFraction(nn.Module):
    """A "regressor" that counts dark pixels: more pits, more dark pixels."""

    def forward(self, x):
        return (x < 0.2).float().mean((1, 2, 3))


def test_rerendered_tiles_differ_only_in_the_changed_attribute():

    from matsight.knobs.response import rerendered_predictions

    lots = pd.DataFrame(
        [
            {"size": 10.0, "porosity": 0.2, "polydispersity": 0.2, "facetness": 0.5, "cracks": 0.0},
            {"size": 14.0, "porosity": 0.8, "polydispersity": 0.4, "facetness": 0.3, "cracks": 1.0},
        ]
    )
    pred = rerendered_predictions(DarkFraction(), lots, "porosity", np.array([0.0, 0.6, 1.2]), 2, 48)
    assert pred.shape == (3, 4)
    assert (pred[2] > pred[0]).all()  # more pits, more dark pixels, on every tile
    again = rerendered_predictions(DarkFraction(), lots, "porosity", np.array([0.6]), 2, 48)
    np.testing.assert_array_equal(again[0], pred[1])  # same random streams: same tiles
    gaps = rerendered_predictions(DarkFraction(), lots, "facetness", np.array([0.0, 1.0]), 2, 48)
    assert (gaps[0] > gaps[1]).all()  # rounded grains pack with wider dark gaps


def test_regressor_response_reads_generator_lots_and_nothing_else(tmp_path):
    from matsight.knobs.response import regressor_response
    from matsight.synth.sem import generate_lots

    lots = generate_lots(tmp_path / "lots", lots=4, tiles_per_lot=1, size=48, seed=3)
    values = {"porosity": np.linspace(0.1, 1.1, 3), "not_drawn": np.linspace(0, 1, 3)}
    table = regressor_response(DarkFraction(), lots, values, tiles_per_lot=2)
    assert set(table["attribute"]) == {"porosity"} and len(table) == 3
    first = table.iloc[0]
    assert first["slope"] > 0 and first["ci_low"] > 0 and first["lots_agreeing"] == 1.0  # every lot darkens
    np.testing.assert_allclose(table["value"], values["porosity"])
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "lots.csv").write_text("lot,porosity\nA,0.2\n")
    assert regressor_response(DarkFraction(), tmp_path / "plain", values) is None  # no ground_truth.json


def test_lot_slopes_and_how_many_lots_share_the_mean_sign():
    values = np.linspace(0, 1, 5)
    # tiles: two of lot a (slopes +1, +3 → lot mean +2), one of b (+2), one of c (−1); mean slope (2+3+2−1)/4 > 0
    curves = np.stack([values * s for s in (1.0, 3.0, 2.0, -1.0)], axis=1)
    per_lot = lot_slopes({"size": curves}, values, ["a", "a", "b", "c"])
    np.testing.assert_allclose(per_lot.set_index("lot")["slope"].to_numpy(), [2.0, 2.0, -1.0], atol=1e-9)
    assert per_lot["tiles"].tolist() == [2, 1, 1]
    table = summarise_sweeps({"size": curves}, values, {"size": values * 10}, per_lot)
    assert table["slope"].iloc[0] == pytest.approx(1.25) and table["lots_agreeing"].iloc[0] == pytest.approx(2 / 3)
    # lots' slopes 2, 2, −1: mean 1, standard error √3/√3 = 1, t(0.975, 2 dof) = 4.303
    assert (table["ci_low"].iloc[0], table["ci_high"].iloc[0]) == pytest.approx((1 - 4.3027, 1 + 4.3027), abs=1e-3)
    assert "lots_agreeing" not in summarise_sweeps({"size": curves}, values, {"size": values}).columns


def test_choose_view_reads_the_edit_when_the_editor_is_at_the_regressors_size():
    assert choose_view("auto", 96, 96) == "edit" and choose_view("auto", 128, 96) == "edit"
    assert choose_view("auto", 32, 96) == "transfer" and choose_view("auto", 32, 0) == "edit"
    assert choose_view("transfer", 96, 96) == "transfer" and choose_view("edit", 32, 96) == "edit"
    with pytest.raises(ConfigError, match="--view 'sideways'"):
        choose_view("sideways", 96, 96)


def test_planted_effects_are_the_property_change_over_the_lots_range():
    from matsight.knobs.agreement import planted_effects, planted_signs
    from matsight.synth.sem import ATTRIBUTE_RANGES, DEFAULT_COEFFICIENTS

    truth = {"attribute_ranges": ATTRIBUTE_RANGES, "coefficients": DEFAULT_COEFFICIENTS}
    effects = planted_effects(truth)  # cps = 20 + 10·Σ c·u: the full range of u moves cps by 10·c MPa
    assert effects == pytest.approx(
        {"size": -10.0, "porosity": 10.0, "polydispersity": 6.0, "facetness": 2.0, "cracks": -8.0}
    )
    assert planted_signs(truth) == {"size": -1, "porosity": 1, "polydispersity": 1, "facetness": 1, "cracks": -1}
    flipped = {**truth, "coefficients": {**DEFAULT_COEFFICIENTS, "size": -1.0, "facetness": -0.2}}
    assert planted_signs(flipped)["size"] == 1 and planted_signs(flipped)["facetness"] == -1
    # lots that span half of porosity's range (0.3..0.9 of 0..1.2) and all of the others
    lots = [dict(zip(ATTRIBUTE_RANGES, ends)) for ends in zip(*ATTRIBUTE_RANGES.values())]
    lots[0]["porosity"], lots[1]["porosity"] = 0.3, 0.9
    assert planted_effects({**truth, "lots": lots})["porosity"] == pytest.approx(5.0)


def test_truth_reads_the_regressors_lots_and_its_held_out_error(tmp_path):
    import json

    from matsight.knobs.agreement import RESOLUTION_FACTOR, Truth, ground_truth_of
    from matsight.store import RunFolder
    from matsight.synth.sem import ATTRIBUTE_RANGES, DEFAULT_COEFFICIENTS

    lots, regressor = tmp_path / "lots", tmp_path / "reg"
    lots.mkdir()
    truth = {"attribute_ranges": ATTRIBUTE_RANGES, "coefficients": DEFAULT_COEFFICIENTS}
    (lots / "ground_truth.json").write_text(json.dumps(truth))
    assert ground_truth_of(regressor) is None  # no run folder yet
    RunFolder(regressor).start("train", {"data": str(lots)}, inputs={"data": lots})
    (regressor / "metrics.json").write_text(json.dumps({"validation": {"tiles": {"rmse": 1.25}}}))
    assert ground_truth_of(regressor) == lots / "ground_truth.json"
    read = Truth.read(lots / "ground_truth.json", regressor)
    assert read.resolution == RESOLUTION_FACTOR * 1.25 and read.effects["facetness"] == pytest.approx(2.0)
    (regressor / "metrics.json").write_text(json.dumps({"validation": {"tiles": {"rmse": "much"}}}))
    assert np.isnan(Truth.read(lots / "ground_truth.json", regressor).resolution)


def _agreement_inputs():

    from matsight.knobs.agreement import Truth

    control = {
        "names": ["size", "porosity", "facetness", "polydispersity", "cracks"],
        "passes": [True, True, True, True, False],
    }
    truth = Truth({"size": -10.0, "porosity": 10.0, "facetness": 2.0, "polydispersity": 6.0, "cracks": -8.0}, 3.4)
    sweeps = pd.DataFrame(
        [
            ("size", -4.9, -6.0, -3.8),
            ("size", -4.9, -6.0, -3.8),  # a second level of the same knob
            ("porosity", 0.7, 0.2, 1.2),
            ("facetness", -6.2, -7.0, -5.0),  # clearly against +, but +2 MPa is below the resolution 3.4
            ("polydispersity", 0.3, -0.2, 0.8),  # interval spans zero
            ("cracks", 3.0, 2.0, 4.0),
        ],
        columns=["attribute", "slope", "ci_low", "ci_high"],
    )
    effects = pd.DataFrame(
        [
            ("size", "increase", -4.6, -5.7, -3.5, True),
            ("size", "decrease", 2.1, 1.0, 3.2, True),
            ("porosity", "increase", 0.3, 0.1, 0.5, True),
            ("porosity", "decrease", 0.1, 0.05, 0.15, True),  # lowering CPS by raising porosity: against the +
            ("facetness", "increase", -0.23, -0.3, -0.1, True),
            ("facetness", "decrease", 0.2, 0.1, 0.3, True),
            ("polydispersity", "increase", 0.0, 0.0, 0.0, False),
            ("polydispersity", "decrease", 0.0, 0.0, 0.0, False),
            ("cracks", "increase", 0.0, 0.0, 0.0, False),
            ("cracks", "decrease", 0.0, 0.0, 0.0, False),
        ],
        columns=["attribute", "direction", "mean_delta", "ci_low", "ci_high", "free"],
    )
    return control, truth, sweeps, effects


def test_knob_agreement_verdicts_agree_disagree_and_not_resolved():
    from matsight.knobs.agreement import AGREES, DISAGREES, NOT_CHECKED, NOT_RESOLVED, Truth, knob_agreement

    control, truth, sweeps, effects = _agreement_inputs()
    table = knob_agreement(control, truth, sweeps, effects).set_index("knob")
    assert table["verdict"].tolist() == [AGREES, DISAGREES, NOT_RESOLVED, NOT_RESOLVED, NOT_CHECKED]
    assert "below the regressor's resolution 3.40" in table.loc["facetness", "reason"]
    assert "spans zero" in table.loc["polydispersity", "reason"]
    assert np.isnan(table.loc["cracks", "inverse_increase"]) and table.loc["size", "sweep_slope"] == -4.9
    assert table.loc["size", "planted_sign"] == -1 and table.loc["size", "resolution"] == 3.4
    # each run compares its own answers: the sweep alone agrees for porosity; the search alone did not turn
    # polydispersity, so it checks nothing there
    sweep_only = knob_agreement(control, truth, sweeps=sweeps)["verdict"].tolist()
    assert sweep_only == [AGREES, AGREES, NOT_RESOLVED, NOT_RESOLVED, NOT_CHECKED]
    inverse_only = knob_agreement(control, truth, effects=effects).set_index("knob")
    assert inverse_only.loc["polydispersity", "verdict"] == NOT_CHECKED and np.isnan(inverse_only["sweep_slope"]).all()
    # a regressor without held-out metrics resolves nothing
    unknown = knob_agreement(control, Truth(truth.effects, float("nan")), sweeps, effects)
    assert (unknown["verdict"].iloc[:4] == NOT_RESOLVED).all()


def test_a_knob_whose_sweep_opposes_the_regressors_real_response_misreads_it():
    from matsight.knobs.agreement import (
        AGREES,
        MISREADS,
        NOT_RESOLVED,
        agreement_summary,
        knob_agreement,
        trusted_knobs,
    )

    control, truth, sweeps, effects = _agreement_inputs()
    response = pd.DataFrame(
        [
            ("size", -8.0, -9.5, -6.5),  # the knob's sweep shares the regressor's sign
            ("facetness", 6.0, 5.0, 7.0),  # the knob sweeps -6.2 where the regressor rises: the edit is not facetness
            ("polydispersity", -3.0, -4.0, -2.0),  # the sweep's interval spans zero: nothing to oppose
        ],
        columns=["attribute", "slope", "ci_low", "ci_high"],
    )
    table = knob_agreement(control, truth, sweeps, effects, response).set_index("knob")
    assert table.loc["facetness", "verdict"] == MISREADS  # checked before the planted effect's resolution
    assert "opposite to the regressor's real response +6.00 [+5.00, +7.00]" in table.loc["facetness", "reason"]
    assert table.loc["size", "verdict"] == AGREES and table.loc["polydispersity", "verdict"] == NOT_RESOLVED
    assert table.loc["size", "response_slope"] == -8.0 and np.isnan(table.loc["porosity", "response_slope"])
    assert trusted_knobs(table.reset_index()) == ["size", "porosity", "polydispersity"]  # passing, not misreading
    assert "facetness MISREADS THE REGRESSOR (sweep -6.2 [-7, -5]; real response +6 [+5, +7])" in agreement_summary(
        table.reset_index()
    )
    flipped = response.assign(
        slope=lambda t: -t["slope"], ci_low=lambda t: -t["ci_high"], ci_high=lambda t: -t["ci_low"]
    )
    again = knob_agreement(control, truth, sweeps, effects, flipped).set_index("knob")
    assert again.loc["size", "verdict"] == MISREADS and again.loc["facetness", "verdict"] == NOT_RESOLVED
    failing = knob_agreement({**control, "passes": [True, True, False, True, True]}, truth, sweeps, effects, response)
    assert failing.set_index("knob").loc["facetness", "verdict"] != MISREADS  # a failing knob is not checked


def test_an_inverse_direction_no_search_reached_gives_no_answer():
    from matsight.knobs.agreement import AGREES, knob_agreement

    control, truth, sweeps, effects = _agreement_inputs()
    unreached = effects.copy()
    unreached.loc[unreached["direction"] == "decrease", ["mean_delta", "ci_low", "ci_high"]] = np.nan
    table = knob_agreement(control, truth, sweeps, unreached).set_index("knob")
    assert table.loc["size", "verdict"] == AGREES and np.isnan(table.loc["size", "inverse_decrease"])
    # porosity's only disagreeing answer was its decrease search: without it the sweep and increase agree
    assert table.loc["porosity", "verdict"] == AGREES


def test_agreement_summary_shows_a_disagreement_with_its_numbers():
    from matsight.knobs.agreement import NOT_CHECKED, agreement_summary, knob_agreement

    control, truth, sweeps, effects = _agreement_inputs()
    summary = agreement_summary(knob_agreement(control, truth, sweeps, effects))
    assert summary.startswith("size agrees; porosity DISAGREES (sweep +0.7 [+0.2, +1.2]; inverse for increase")
    assert "inverse for decrease +0.1 [+0.05, +0.15]; planted +)" in summary
    assert "facetness not resolved (planted effect +2.00 is below" in summary and "cracks" not in summary
    none = knob_agreement({**control, "passes": [False] * 5}, truth, sweeps, effects)
    assert (none["verdict"] == NOT_CHECKED).all() and "no knob passes" in agreement_summary(none)
