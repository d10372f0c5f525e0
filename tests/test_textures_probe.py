"""Texture probe end to end on a tiny untrained ResNet-18: features, CLI outputs, resume, errors."""

import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from matsight.cli.main import app, main
from matsight.data import read_lots
from matsight.models import build_model, load_model, save_checkpoint
from matsight.ood.run import fit_run_reference
from matsight.saliency.fastcam import FastCAM
from matsight.synth.sem import generate_lots
from matsight.synth.textures import generate_bank
from matsight.textures.features import salient_batch


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("textures")
    generate_lots(root / "lots", lots=4, tiles_per_lot=2, size=32, seed=0)
    generate_bank(root / "bank", per_class=2, size=32, classes=["dotted", "striped", "cracked"])
    model = build_model("resnet18", "regression", 1)
    save_checkpoint(
        root / "model" / "checkpoint.pt",
        model,
        {  # resized to 40 px, centre-cropped to 32: every read of the tiles must see them so
            "arch": "resnet18",
            "task": "regression",
            "num_outputs": 1,
            "target_names": ["cps"],
            "image_size": 40,
            "crop_size": 32,
        },
    )
    model, spec = load_model(root / "model")
    tiles = read_lots(root / "lots", target="cps")  # reference: 6 tiles in, 2 held out
    fit_run_reference(root / "model", model, spec, tiles.subset(np.arange(6)), tiles.subset(np.arange(6, 8)))
    return root, model.eval()


