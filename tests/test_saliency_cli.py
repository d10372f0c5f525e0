"""Saliency on a dataset: CLI, chunked resume, figures, demo step, error exit."""

import sys
import warnings

import pytest
import torch

from matsight.cli.main import app, main
from matsight.demo import DemoContext
from matsight.models import build_model, save_checkpoint
from matsight.synth.sem import generate_lots

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Setting backward hooks")


@pytest.fixture(scope="module")
def sem(tmp_path_factory):
    root = tmp_path_factory.mktemp("sal")
    lots = generate_lots(root / "lots", lots=2, tiles_per_lot=2, size=32, progress=False)
    torch.manual_seed(0)
    model = build_model("resnet18", "regression", 1)
    meta = {
        "arch": "resnet18",
        "task": "regression",
        "num_outputs": 1,
        "target_names": ["cps"],
        "class_names": [],
        "target_mean": 0.0,
        "target_std": 1.0,
        "image_size": 32,
        "crop_size": 32,
        "channels": 1,
    }
    save_checkpoint(root / "run" / "checkpoint.pt", model, meta)
    return root, lots, root / "run"


def test_cli_writes_maps_and_resumes(sem):
    from typer.testing import CliRunner

    root, lots, run = sem
    out = root / "maps"
    args = ["saliency", str(run), str(lots), "--out", str(out), "--method", "gradcam", "--batch-size", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    chunks = sorted((out / "arrays" / "maps").glob("*.npz"))
    assert len(chunks) == 2 and len(list((out / "figures").glob("overlay-*.png"))) == 2
    stamp = chunks[0].stat().st_mtime_ns
    assert CliRunner().invoke(app, args).exit_code == 0
    assert chunks[0].stat().st_mtime_ns == stamp  # finished chunks are skipped on a rerun
    import pandas as pd

    table = pd.read_parquet(out / "tables" / "maps.parquet")
    assert len(table) == 4 and table["map_mean"].between(0, 1).all()


def test_unknown_method_exits_2(sem, monkeypatch, capsys):
    root, lots, run = sem
    monkeypatch.setattr(
        sys, "argv", ["matsight", "saliency", str(run), str(lots), "--out", str(root / "x"), "--method", "magic"]
    )
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2 and "magic" in capsys.readouterr().err


def test_demo_step(sem):
    from matsight.saliency.demo import run_demo

    root, lots, run = sem
    ctx = DemoContext(root=root / "demo", shared={"sem_run": run, "sem_lots": lots})
    ctx.root.mkdir()
    run_demo(ctx)
    import pandas as pd

    faith = pd.read_parquet(ctx.root / "sem-saliency" / "tables" / "faithfulness.parquet")
    assert list(faith["method"]) == ["fastcam", "gradcam", "integrated-gradients", "random"]
    assert ctx.headlines and ctx.report_runs == [ctx.root / "sem-saliency"]
