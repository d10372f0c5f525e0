"""A user's own folder, end to end from the CLI: validate → train → predict on new images → saliency.

The dataset is built here and looks like nobody in the project wrote it: the property is ``yield_mpa``
(attributes ``porosity``, ``blobiness``), three lots are not measured yet (blank cells), lots come as
8-bit PNG (40×36 px), 12-bit values in 16-bit TIFF and full-range 16-bit TIFF (32×32 px), and stray
non-image files lie around. Tile brightness grows with the lot's yield (a learnable relation).
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
from PIL import Image

from matsight.cli.main import main

MEASURED, UNMEASURED = 9, 3
FORMATS = ("png8", "tiff12", "tiff16")


def _tile(level: float, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """An 8-bit grey tile: noise around ``level`` with a few dark pores."""
    tile = rng.normal(level, 10, shape)
    for _ in range(3):
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        tile[max(0, y - 2) : y + 2, max(0, x - 2) : x + 2] = level / 3
    return np.clip(tile, 0, 255).round().astype(np.uint8)


def _save(tile: np.ndarray, fmt: str, path_stem: Path) -> Path:
    """``tile`` (8-bit values) as 8-bit PNG, 12-bit values in a 16-bit TIFF, or full-range 16-bit TIFF."""
    if fmt == "png8":
        path = path_stem.with_suffix(".png")
        Image.fromarray(tile).save(path)
    elif fmt == "tiff12":
        path = path_stem.with_suffix(".tif")
        tifffile.imwrite(path, np.round(tile.astype(np.float64) * 4095 / 255).astype(np.uint16))
    else:
        path = path_stem.with_suffix(".tif")
        tifffile.imwrite(path, tile.astype(np.uint16) * 257)
    return path


def _level(i: int) -> float:
    return 50.0 + 15.0 * i


def build_study(root: Path) -> tuple[Path, Path]:
    """``root/lots`` (layout 1, mixed formats, blank cells, stray files) and ``root/new`` (four tiles
    saved in each of the three formats, one sub-folder per format)."""
    rng = np.random.default_rng(7)
    lots = root / "lots"
    rows = ["lot,yield_mpa,porosity,blobiness,operator"]
    for i in range(MEASURED + UNMEASURED):
        name = f"L{i:02d}"
        folder = lots / "images" / name
        folder.mkdir(parents=True)
        fmt = FORMATS[i % 3]
        shape = (40, 36) if fmt == "png8" else (32, 32)
        for t in range(4):
            _save(_tile(_level(i), rng, shape), fmt, folder / f"tile_{t}")
        (folder / "notes.txt").write_text("stage tilt 0°\n")
        measured = f"{200 + 20 * i}" if i < MEASURED else ""
        rows.append(f"{name},{measured},{0.1 + 0.03 * i:.2f},{1.5 - 0.05 * i:.2f},anna")
    (lots / "lots.csv").write_text("\n".join(rows) + "\n")
    (lots / "README.md").write_text("lots from the 2026 campaign\n")
    (lots / "images" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    new = root / "new"
    for fmt in FORMATS:
        (new / fmt).mkdir(parents=True)
    for t, i in enumerate((1, 4, 7, 10)):
        tile = _tile(_level(i), np.random.default_rng(100 + t), (32, 32))
        for fmt in FORMATS:
            _save(tile, fmt, new / fmt / f"sample_{t}")
    (new / "png8" / "Thumbs.db").write_bytes(b"junk")
    return lots, new


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``matsight ARGV`` in this process: exit code, stdout, stderr."""
    with patch.object(sys, "argv", ["matsight", *argv]):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    torch.set_num_threads(1)
    return tmp_path_factory.mktemp("study")


