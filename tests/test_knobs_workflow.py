"""Knobs end to end on tiny synthetic lots: train (resume), quality, sweep and inverse runs, CLI errors."""

import dataclasses
import json
import sys
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from matsight.cli.main import app, main
from matsight.errors import ConfigError, RunFolderError
from matsight.knobs.config import EditorConfig, InverseConfig, SweepConfig
from matsight.knobs.pipeline import free_knobs, pick_tiles, run_inverse, run_sweep, run_train
from matsight.knobs.train_editor import load_editor, read_meta
from matsight.models import build_model, read_spec, save_checkpoint
from matsight.store import RunFolder
from matsight.synth.sem import generate_lots
from matsight.training import resume

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
    # a regression run trained on the lots (its manifest names them), held-out RMSE 0.05 MPa: the planted
    # effects of the lots' ground_truth.json are all resolved
    RunFolder(root / "reg").start("train", {"data": str(lots)}, inputs={"data": lots})
    (root / "reg" / "metrics.json").write_text(json.dumps({"validation": {"tiles": {"rmse": 0.05}}}))
    save_checkpoint(root / "reg" / "checkpoint.pt", build_model("resnet18", "regression", 1), meta)
    return root, lots


@pytest.fixture(scope="module")
def editor(setup):
    """A tiny editor run (2 steps, 1 measurer epoch) on the fixture's regressor, shared by the tests
    that sweep and search (each writes its own run folder)."""
    root, lots = setup
    config = EditorConfig(
        out=root / "shared-editor",
        regressor=root / "reg",
        lots=lots,
        image_size=32,
        steps=2,
        width=8,
        quality_epochs=1,
        attributes=("size", "porosity"),
    )
    return run_train(config).path


def resumable_config(setup, out, **kw) -> EditorConfig:
    """3 steps on 16 px windows of 32 px tiles, a checkpoint at step 3: rerun with more steps to resume."""
    root, lots = setup
    return EditorConfig(
        out=out,
        regressor=root / "reg",
        lots=lots,
        image_size=32,
        crop=16,
        steps=3,
        width=8,
        checkpoint_every=3,
        quality_epochs=1,
        attributes=("size", "porosity"),
        **kw,
    )


