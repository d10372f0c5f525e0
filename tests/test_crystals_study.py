"""Robustness table, training and CLI of the crystal study (tiny sizes)."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from matsight.crystals.prototypes import ELEMENTS_BY_CLASS
from matsight.crystals.robustness import robustness_table

torch.set_num_threads(1)


class ConstantClass(nn.Module):
    """Always predicts class 4 (fcc): right on exactly one structure in 7."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = torch.zeros(len(x), 7)
        out[:, 4] = 1
        return out + self.w


def test_robustness_table_columns_and_known_answers():
    table = robustness_table(
        ConstantClass(), n_per_level=7, sigmas=(0.001,), vacancies=(0.25,), held_out_rotations=(10.0,)
    )
    assert list(table.columns) == ["defect", "level", "spglib_tight", "spglib_medium", "spglib_loose", "convnet"]
    assert table["defect"].tolist() == ["pristine", "displacement", "vacancies"]
    assert table["level"].tolist() == [10.0, 0.001, 25.0]
    n_prototypes = sum(len(e) for e in ELEMENTS_BY_CLASS.values())
    pristine = table.iloc[0]  # 70 prototypes rotated ≤ 10°
    assert pristine["convnet"] == pytest.approx(100 * len(ELEMENTS_BY_CLASS[4]) / n_prototypes)  # every fcc
    assert pristine[["spglib_tight", "spglib_medium", "spglib_loose"]].tolist() == [100, 100, 100]
    assert table["convnet"].iloc[1:].round(2).tolist() == [14.29, 14.29]
    sigma = table.iloc[1]
    assert sigma["spglib_loose"] == 100 and sigma["spglib_tight"] == 0  # 1 mÅ noise: only loose sees it
    assert table.iloc[2]["spglib_loose"] == 0  # 25 % vacancies break symmetry


def test_cli_build_train_and_clear_error(tmp_path):
    exe = [sys.executable, "-m", "matsight.cli"]
    data, run = tmp_path / "data", tmp_path / "run"
    subprocess.run(
        exe + ["crystals", "build", str(data), "--n", "7", "--device", "cpu"], check=True, capture_output=True
    )
    assert (data / "labels.csv").read_text().count("\n") == 8
    done = subprocess.run(
        exe + ["crystals", "train", str(data), "--out", str(run), "--epochs", "1", "--device", "cpu"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "pristine held-out accuracy" in done.stdout and (run / "checkpoint.pt").exists()
    bad = subprocess.run(
        exe + ["crystals", "train", str(tmp_path / "nowhere"), "--out", str(run)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "labels.csv" in bad.stderr and "Traceback" not in bad.stderr
