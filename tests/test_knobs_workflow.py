"""Knobs end to end on tiny synthetic lots: train (resume), quality, sweep and inverse tables, CLI errors."""

import json
import sys
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from matsight.cli.main import app, main
from matsight.errors import ConfigError
from matsight.knobs.pipeline import free_knobs, pick_tiles, run_sweeps
from matsight.knobs.train_editor import EditorConfig, load_editor, read_meta, train_editor
from matsight.models import build_model, read_spec, save_checkpoint
from matsight.synth.sem import generate_lots

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("knobs")
    lots = generate_lots(root / "lots", lots=4, tiles_per_lot=5, size=32, seed=1, progress=False)
    torch.manual_seed(0)
    meta = {
        "arch": "resnet18",
        "task": "regression",
        "num_outputs": 1,
        "target_names": ["cps"],
        "target_mean": [25.0],
        "target_std": [4.0],
        "image_size": 40,
        "crop_size": 36,
        "channels": 1,
    }
    save_checkpoint(root / "reg" / "checkpoint.pt", build_model("resnet18", "regression", 1), meta)
    return root, lots


def test_train_resumes_and_cli_writes_tables(setup):
    root, lots = setup
    out = root / "editor"
    config = EditorConfig(
        regressor=root / "reg",
        lots=lots,
        out=out,
        image_size=32,
        steps=3,
        width=8,
        checkpoint_every=3,
        attributes=["size", "porosity"],
    )
    train_editor(config)
    first = read_meta(out)["step"]
    config.steps = 5
    train_editor(config)  # resumes from step 3
    editor, meta = load_editor(out)
    assert first == 3 and meta["step"] == 5 and len(meta["held_out_rows"]) == 4
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "knobs",
            "train",
            str(root / "reg"),
            str(lots),
            "--out",
            str(root / "cli"),
            "--attributes",
            "size,porosity,facetness",
            "--image-size",
            "32",
            "--steps",
            "4",
            "--width",
            "8",
            "--quality-epochs",
            "1",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "control slope" in res.output
    res = runner.invoke(app, ["knobs", "sweep", str(root / "cli"), "--levels", "3", "--tiles", "4", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    sweeps = pd.read_csv(root / "cli" / "tables" / "knob_sweeps.csv")
    assert set(sweeps["attribute"]) == {"size", "porosity", "facetness"} and len(sweeps) == 9
    per_lot = pd.read_csv(root / "cli" / "tables" / "knob_sweep_lots.csv")
    assert per_lot["tiles"].sum() == 3 * 4 and sweeps["lots_agreeing"].between(0, 1).all()
    res = runner.invoke(
        app,
        ["knobs", "inverse", str(root / "cli"), "--goal", "+10%", "--tiles", "3", "--steps", "3", "--device", "cpu"],
    )
    assert res.exit_code == 0, res.output
    effects = pd.read_csv(root / "cli" / "tables" / "inverse_effects.csv")
    assert list(effects.columns[:3]) == ["attribute", "direction", "goal"]
    assert {"mean_delta", "ci_low", "ci_high"} <= set(effects.columns)
    assert set(effects["direction"]) == {"increase", "decrease"} and len(effects) == 6
    assert (effects["view"] == "transfer").all()  # auto: the 32 px editor is smaller than the regressor's 40 px
    assert (effects["ci_low"] <= effects["mean_delta"]).all() and (effects["mean_delta"] <= effects["ci_high"]).all()
    assert (root / "cli" / "figures" / "inverse_tiles.png").exists()
    section = json.loads((root / "cli" / "report_sections" / "knobs.json").read_text())
    assert "lots sharing the sweep's sign size" in section["metrics"]
    assert section["metrics"]["the regressor reads"] == "the real tile plus the edit"


def test_another_regressor_and_chosen_knobs_write_to_their_own_folder(setup, tmp_path):
    root, lots = setup
    editor = root / "chosen"
    train_editor(
        EditorConfig(
            regressor=root / "reg",
            lots=lots,
            out=editor,
            image_size=32,
            steps=2,
            width=8,
            attributes=["size", "porosity"],
        )
    )
    torch.manual_seed(1)
    spec = read_spec(root / "reg")
    save_checkpoint(tmp_path / "other" / "checkpoint.pt", build_model("resnet18", "regression", 1), spec)
    runner = CliRunner()
    out = tmp_path / "judged"
    res = runner.invoke(
        app,
        [
            "knobs",
            "inverse",
            str(editor),
            "--tiles",
            "3",
            "--steps",
            "3",
            "--knobs",
            "porosity",
            "--regressor",
            str(tmp_path / "other"),
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    effects = pd.read_csv(out / "tables" / "inverse_effects.csv")
    assert effects.set_index("attribute")["free"].to_dict() == {"size": False, "porosity": True}
    assert (effects.loc[effects["attribute"] == "size", "mean_delta"] == 0).all()
    assert json.loads((out / "manifest.json").read_text())["arguments"]["regressor"] == str(tmp_path / "other")
    assert not (editor / "tables" / "inverse_effects.csv").exists()  # the editor run is left alone
    res = runner.invoke(
        app,
        [
            "knobs",
            "sweep",
            str(editor),
            "--levels",
            "2",
            "--tiles",
            "2",
            "--regressor",
            str(tmp_path / "other"),
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    own = run_sweeps(editor, levels=2, max_tiles=2)
    other = pd.read_csv(out / "tables" / "knob_sweeps.csv")
    assert not np.allclose(own["mean"], other["mean"])  # judged by the other regressor


def test_inverse_per_lot_answers_each_lot_once(setup):
    root, lots = setup
    editor = root / "per-lot"
    train_editor(
        EditorConfig(
            regressor=root / "reg",
            lots=lots,
            out=editor,
            image_size=32,
            steps=2,
            width=8,
            attributes=["size", "porosity"],
        )
    )
    res = CliRunner().invoke(
        app,
        [
            "knobs",
            "inverse",
            str(editor),
            "--tiles",
            "4",
            "--steps",
            "3",
            "--per",
            "lot",
            "--view",
            "edit",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    effects = pd.read_csv(editor / "tables" / "inverse_effects.csv")
    assert (effects["view"] == "edit").all()  # asked for; auto would transfer (editor 32 px < regressor 40 px)
    answers = pd.read_csv(editor / "tables" / "inverse_answers.csv")
    assert (effects["per"] == "lot").all()
    for direction, rows in answers.groupby("direction"):
        assert rows["group"].is_unique  # one answer per lot
        assert len(rows) == effects.loc[effects["direction"] == direction, "n"].iloc[0] <= 4  # lots of 4 tiles
    assert {"delta_size", "delta_porosity", "baseline", "goal", "reached"} <= set(answers.columns)


def test_pick_tiles_spreads_over_lots():
    groups = ["a"] * 6 + ["b"] * 2 + ["c"]
    spread = pick_tiles(groups, 4, spread_lots=True)
    picked = [groups[i] for i in spread]
    assert sorted(set(picked[:3])) == ["a", "b", "c"] and len(spread) == 4  # every lot before any lot's second tile
    np.testing.assert_array_equal(pick_tiles(groups, 4), np.random.default_rng(0).permutation(9)[:4])


def _exit_code(argv, capsys):
    with patch.object(sys, "argv", ["matsight", *argv]), pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


def test_cli_user_errors_exit_2(setup, tmp_path, capsys):
    root, lots = setup
    code, err = _exit_code(["knobs", "sweep", str(tmp_path / "nothing")], capsys)
    assert code == 2 and "knobs train" in err
    code, err = _exit_code(["knobs", "inverse", str(root / "editor"), "--goal", "lots"], capsys)
    assert code == 2 and "--goal" in err
    code, err = _exit_code(["knobs", "inverse", str(root / "editor"), "--knobs", "passing"], capsys)
    assert code == 2 and "knob_control.json" in err
    code, err = _exit_code(["knobs", "inverse", str(root / "editor"), "--knobs", "size,shape"], capsys)
    assert code == 2 and "shape is not a knob" in err
    code, err = _exit_code(["knobs", "inverse", str(root / "editor"), "--per", "image"], capsys)
    assert code == 2 and "--per 'image'" in err


def test_free_knobs_follow_the_control_check(tmp_path):
    names = ["size", "porosity"]
    (tmp_path / "knob_control.json").write_text(json.dumps({"passes": [False, True]}))
    assert free_knobs(tmp_path, "passing", names).tolist() == [False, True]
    assert free_knobs(tmp_path, "all", names).tolist() == [True, True]
    assert free_knobs(tmp_path, ["size"], names).tolist() == [True, False]
    (tmp_path / "knob_control.json").write_text(json.dumps({"passes": [False, False]}))
    with pytest.raises(ConfigError, match="no knob passed"):
        free_knobs(tmp_path, "passing", names)


@pytest.mark.parametrize("first_passes", [False, True])
def test_demo_step_searches_over_passing_knobs_when_any_pass(setup, tmp_path, first_passes):
    from matsight.demo import DemoContext
    from matsight.knobs import demo

    root, lots = setup
    real_check = demo.check_quality

    def check(out, **kw):  # the real check, then (optionally) declare the first knob trusted
        report = real_check(out, **kw)
        report.passes[:] = [first_passes] + [False] * (len(report.passes) - 1)
        (out / "knob_control.json").write_text(json.dumps(report.to_dict()))
        return report

    tiny = dict(
        editor=dict(image_size=32, steps=2, width=8, depth=3),
        quality_epochs=1,
        sweep_tiles=3,
        levels=2,
        inverse_tiles=3,
        inverse_steps=2,
    )
    ctx = DemoContext(root=tmp_path, shared={"sem_run": root / "reg", "sem_lots": lots})
    with patch.object(demo, "CPU", tiny), patch.object(demo, "check_quality", check):
        demo.run_demo(ctx)
    effects = pd.read_csv(tmp_path / "sem-knobs" / "tables" / "inverse_effects.csv")
    free = effects.groupby("attribute", sort=False)["free"].first()
    assert free.tolist() == ([True, False, False, False] if first_passes else [True] * 4)
    section = json.loads((tmp_path / "sem-knobs" / "report_sections" / "knobs.json").read_text())
    assert section["metrics"]["knobs turned by the inverse search"] == ", ".join(free.index[free])