def test_own_folder_validate_train_predict_saliency(study, capsys):
    lots, new = build_study(study)
    run = study / "run"

    code, out, err = run_cli(["validate", str(lots)], capsys)
    assert code == 0, err
    assert "numeric columns: yield_mpa (3 blank), porosity, blobiness" in out
    assert "12-bit in 16-bit files" in out and "warning: the folders hold different kinds of values" in out
    assert "sizes (HxW): 32x32 (32), 40x36 (16)" in out

    code, _, err = run_cli(["train", str(lots), "--out", str(run)], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "yield_mpa, porosity, blobiness" in err and "--target" in err

    train = ["train", str(lots), "--out", str(run), "--target", "yield_mpa", "--units", "MPa"]
    settings = ["--epochs", "3", "--image-size", "32", "--batch-size", "6", "--optimizer", "adam", "--device", "cpu"]
    code, out, err = run_cli(train + settings, capsys)
    assert code == 0, err
    assert "left out 3 lot(s) without a measured yield_mpa (12 images)" in out

    # predict on the training folder: measured where measured, unmeasured lots are new
    code, out, err = run_cli(
        ["predict", str(run), str(lots), "--out", str(study / "lots.csv"), "--device", "cpu"], capsys
    )
    assert code == 0, err
    table = pd.read_csv(study / "lots.csv", keep_default_na=False)
    assert list(table.columns[:5]) == ["image", "lot", "predicted", "measured", "split"]
    assert len(table) == 48 and table["image"].str.startswith("images/L").all()
    unmeasured = table["lot"].isin([f"L{i:02d}" for i in range(MEASURED, MEASURED + UNMEASURED)])
    assert (table.loc[unmeasured, "measured"] == "").all() and (table.loc[unmeasured, "split"] == "new").all()
    split = pd.read_csv(run / "tables" / "split.csv")
    assert table.loc[~unmeasured, "split"].value_counts().to_dict() == split["split"].value_counts().to_dict()
    assert set(table.loc[~unmeasured, "split"]) == {"train", "held-out"}

    # predict on a plain folder of new images: lot = sub-folder, nothing measured, everything new
    code, out, err = run_cli(
        ["predict", str(run), str(new), "--out", str(study / "new.csv"), "--device", "cpu"], capsys
    )
    assert code == 0, err
    assert "12 predictions (12 new)" in out
    fresh = pd.read_csv(study / "new.csv", keep_default_na=False)
    assert sorted(set(fresh["lot"])) == list(FORMATS) and (fresh["measured"] == "").all()
    assert (fresh["split"] == "new").all() and len(fresh) == 12
    assert {"out_of_distribution", "ood_score", "outside_target_range", "ood_reasons"} <= set(fresh.columns)
    assert "look like the training data" in out or "look unlike the training data" in out

    # images unlike anything in training (uniform noise) are flagged, and the console says so
    foreign = study / "foreign"
    foreign.mkdir()
    for k in range(4):
        noise = np.random.default_rng(k).integers(0, 256, (32, 32), dtype=np.uint8)
        Image.fromarray(noise).save(foreign / f"noise_{k}.png")
    code, out, err = run_cli(["predict", str(run), str(foreign), "--out", str(study / "foreign.csv")], capsys)
    assert code == 0, err
    flagged = pd.read_csv(study / "foreign.csv")["out_of_distribution"]
    assert flagged.sum() >= 3 and f"{flagged.sum()} of 4 images look unlike the training data" in out

    # the same tiles as 8-bit PNG, 12-bit-in-16-bit TIFF and 16-bit TIFF: the same prediction (±2 % of range)
    fresh["sample"] = fresh["image"].str.extract(r"(sample_\d)")[0]
    by_format = fresh.pivot(index="sample", columns="lot", values="predicted")
    target_range = 20.0 * (MEASURED - 1)
    spread = (by_format.max(axis=1) - by_format.min(axis=1)).max()
    assert spread <= 0.02 * target_range, by_format

    # ... which the container-maximum decoding would not give: the 12-bit tiles would look 16× darker
    from matsight.data.images import read_image
    from matsight.models import load_model

    model, spec = load_model(run)
    legacy = torch.stack([torch.from_numpy(read_image(p)) for p in sorted((new / "tiff12").glob("*.tif"))])
    with torch.no_grad():
        darker = spec.to_user_units(model(spec.prepare(legacy))[:, 0].numpy(), 0)
    assert np.abs(darker - by_format["tiff12"].to_numpy()).max() > 0.02 * target_range

    # saliency on the new images reads the run's settings; no command asks for the target again
    code, out, err = run_cli(
        ["saliency", str(run), str(new), "--out", str(study / "maps"), "--max-images", "3", "--batch-size", "3"],
        capsys,
    )
    assert code == 0, err
    maps = pd.read_csv(study / "maps" / "tables" / "maps.csv")
    assert len(maps) == 3


def test_commands_that_take_a_run_do_not_ask_for_its_target():
    """``--target`` is the property column everywhere; a command that takes a RUN reads it from the run."""
    import typer.main

    from matsight.cli.main import app

    commands = {}
    for info in typer.main.get_command(app).commands.items():
        commands[info[0]] = info[1]
    knobs = commands["knobs"].commands

    def options(command) -> dict[str, object]:
        return {opt: p.default for p in command.params for opt in getattr(p, "opts", [])}

    assert "--target" not in options(commands["predict"]) and "--target" not in options(commands["validate"])
    assert options(commands["textures"])["--target"] is None and "--property" not in options(commands["textures"])
    assert "--target" not in options(knobs["train"]) and "--goal" in options(knobs["inverse"])
    assert options(commands["train"])["--target"] is None  # needed only when lots.csv is ambiguous
