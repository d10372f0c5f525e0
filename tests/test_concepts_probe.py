"""Texture probe end to end on a tiny untrained ResNet-18: features, CLI outputs, resume, errors."""

import sys

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from matsight.cli.main import app, main
from matsight.concepts.features import salient_batch
from matsight.models import build_model, save_checkpoint
from matsight.saliency.fastcam import FastCAM
from matsight.synth.sem import generate_lots
from matsight.synth.textures import generate_bank


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
        {"arch": "resnet18", "task": "regression", "num_outputs": 1, "target_names": ["cps"], "image_size": 32},
    )
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
    df = pd.read_csv(root / "out" / "tables" / "texture_scores.csv")
    assert list(df.columns) == ["texture", "score", "ci_low", "ci_high", "p_value"]
    assert sorted(df.texture) == ["cracked", "dotted", "striped"]
    assert df.score.between(-1, 1).all() and df.p_value.between(0, 1).all() and (df.p_value > 0).all()
    assert df.score.is_monotonic_decreasing
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
    from matsight.concepts.figures import scores_bar

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