def test_salient_vectors_are_activations_at_the_map_argmax(setup):
    _, model = setup
    x = torch.rand(3, 1, 32, 32)
    arrays, grids = salient_batch(FastCAM(model), x)
    res = FastCAM(model).explain(x)
    for n in range(3):
        flat = int(res.map[n].argmax())
        y, xx = divmod(flat, 32)
        assert np.allclose(arrays["location"][n], [y / 32, xx / 32])
        for stage, act in res.activations.items():
            h, w = grids[stage]
            np.testing.assert_allclose(arrays[stage][n], act[n, :, y * h // 32, xx * w // 32].numpy(), rtol=1e-5)
    assert arrays["Z5"].shape == (3, 512) and arrays["prediction"].shape == (3, 1)


def test_cli_writes_scores_and_figures_and_resumes(setup):
    root, _ = setup
    args = [
        "textures",
        str(root / "model"),
        str(root / "lots"),
        str(root / "bank"),
        "--out",
        str(root / "out"),
        "--k",
        "3",
        "--n-boot",
        "10",
        "--n-perm",
        "20",
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "positive score" in result.output
    assert "WARNING" in result.output and "--weights PRE/checkpoint.pt" in result.output  # no manifest: not pretrained
    df = pd.read_csv(root / "out" / "tables" / "texture_scores.csv")
    assert list(df.columns) == ["texture", "score", "ci_low", "ci_high", "p_value", "q_value", "model_pretrained"]
    assert (df.q_value >= df.p_value).all() and not df.model_pretrained.any()
    assert "Warning" in (root / "out" / "report_sections" / "textures.json").read_text()
    assert sorted(df.texture) == ["cracked", "dotted", "striped"]
    tiles = pd.read_csv(root / "out" / "tables" / "tiles.csv")
    assert len(tiles) == 8 and {"lot", "predicted", "out_of_distribution", "ood_score"} <= set(tiles.columns)
    # the reference's own training tiles, read as at training (resize 40, crop 32: resized straight to 32 they
    # were all "unlike the training data")
    assert (tiles["ood_score"][:6] < 1e-3).all() and not tiles["out_of_distribution"][:6].any()
    manifest = json.loads((root / "out" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["arguments"]["target"] == "cps"  # the run's property
    assert df.score.between(-1, 1).all() and df.p_value.between(0, 1).all() and (df.p_value > 0).all()
    assert df.score.is_monotonic_decreasing
    # each lot's similarity to each texture: the vector a texture's score correlates with the property
    similarity = pd.read_csv(root / "out" / "tables" / "lot_texture_similarity.csv").set_index("lot")
    cps = pd.read_csv(root / "lots" / "lots.csv").set_index("lot").loc[similarity.index, "cps"]
    assert similarity.shape == (4, 3)
    for row in df.itertuples():
        assert row.score == pytest.approx(np.corrcoef(similarity[row.texture], cps)[0, 1], abs=1e-6)
    for name in ("neighbours_tiles", "neighbours_lots", "texture_scores", "per_lot", "lot_similarity"):
        assert (root / "out" / "figures" / f"{name}.png").stat().st_size > 1000
    chunk = next((root / "out" / "arrays" / "tiles").glob("chunk_*.npz"))
    stamp = chunk.stat().st_mtime_ns
    assert CliRunner().invoke(app, args).exit_code == 0
    assert chunk.stat().st_mtime_ns == stamp  # finished chunks are reused, not recomputed
    assert pd.read_csv(root / "out" / "tables" / "texture_scores.csv").equals(df)


def test_missing_bank_exits_2(setup, monkeypatch, capsys):
    root, _ = setup
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "matsight",
            "textures",
            str(root / "model"),
            str(root / "lots"),
            str(root / "nope"),
            "--out",
            str(root / "o2"),
        ],
    )
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "nope" in capsys.readouterr().err


def test_scores_figure_accepts_an_interval_that_excludes_the_estimate(tmp_path):
    from matsight.textures.figures import scores_bar

    scores = np.array([0.5, -0.2])
    path = scores_bar(
        ["pitted", "lined"],
        scores,
        ci_low=np.array([0.55, -0.4]),
        ci_high=np.array([0.7, -0.1]),
        path=tmp_path / "scores.png",
        highlight=("pitted",),
    )
    assert path.stat().st_size > 0


def test_the_pretraining_rule_reads_the_training_manifest(tmp_path):
    from matsight.store import RunFolder
    from matsight.textures.pretraining import pretraining_of

    assert not pretraining_of(tmp_path / "nothing").known
    scratch, pretrained = RunFolder(tmp_path / "scratch"), RunFolder(tmp_path / "pre")
    scratch.start("train", {"data": "lots", "weights": None})
    pretrained.start("train", {"data": "lots", "weights": "PRE/checkpoint.pt"})
    record = pretraining_of(scratch.path / "checkpoint.pt")  # the checkpoint inside a run folder reads the same
    assert record.known and not record.pretrained and "from scratch" in record.warning()
    assert pretraining_of(pretrained.path).pretrained and pretraining_of(pretrained.path).warning() is None


def test_planted_story_line_has_known_answers():
    from matsight.textures.demo import planted_story
    from matsight.textures.probe import TextureResult

    textures = ["pitted", "dotted", "striped", "lined", "porous", "woven"]
    zeros = np.zeros(6)

    def result(scores):
        return TextureResult(
            textures, [], "cps", zeros, np.array(scores), zeros, zeros, zeros, zeros, *[None] * 5
        ).table()

    family = ("pitted", "dotted", "porous")
    agrees, line = planted_story(result([0.9, 0.8, -0.1, -0.2, 0.7, -0.3]), family)  # family = ranks 1, 2, 3
    assert agrees and "mean rank 2.0 of 6" in line and "3 in the top 5" in line and "p = 0.050" in line
    agrees, line = planted_story(result([-0.9, -0.8, 0.1, 0.2, -0.7, 0.3]), family)
    assert not agrees and "mean rank 5.0" in line and "best porous (rank 4)" in line


def test_demo_step_probes_a_texture_pretrained_regressor(setup, monkeypatch):
    import matsight.textures.demo as step
    from matsight.demo import DemoContext
    from matsight.textures.pretraining import pretraining_of
    from matsight.training.demo import TrainedRegressor

    root, _ = setup
    tiny = dict(
        per_class=2,
        size=32,
        pretrain_per_class=2,
        pretrain_epochs=1,
        pretrain_size=32,
        finetune_epochs=1,
        image_size=32,
        n_boot=5,
        n_perm=99,
    )
    monkeypatch.setitem(step.DEMO_PRESETS, "cpu", tiny)
    ctx = DemoContext(root=root / "demo")
    ctx.root.mkdir()
    step.run_demo(ctx, TrainedRegressor(lots=root / "lots", run=root / "unused"))
    assert pretraining_of(ctx.root / "sem-regressor-textures").pretrained
    table = pd.read_csv(ctx.root / "textures" / "tables" / "texture_scores.csv")
    assert table.model_pretrained.all() and len(table) == 28
    assert (ctx.root / "textures" / "report_sections" / "textures-planted-story.json").exists()
    assert any(name == "textures: planted pit-like family" for name, _ in ctx.headlines)


def test_config_names_the_option(tmp_path):
    from matsight.errors import ConfigError
    from matsight.textures import TexturesConfig

    for bad, option in (({"stage": "Z9"}, "--stage"), ({"k": 0}, "--k"), ({"bank_per_class": 0}, "--bank-per-class")):
        with pytest.raises(ConfigError, match=option):
            TexturesConfig(tmp_path / "out", tmp_path / "run", tmp_path / "lots", tmp_path / "bank", **bad)


def test_what_textures_track_names_the_attribute_behind_each_textures_similarity():
    from matsight.textures.demo import tracking_line, what_textures_track

    rng = np.random.default_rng(0)
    lots = pd.DataFrame(
        {
            "lot": list("ABCDEFGHIJ"),
            "size": rng.uniform(6, 20, 10),
            "porosity": rng.uniform(0, 1.2, 10),
            "facetness": rng.uniform(0, 1, 10),
            "cps": rng.normal(25, 3, 10),  # not an attribute: left out
        }
    )
    similarity = pd.DataFrame(
        {
            "lot": lots["lot"][::-1].to_numpy(),  # in another order than lots.csv
            "porous": (lots["porosity"] * 2 + 1)[::-1].to_numpy(),  # looks porous exactly where there are pits
            "sprinkled": (-lots["size"])[::-1].to_numpy(),  # looks sprinkled where grains are small
            "striped": rng.normal(size=10),
        }
    )
    tracks = what_textures_track(similarity, lots)
    assert list(tracks.columns) == ["size", "porosity", "facetness"] and list(tracks.index) == list(similarity)[1:]
    assert tracks.loc["porous", "porosity"] == pytest.approx(1.0)
    assert tracks.loc["sprinkled", "size"] == pytest.approx(-1.0)
    line = tracking_line(tracks, family=("porous", "sprinkled", "absent"))
    assert "porous porosity +1.00, sprinkled size -1.00; with porosity r " in line
