"""The benchmark end to end on tiny tasks: pools with masks, cached models, every method, resumable runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from matsight.benchmark import BenchmarkConfig, run
from matsight.benchmark.config import PRESETS
from matsight.benchmark.methods import all_methods
from matsight.benchmark.tasks import TASKS
from matsight.benchmark.training import train_model
from matsight.errors import ConfigError
from matsight.saliency.registry import DEFAULT_METHOD, METHODS

TINY = dict(
    image_size=16,
    pool=40,
    crystals_per_class=2,
    n_eval=3,
    targets_per_seed=2,
    epochs=1,
    crystal_epochs=1,
    fc_runs=3,
    steps=3,
    road_percentages=(50,),
)


def _tiny():
    from dataclasses import replace

    return replace(PRESETS["quick"], **TINY)


@pytest.mark.parametrize("name", ["pits", "cps", "xray", "crystals"])
def test_each_task_explains_held_out_images_with_the_mask_of_their_target(name):
    task, settings = TASKS[name], _tiny()
    pool = task.draw(settings, seed=0)
    n, channels = len(pool.x), task.channels
    assert pool.x.shape[1] == channels and pool.x.dtype == np.float32 and 0 <= pool.x.min() and pool.x.max() <= 1
    assert pool.masks.shape[0] == n and pool.masks.shape[-2:] == pool.x.shape[-2:] and pool.y.shape[0] == n
    train, held = task.split(pool, settings, np.random.default_rng(0))
    assert not set(train) & set(held) and len(train) + len(held) == n
    instances = task.instances(pool, held, settings, np.random.default_rng(0))
    assert 1 <= len(instances.targets) <= settings.n_eval
    fraction = instances.masks.flatten(1).float().mean(1)
    assert ((fraction > 0) & (fraction < 1)).all()
    if task.kind == "regression":
        assert set(instances.targets) == {None}
    elif task.kind == "classification":  # held-out structures of a few classes, target = the class
        assert (
            sorted(instances.targets) == instances.targets and len(set(instances.targets)) <= TINY["targets_per_seed"]
        )
        assert set(pool.y[train, 0].astype(int)) == set(range(7))  # the model still sees every class
    else:  # every explained tag is one the image carries
        for x, target in zip(instances.x, instances.targets):
            row = int(np.flatnonzero((pool.x == x.numpy()).all(axis=(1, 2, 3)))[0])
            assert pool.y[row, target] == 1


def test_pit_count_is_the_number_of_pits_in_the_mask():
    from scipy import ndimage

    pool = TASKS["pits"].draw(_tiny(), seed=1)
    blobs = np.array([ndimage.label(m[0])[1] for m in pool.masks])
    counts = pool.y[:, 0]
    assert np.corrcoef(blobs, counts)[0, 1] > 0.9 and (blobs <= counts).all()


def test_models_are_reused_from_the_cache_by_content(tmp_path):
    task, settings = TASKS["pits"], _tiny()
    pool = task.draw(settings, seed=0)
    train, held = np.arange(30), np.arange(30, 40)
    first, info = train_model(task, pool, train, held, settings, 0, tmp_path)
    again, info_again = train_model(task, pool, train, held, settings, 0, tmp_path)
    assert not info["cached"] and info_again["cached"] and info_again["r2"] == info["r2"]
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    _, other = train_model(task, pool, train[1:], held, settings, 0, tmp_path)  # other images: retrained
    assert not other["cached"] and len(list(tmp_path.glob("*.pt"))) == 2


def test_micro_benchmark_scores_every_method_library_and_baseline_and_resumes(tmp_path):
    """All methods on the x-ray task (multi-label: a target per call, ROAD on a tag's decision); the
    other tasks below with a few methods."""
    config = BenchmarkConfig(out=tmp_path / "run", seeds=1, tasks=("xray",), overrides={**TINY, "targets_per_seed": 1})
    folder = run(config)
    board = pd.read_csv(folder.path / "tables" / "leaderboard.csv")
    assert list(board.columns) == ["task", "method", "library", "metric", "mean", "sd", "n"]
    expected = {(m.library, m.name) for m in all_methods()}
    assert {("matsight", key) for key in METHODS} <= expected and len(expected) >= 30
    assert {"matsight", "pytorch-grad-cam", "torchcam", "captum", "zennit", "baseline"} == {lib for lib, _ in expected}
    scored = board[board["metric"] == "auroc"]
    assert set(zip(scored["library"], scored["method"])) == expected and (scored["n"] == 1).all()
    assert not (folder.path / "tables" / "failures.csv").exists()
    metrics = set(board["metric"])
    assert {"mass_ratio", "pointing_game", "auroc", "insertion_minus_deletion", "faithfulness_correlation"} <= metrics
    assert {"road", "randomisation", "cost"} <= metrics
    random_map = board[(board["method"] == "random") & (board["metric"] == "randomisation")]
    assert np.allclose(random_map["mean"], 1.0)  # a model-free map does not change with the model
    verdict = pd.read_csv(folder.path / "tables" / "verdict.csv").iloc[0]
    assert verdict["task"] == "xray" and verdict["default"] == f"matsight:{DEFAULT_METHOD['multilabel']}"
    assert verdict["recommended_default"].startswith("matsight:")
    assert verdict["localisation_winner"] in {f"{lib}:{name}" for lib, name in expected if lib != "baseline"}
    markdown = (folder.path / "tables" / "leaderboard.md").read_text().splitlines()
    assert markdown[0] == "| method | xray AUROC | xray ins−del |" and len(markdown) <= 2 + len(expected)
    assert markdown[2].startswith("| gradcam (matsight") and markdown[-1].startswith("| sobel (baseline) |")
    manifest = json.loads((folder.path / "manifest.json").read_text())
    assert manifest["status"] == "finished" and (folder.path / "figures" / "leaderboard.png").stat().st_size > 10_000
    section = json.loads((folder.path / "report_sections" / "benchmark.json").read_text())
    assert DEFAULT_METHOD["multilabel"] in section["text"] and section["figures"] == ["figures/leaderboard.png"]
    before = (folder.path / "tables" / "scores.csv").read_text()
    run(config)  # every (task, seed) is already scored: nothing is recomputed, same table
    assert (folder.path / "tables" / "scores.csv").read_text() == before


def test_regression_and_classification_tasks_with_a_few_methods(tmp_path):
    """Six units in two worker processes; the same units scored in this process give the same scores."""
    keys = ("matsight:fastcam", "zennit:lrp", "baseline:random", "baseline:centre-gaussian", "baseline:sobel")
    tasks = ("pits", "cps", "crystals")
    common = dict(seeds=2, methods=keys, overrides=TINY, cache=tmp_path / "cache")
    folder = run(BenchmarkConfig(out=tmp_path / "run", tasks=tasks, workers=2, **common))
    board = pd.read_csv(folder.path / "tables" / "leaderboard.csv")
    assert set(board["task"]) == set(tasks) and set(board["library"] + ":" + board["method"]) == set(keys)
    assert (board["n"] == 2).all() and set(board["metric"]) >= {"auroc", "faithfulness_correlation", "randomisation"}
    assert "road" not in set(board["metric"])  # a regressor has no decision; Quantus ROAD fails on 3 channels
    serial = run(BenchmarkConfig(out=tmp_path / "serial", tasks=("pits",), workers=1, **common))

    def scores(folder, task="pits"):  # cost is a timing; everything else is determined by the cached models
        table = pd.read_csv(folder.path / "tables" / "scores.csv")
        return table[(table["task"] == task) & (table["metric"] != "cost")].reset_index(drop=True)

    pd.testing.assert_frame_equal(scores(folder), scores(serial))


def test_bad_options_are_config_errors_naming_the_option(tmp_path):
    """The Python API refuses what the command line refuses (the CLI cases are in test_bad_inputs.py)."""
    with pytest.raises(ConfigError, match="--tasks"):
        BenchmarkConfig(out="x", tasks=("pits", "cracks"))
    with pytest.raises(ConfigError, match="--seeds"):
        BenchmarkConfig(out="x", seeds=0)
    with pytest.raises(ConfigError, match="--methods"):
        BenchmarkConfig(out="x", methods=("matsight:fastcam", "captum:lime"))
    with pytest.raises(ConfigError, match="--methods"):
        BenchmarkConfig(out="x", methods=())
    with pytest.raises(ConfigError, match="--workers"):
        BenchmarkConfig(out="x", workers=0)
    (tmp_path / "notes.txt").write_text("a user's file")
    with pytest.raises(ConfigError, match="--cache .* is under the file"):
        BenchmarkConfig(out="x", cache=tmp_path / "notes.txt" / "cache")
    with pytest.raises(ConfigError, match="unknown preset fields"):
        BenchmarkConfig(out="x", overrides={"epoch": 1})


def test_a_script_without_a_main_guard_is_told_how_to_call_the_benchmark(tmp_path):
    """Spawned workers import the calling script again: without ``if __name__ == "__main__":`` they fail to
    start, and the caller gets one sentence saying so instead of a bare BrokenProcessPool."""
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(
        "from matsight.benchmark import BenchmarkConfig, run\n"
        f"run(BenchmarkConfig(out={str(tmp_path / 'run')!r}, seeds=2, tasks=('pits',), methods=('baseline:random',),"
        f" workers=2, overrides={TINY!r}))\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("matsight.errors.UserError: a benchmark worker process ended abruptly")
    assert 'if __name__ == "__main__":' in last and "--workers 1" in last