def test_train_resumes_and_cli_writes_tables(setup, capsys):
    root, lots = setup
    out = root / "editor"
    config = resumable_config(setup, out)
    run_train(config)
    first = read_meta(out)["step"]
    capsys.readouterr()
    run_train(dataclasses.replace(config, steps=5))  # resumes from step 3
    progress = capsys.readouterr().err  # plain progress lines: standard error is not a terminal here
    assert "editor training: 3/5 (60 %)" in progress and "editor training: 5/5 (100 %) critic " in progress
    editor, meta = load_editor(out)
    assert first == 3 and meta["step"] == 5 and len(meta["held_out_rows"]) == 4
    manifest = RunFolder(out, create=False).read_manifest()
    assert manifest["command"] == "knobs train" and manifest["status"] == "finished" and manifest["resumed"] is False
    assert manifest["arguments"]["crop"] == 16 and manifest["arguments"]["steps"] == 5
    with torch.no_grad():  # trained on 16 px windows, it edits whole 32 px tiles
        assert editor(torch.rand(2, 1, 32, 32), torch.rand(2, 2)).shape == (2, 1, 32, 32)
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
            "--measure-size",
            "16",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "control slope" in res.output
    train_section = json.loads((root / "cli" / "report_sections" / "knobs.json").read_text())
    assert {"control slope size", "passes facetness", "held-out reconstruction L1"} <= train_section["metrics"].keys()
    res = runner.invoke(app, ["knobs", "sweep", str(root / "cli"), "--levels", "3", "--tiles", "4", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    sweep = root / "cli" / "sweep"  # the default --out: a run folder of its own inside the editor run
    sweeps = pd.read_csv(sweep / "tables" / "knob_sweeps.csv")
    assert set(sweeps["attribute"]) == {"size", "porosity", "facetness"} and len(sweeps) == 9
    assert (sweeps["ci_low"] <= sweeps["ci_high"]).all()
    per_lot = pd.read_csv(sweep / "tables" / "knob_sweep_lots.csv")
    assert per_lot["tiles"].sum() == 3 * 4 and sweeps["lots_agreeing"].between(0, 1).all()
    assert RunFolder(sweep, create=False).read_manifest()["status"] == "finished"
    res = runner.invoke(
        app,
        ["knobs", "inverse", str(root / "cli"), "--goal", "+10%", "--tiles", "3", "--steps", "3", "--device", "cpu"],
    )
    assert res.exit_code == 0, res.output
    inverse = root / "cli" / "inverse"
    effects = pd.read_csv(inverse / "tables" / "inverse_effects.csv")
    assert list(effects.columns[:3]) == ["attribute", "direction", "goal"]
    assert {"mean_delta", "ci_low", "ci_high"} <= set(effects.columns)
    assert set(effects["direction"]) == {"increase", "decrease"} and len(effects) == 6
    assert (effects["view"] == "transfer").all()  # auto: the 32 px editor is smaller than the regressor's 40 px
    reached = effects[effects["reached"] > 1]  # means and intervals over the searches that reached the goal
    assert (reached["ci_low"] <= reached["mean_delta"]).all() and (reached["mean_delta"] <= reached["ci_high"]).all()
    assert effects.loc[effects["reached"] == 0, "mean_delta"].isna().all()
    assert (inverse / "figures" / "inverse_tiles.png").exists()
    section = json.loads((sweep / "report_sections" / "knobs-sweep.json").read_text())
    assert "lots sharing the sweep's sign size" in section["metrics"]
    assert section["metrics"]["the regressor reads"] == "the real tile plus the edit"
    section = json.loads((inverse / "report_sections" / "knobs-inverse.json").read_text())
    assert section["metrics"]["knobs turned by the inverse search"] == "size, porosity, facetness"
    assert not (root / "cli" / "tables" / "knob_sweeps.csv").exists()  # the editor run keeps its own files


def test_a_guided_editor_fits_its_guide_once_and_keeps_it_on_resume(setup, capsys):
    out = setup[0] / "guided"
    config = resumable_config(setup, out, guide_epochs=2)
    run_train(config)
    first = resume.read_snapshot(out / "editor.pt")["states"]["guide"]
    assert "attribute guide: 2/2 (100 %)" in capsys.readouterr().err  # 16 training tiles: one batch per epoch
    run_train(dataclasses.replace(config, steps=5))
    progress = capsys.readouterr().err
    assert "attribute guide" not in progress and "editor training: 5/5 (100 %)" in progress
    second = resume.read_snapshot(out / "editor.pt")["states"]["guide"]
    assert all(torch.equal(first[k], second[k]) for k in first)  # frozen while the editor trained
    assert RunFolder(out, create=False).read_manifest()["arguments"]["guide_epochs"] == 2


def test_another_regressor_and_chosen_knobs_write_to_their_own_folder(setup, editor, tmp_path):
    root, lots = setup
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
    size = effects[(effects["attribute"] == "size") & (effects["reached"] > 0)]
    assert (size["mean_delta"] == 0).all()
    assert json.loads((out / "manifest.json").read_text())["arguments"]["regressor"] == str(tmp_path / "other")
    assert not (editor / "inverse").exists()  # the editor run is left alone
    other = run_sweep(
        SweepConfig(out=tmp_path / "swept", editor=editor, levels=2, tiles=2, regressor=tmp_path / "other")
    )
    own = run_sweep(SweepConfig(out=tmp_path / "own", editor=editor, levels=2, tiles=2))
    assert not np.allclose(own.read_table("knob_sweeps")["mean"], other.read_table("knob_sweeps")["mean"])


def test_inverse_per_lot_answers_each_lot_once(editor, tmp_path):
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
            "--out",
            str(tmp_path / "lot"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    effects = pd.read_csv(tmp_path / "lot" / "tables" / "inverse_effects.csv")
    assert (effects["view"] == "edit").all()  # asked for; auto would transfer (editor 32 px < regressor 40 px)
    answers = pd.read_csv(tmp_path / "lot" / "tables" / "inverse_answers.csv")
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
    code, err = _exit_code(["knobs", "inverse", str(root / "editor"), "--sweep", str(root / "editor")], capsys)
    assert code == 2 and "--knobs trusted" in err


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
def test_demo_step_searches_over_passing_knobs_and_checks_them_against_the_ground_truth(setup, tmp_path, first_passes):
    from rich.console import Console

    from matsight.demo import DemoContext
    from matsight.knobs import demo, pipeline
    from matsight.knobs.agreement import MISREADS, NOT_CHECKED
    from matsight.training.demo import TrainedRegressor

    root, lots = setup
    real_check = pipeline.check_quality

    def check(run, *args):  # the real check, then (optionally) declare the first knob trusted
        report = real_check(run, *args)
        report.passes[:] = [first_passes] + [False] * (len(report.passes) - 1)
        run.write_json("knob_control.json", report.to_dict())
        return report

    tiny = dict(
        editor=dict(crop=16, steps=2, width=8, depth=3, quality_epochs=1, measure_size=16),
        sweep=dict(levels=2, tiles=3),
        inverse=dict(tiles=3, steps=2),
    )
    ctx = DemoContext(root=tmp_path, console=Console(record=True, width=300))
    with patch.dict(demo.DEMO_PRESETS, {"cpu": tiny}), patch.object(pipeline, "check_quality", check):
        agreement = demo.run_demo(ctx, TrainedRegressor(lots=lots, run=root / "reg")).set_index("knob")
    editor = tmp_path / "sem-knobs"
    assert read_meta(editor)["image_size"] == 40  # the regressor's input size: it reads the edited tiles
    effects = pd.read_csv(editor / "inverse" / "tables" / "inverse_effects.csv")
    assert (effects["view"] == "edit").all()
    free = effects.groupby("attribute", sort=False)["free"].first()
    trusted = first_passes and agreement.loc["size", "verdict"] != MISREADS  # passes and reads the regressor
    assert free.tolist() == ([True, False, False, False] if trusted else [True] * 4)
    section = json.loads((editor / "inverse" / "report_sections" / "knobs-inverse.json").read_text())
    assert section["metrics"]["knobs turned by the inverse search"] == ", ".join(free.index[free])
    assert ctx.report_runs == [editor, editor / "sweep", editor / "inverse"]
    # the passing knobs are compared with the lots' ground_truth.json, in the console and the report
    assert agreement["passes"].tolist() == [first_passes, False, False, False]
    assert agreement.loc["size", "planted_sign"] == -1  # default coefficients: CPS falls as grains grow
    assert (agreement["verdict"].iloc[1:] == NOT_CHECKED).all()
    assert agreement.loc["size", "verdict"] in (
        ("agrees", "disagrees", "not resolved", MISREADS) if first_passes else (NOT_CHECKED,)
    )
    assert agreement["response_slope"].notna().all()  # the regressor's real response to every knob
    sweep_section = json.loads((editor / "sweep" / "report_sections" / "knobs-sweep.json").read_text())
    assert {"tables/knob_agreement.csv", "tables/regressor_response.csv"} <= set(sweep_section["tables"])
    assert sweep_section["metrics"]["ground truth porosity"] == "not checked (fails the control check)"
    headlines = dict(ctx.headlines)
    counts = headlines["the other passing knobs vs ground_truth.json"]  # e.g. "1 agrees, 0 disagrees, 0 not resolved"
    misread = headlines["of them misreading the regressor (sweep against its real response)"]
    assert sum(int(part.split()[0]) for part in counts.split(", ")) + int(misread.split()[0]) == int(first_passes)
    assert headlines["knobs passing the control check"] == ("1/4 (size)" if first_passes else "0/4 (none)")
    console = ctx.console.export_text()
    assert "passing knobs vs the lots' ground_truth.json: " in console
    shown = console.replace("DISAGREES", "disagrees").replace("MISREADS THE REGRESSOR", MISREADS)
    assert (f"size {agreement.loc['size', 'verdict']}" in shown) == first_passes


def test_sweep_and_inverse_runs_write_manifest_section_and_agreement_and_rerun(editor, tmp_path):
    sweep = SweepConfig(out=tmp_path / "s", editor=editor, levels=2, tiles=2)
    first = run_sweep(sweep).read_manifest()
    again = run_sweep(sweep).read_manifest()  # the same config again: redone in its folder
    assert first["command"] == "knobs sweep" and again["status"] == "finished"
    assert (
        again["first_started"] == first.get("first_started", first["started"])
        and again["inputs"]["editor"] == first["inputs"]["editor"]
    )
    inverse = run_inverse(InverseConfig(out=tmp_path / "i", editor=editor, tiles=2, steps=1))
    assert inverse.read_manifest()["command"] == "knobs inverse" and inverse.read_manifest()["status"] == "finished"
    for folder, section in ((tmp_path / "s", "knobs-sweep"), (tmp_path / "i", "knobs-inverse")):
        assert (folder / "report_sections" / f"{section}.json").exists()
        # the regressor's lots have a ground truth and it has held-out metrics: its answers are compared
        agreement = pd.read_csv(folder / "tables" / "knob_agreement.csv")
        assert agreement["knob"].tolist() == ["size", "porosity"] and agreement["resolution"].eq(0.1).all()
    # the lots come from the generator: the sweep also measures the regressor's real response to each knob
    response = pd.read_csv(tmp_path / "s" / "tables" / "regressor_response.csv")
    assert response["attribute"].tolist() == ["size", "size", "porosity", "porosity"]
    sweeps = pd.read_csv(tmp_path / "s" / "tables" / "knob_sweeps.csv")
    np.testing.assert_allclose(response["value"], sweeps["value"])  # at the sweep's own knob values
    agreement = pd.read_csv(tmp_path / "s" / "tables" / "knob_agreement.csv").set_index("knob")
    assert agreement.loc["size", "response_slope"] == pytest.approx(response["slope"].iloc[0])
    section = json.loads((tmp_path / "s" / "report_sections" / "knobs-sweep.json").read_text())
    assert "the regressor's real response to porosity (re-rendered tiles, per range)" in section["metrics"]
    skipped = run_sweep(SweepConfig(out=tmp_path / "s0", editor=editor, levels=2, tiles=2, response_tiles=0))
    assert not (skipped.path / "tables" / "regressor_response.csv").exists()
    assert pd.read_csv(skipped.path / "tables" / "knob_agreement.csv")["response_slope"].isna().all()


def test_trusted_knobs_come_from_a_finished_sweep_of_this_editor_and_regressor(setup, editor, tmp_path):
    from matsight.knobs.agreement import AGREES, MISREADS
    from matsight.knobs.pipeline import read_control, trusted_by_sweep

    root, _ = setup
    sweep = run_sweep(SweepConfig(out=tmp_path / "s", editor=editor, levels=2, tiles=2)).path
    table = pd.read_parquet(sweep / "tables" / "knob_agreement.parquet")
    passes = [bool(p) for p in read_control(editor)["passes"]]
    assert table["passes"].tolist() == passes  # the sweep's table carries the control it was made with

    def with_rows(passes, verdicts, response=1.0):
        RunFolder(sweep, create=False).write_table(
            "knob_agreement", table.assign(passes=passes, verdict=verdicts, response_slope=response)
        )

    # both knobs pass, porosity's edit is read the other way by the regressor: only size is trusted
    control = json.loads((editor / "knob_control.json").read_text())
    (editor / "knob_control.json").write_text(json.dumps({**control, "passes": [True, True]}))
    try:
        with_rows([True, True], [AGREES, MISREADS])
        assert trusted_by_sweep(sweep, editor) == ["size"]
        assert free_knobs(editor, "trusted", ["size", "porosity"], sweep).tolist() == [True, False]
        with pytest.raises(ConfigError, match="regressor"):
            trusted_by_sweep(sweep, editor, regressor=tmp_path / "another-regressor")
        with_rows([True, False], [AGREES, MISREADS])  # made before the control check was redone
        with pytest.raises(ConfigError, match="older than the control check"):
            trusted_by_sweep(sweep, editor)
        with_rows([True, True], [MISREADS, MISREADS])
        with pytest.raises(ConfigError, match="no knob is trusted"):
            trusted_by_sweep(sweep, editor)
        with_rows([True, True], [AGREES, AGREES], response=np.nan)  # --response-tiles 0: nothing checked
        with pytest.raises(ConfigError, match="real response"):
            trusted_by_sweep(sweep, editor)
    finally:
        (editor / "knob_control.json").write_text(json.dumps(control))
    (sweep / "tables" / "knob_agreement.parquet").unlink()  # lots without a ground truth
    with pytest.raises(ConfigError, match="no tables/knob_agreement.csv"):
        trusted_by_sweep(sweep, editor)
    with pytest.raises(ConfigError, match="not a finished"):
        trusted_by_sweep(root / "reg", editor)  # a training run, not a sweep
    with pytest.raises(RunFolderError, match="does not exist"):
        trusted_by_sweep(tmp_path / "never-swept", editor)


def test_a_failing_workflow_marks_its_run_failed(setup, editor, tmp_path):
    broken = tmp_path / "broken"
    RunFolder(broken).start("train", {})  # a run folder without a model
    with pytest.raises(Exception, match="checkpoint"):
        run_sweep(SweepConfig(out=tmp_path / "s", editor=editor, levels=2, tiles=2, regressor=broken))
    manifest = RunFolder(tmp_path / "s", create=False).read_manifest()
    assert manifest["status"] == "failed" and "checkpoint" in manifest["error"]
    with pytest.raises(ConfigError, match="shape is not a knob"):  # checked before the folder is claimed
        run_inverse(InverseConfig(out=tmp_path / "i", editor=editor, knobs=("shape",)))
    assert not (tmp_path / "i").exists()
