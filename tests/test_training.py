"""The fit loop, resume after a crash, metrics, run folders and the train/predict CLI."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from matsight.errors import ConfigError, RunFolderError
from matsight.training import TrainConfig, predict, train
from matsight.training import loop as training_loop


def make_lots(root, lots=6, tiles=6, size=40, seed=0):
    """Lots whose tiles' brightness grows with the lot's cps (the only numeric column, so ``train`` needs
    no ``--target``): a learnable, known relation."""
    rng = np.random.default_rng(seed)
    rows = ["lot,cps,grade"]
    for i in range(lots):
        name, cps = chr(ord("A") + i), 10.0 + 5 * i
        (root / "images" / name).mkdir(parents=True)
        for t in range(tiles):
            level = 40 + 30 * i
            pixels = np.clip(rng.normal(level, 10, (size, size)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "images" / name / f"{t}.png")
        rows.append(f"{name},{cps},grade-{i}")
    (root / "lots.csv").write_text("\n".join(rows) + "\n")
    return root


def make_classes(root, per_class=8, size=36):
    rng = np.random.default_rng(1)
    for k, name in enumerate(["bcc", "fcc"]):
        (root / "images" / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(60 + 120 * k, 15, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "images" / name / f"{i}.png")
    return root


def config(data, out, **kw):
    defaults = dict(epochs=2, image_size=32, batch_size=8, device="cpu")
    return TrainConfig(data=data, out=out, **{**defaults, **kw})


def test_regression_run_folder_is_complete_and_in_user_units(tmp_path):
    data = make_lots(tmp_path / "lots")
    run = train(config(data, tmp_path / "run", epochs=3, lr=0.003))
    for name in (
        "manifest.json",
        "checkpoint.pt",
        "metrics.json",
        "tables/predictions.parquet",
        "tables/per_lot.csv",
        "figures/predicted_vs_measured.png",
        "figures/learning_curves.png",
    ):
        assert (run.path / name).exists(), name
    manifest = run.read_manifest()
    assert manifest["status"] == "finished" and manifest["seed"] == 0 and manifest["inputs"]["data"]["hash"]
    table = predict(run.path, data)
    assert len(table) == 36 and set(table.columns) >= {"image", "lot", "measured", "predicted", "split"}
    # predictions are reported in cps units, not standardised ones
    assert 0 < table["predicted"].mean() < 60 and table["measured"].min() == 10.0
    from matsight.report import build_report

    html = build_report(run.path).read_text()
    assert "held-out R² (tiles)" in html and "data:image/png;base64" in html and "is missing" not in html


def test_interrupted_training_resumes_from_the_last_finished_epoch(tmp_path, monkeypatch):
    data = make_lots(tmp_path / "lots", lots=3, tiles=4)
    evaluate = training_loop.evaluate_loss
    calls = []

    def crash_in_epoch_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during epoch 2
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(training_loop, "evaluate_loss", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(config(data, tmp_path / "run", epochs=3))
    monkeypatch.setattr(training_loop, "evaluate_loss", evaluate)
    run = train(config(data, tmp_path / "run", epochs=3))
    history = run.read_table("history")
    assert history["epoch"].tolist() == [1, 2, 3]
    assert run.read_manifest()["resumed"] is True


def test_killed_train_command_resumes_when_rerun(tmp_path):
    """SIGKILL `matsight train` right after its first finished epoch, rerun the same command."""
    data = make_lots(tmp_path / "lots", lots=4, tiles=8)
    command = [
        sys.executable,
        "-m",
        "matsight.cli",
        "train",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "3",
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--device",
        "cpu",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last_state = tmp_path / "run" / training_loop.LAST_STATE
    deadline = time.monotonic() + 120
    while not last_state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()
    process.wait()
    assert process.returncode == -signal.SIGKILL, "train finished or failed before it could be killed"
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] != "finished"

    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["resumed"] is True
    import pandas as pd

    history = pd.read_parquet(tmp_path / "run" / "tables" / "history.parquet")
    assert history["epoch"].tolist() == [1, 2, 3]


def test_rerun_with_other_arguments_is_refused(tmp_path):
    data = make_lots(tmp_path / "lots", lots=3, tiles=4)
    train(config(data, tmp_path / "run", epochs=1))
    with pytest.raises(RunFolderError, match="--overwrite"):
        train(config(data, tmp_path / "run", epochs=2))


def test_lot_split_holds_out_whole_lots(tmp_path):
    from matsight.data import read_lots
    from matsight.training import split_indices

    table = read_lots(make_lots(tmp_path / "lots", lots=5, tiles=3))
    train_rows, val_rows = split_indices(table, "lots", 0.2, seed=0)
    assert not {table.groups[i] for i in train_rows} & {table.groups[i] for i in val_rows}
    assert len(val_rows) == 3


def test_classification_confusion_matrix(tmp_path):
    data = make_classes(tmp_path / "classes")
    run = train(config(data, tmp_path / "run", task="classification", epochs=2))
    metrics = json.loads((run.path / "metrics.json").read_text())["validation"]
    assert np.asarray(metrics["confusion_matrix"]).sum() == 3 and metrics["class_names"] == ["bcc", "fcc"]


def test_bad_options_are_user_errors(tmp_path):
    with pytest.raises(ConfigError, match="--split lots"):
        TrainConfig(data=tmp_path, out=tmp_path / "r", task="classification", split="lots")


def test_cli_reports_a_missing_target_column_with_exit_2(tmp_path):
    data = make_lots(tmp_path / "lots", lots=2, tiles=2)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "matsight.cli",
            "train",
            str(data),
            "--out",
            str(tmp_path / "r"),
            "--target",
            "strength",
            "--epochs",
            "1",
            "--image-size",
            "32",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "lots.csv" in result.stderr and "strength" in result.stderr and "Traceback" not in result.stderr


def test_a_non_finite_loss_stops_with_a_clear_error(tmp_path):
    import torch
    from torch.utils.data import TensorDataset

    from matsight.models import ModelSpec, build_model
    from matsight.store import RunFolder
    from matsight.training import FitConfig, fit

    data = TensorDataset(torch.rand(4, 1, 16, 16), torch.tensor([[1.0], [2.0], [float("inf")], [3.0]]))
    spec = ModelSpec(arch="resnet18", task="regression", num_outputs=1, target_mean=[0.0], target_std=[1.0])
    with pytest.raises(ConfigError, match="--lr"):
        fit(build_model("resnet18", "regression"), data, data, spec, RunFolder(tmp_path), FitConfig(1, batch_size=4))


@pytest.mark.parametrize("schedule, last_factor", [("exponential", 0.5**4), ("cosine", 0.0)])
def test_learning_rate_schedules(schedule, last_factor):
    import torch

    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    scheduler = training_loop.make_scheduler(opt, schedule, epochs=4, lr_decay=0.5)
    rates = []
    for _ in range(4):
        opt.step()
        scheduler.step()
        rates.append(opt.param_groups[0]["lr"])
    assert rates[-1] == pytest.approx(0.1 * last_factor, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    with pytest.raises(ConfigError):
        TrainConfig(data=".", out=".", schedule="linear")


class _CreatesAFile:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("damage", ["crafted", "truncated"])
def test_a_damaged_resume_state_is_refused_before_training(tmp_path, damage):
    import torch

    data = make_lots(tmp_path / "lots", lots=3, tiles=4)
    run = train(config(data, tmp_path / "run", epochs=1))
    last = run.path / training_loop.LAST_STATE
    planted = tmp_path / "planted"
    if damage == "crafted":
        torch.save({"format": "matsight-resume-1", "states": _CreatesAFile(planted)}, last)
    else:
        last.write_bytes(last.read_bytes()[:4000])
    with pytest.raises(RunFolderError, match="never code" if damage == "crafted" else "truncated or corrupt") as info:
        train(config(data, tmp_path / "run", epochs=1))  # the same command: it resumes from last.pt
    assert str(last) in str(info.value) and "\n" not in str(info.value)
    assert not planted.exists()


def test_unmeasured_lots_are_left_out_and_predicted(tmp_path):
    data = make_lots(tmp_path / "lots", lots=4, tiles=3)
    rows = (data / "lots.csv").read_text().splitlines()
    rows[4] = "D,,grade-3"  # lot D not measured yet
    (data / "lots.csv").write_text("\n".join(rows) + "\n")
    run = train(config(data, tmp_path / "run", epochs=1, val_fraction=0.34))
    metrics = run.read_json("metrics.json")
    assert metrics["unmeasured_lots_left_out"] == 1 and metrics["unmeasured_images_left_out"] == 3
    assert metrics["train_images"] + metrics["validation_images"] == 9
    table = predict(run.path, data)
    lot_d = table["lot"] == "D"
    assert table.loc[lot_d, "measured"].isna().all() and (table.loc[lot_d, "split"] == "new").all()
    assert table.loc[~lot_d, "measured"].notna().all() and set(table.loc[~lot_d, "split"]) == {"train", "held-out"}
