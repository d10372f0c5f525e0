"""``matsight train`` runs unchanged under torchrun (2 CPU processes, gloo)."""

import json
import subprocess
import sys

import pytest
from test_training import make_lots


@pytest.mark.slow
def test_train_under_torchrun_with_two_processes(tmp_path):
    data = make_lots(tmp_path / "lots", lots=4, tiles=4)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29531",
        "-m",
        "matsight.cli",
        "train",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "2",
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--device",
        "cpu",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert history["train_images"] == 13
    assert result.stdout.count("run folder:") == 1  # only rank 0 reports and writes
