"""The benchmark's CPS concept and knob recovery: known answers of its scores, and a tiny run end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from matsight.benchmark import BenchmarkConfig, run
from matsight.benchmark.recovery import (
    RECOVERY_METRICS,
    SETTINGS,
    RecoveryPreset,
    coefficients,
    concept_scores,
    knob_scores,
)
from matsight.knobs.agreement import AGREES, DISAGREES, MISREADS, NOT_CHECKED
from matsight.synth.sem import DEFAULT_COEFFICIENTS


def _textures(planted: list[bool], flipped: list[bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {"setting": ["planted"] * len(planted) + ["flipped-porosity"] * len(flipped), "in_family": planted + flipped}
    )


def test_concept_scores_are_one_when_the_family_fills_the_top_and_follow_the_flip():
    top, bottom = [True] * 3 + [False] * 7, [False] * 7 + [True] * 3
    scores = concept_scores(_textures(top, bottom))
    assert scores == {"concept_auroc": 1.0, "concept_auroc_flipped": 0.0, "concept_flip": 1.0}
    unmoved = concept_scores(_textures(top, top))
    assert unmoved["concept_flip"] == 0.0
    alternating = [True, False] * 5  # members at ranks 1, 3, 5, 7, 9 of 10: 15 of 25 pairs above
    assert concept_scores(_textures(alternating, alternating))["concept_auroc"] == pytest.approx(15 / 25)
    rng = np.random.default_rng(0)
    chance = [concept_scores(_textures(list(rng.permutation(top)), top))["concept_auroc"] for _ in range(100)]
    assert abs(np.mean(chance) - 0.5) < 0.05


def _knob(setting, knob, passes, low, high, verdict, resolved=True):
    return {
        "setting": setting,
        "knob": knob,
        "passes": passes,
        "sweep_low": low,
        "sweep_high": high,
        "verdict": verdict,
        "resolved": resolved,
    }


def test_knob_scores_count_the_size_flip_and_planted_signs_of_trusted_resolved_knobs():
    slopes = [[0.6, 0.1, 0.0], [0.0, 0.2, 0.1], [0.3, 0.0, 0.9]]  # knob i -> measured j
    control = {"names": ["size", "porosity", "facetness"], "slopes": slopes, "passes": [True, False, True]}
    knobs = pd.DataFrame(
        [
            _knob("planted", "size", True, -3.0, -1.0, AGREES),  # size flips: − then +
            _knob("flipped-size", "size", True, 0.5, 2.0, AGREES),
            _knob("planted", "porosity", False, 1.0, 2.0, NOT_CHECKED),  # fails control: no sign counted
            _knob("flipped-size", "porosity", False, 1.0, 2.0, NOT_CHECKED),
            _knob("planted", "facetness", True, 1.0, 2.0, DISAGREES),
            _knob("flipped-size", "facetness", True, -2.0, -1.0, MISREADS),  # misread: not judged
        ]
    )
    scores = knob_scores(knobs, control)
    assert scores["knob_control"] == 0.6 and scores["knob_flip"] == 1.0
    assert scores["knob_sign_agreement"] == pytest.approx(2 / 3)  # size twice agrees, facetness disagrees once
    knobs.loc[1, ["sweep_low", "sweep_high"]] = [-0.5, 0.5]  # the flipped sweep spans zero: no flip
    assert knob_scores(knobs, control)["knob_flip"] == 0.0
    knobs["passes"] = False  # a size knob that fails the control check says nothing about the flip
    assert np.isnan(knob_scores(knobs, control)["knob_flip"])
    knobs["resolved"] = False
    assert np.isnan(knob_scores(knobs, control)["knob_sign_agreement"])


def test_each_lot_set_negates_one_coefficient_of_the_planted_formula():
    assert coefficients("planted") == DEFAULT_COEFFICIENTS
    for setting, flipped in SETTINGS.items():
        if flipped is not None:
            changed = {n for n, c in coefficients(setting).items() if c != DEFAULT_COEFFICIENTS[n]}
            assert changed == {flipped} and coefficients(setting)[flipped] == -DEFAULT_COEFFICIENTS[flipped]


TINY = RecoveryPreset(
    sem=dict(lots=4, tiles_per_lot=4, tile_size=32, design="random"),
    textures=dict(
        per_class=2,
        size=32,
        pretrain_per_class=2,
        pretrain_size=32,
        pretrain_epochs=1,
        finetune_epochs=1,
        image_size=32,
        n_perm=19,
        n_boot=5,
    ),
    knobs=dict(
        editor=dict(steps=4, width=4, depth=2, quality_epochs=1, measure_size=16),
        sweep=dict(levels=3, tiles=4, response_tiles=1),
    ),
)


def test_recovery_runs_with_the_benchmark_writes_its_rows_and_resumes(tmp_path):
    settings = dict(image_size=16, pool=40, n_eval=3, epochs=1, fc_runs=3, steps=3, recovery=TINY)
    config = BenchmarkConfig(
        out=tmp_path / "run", seeds=1, tasks=("pits",), methods=("baseline:random",), recovery=True, overrides=settings
    )
    assert config.runs_recovery and not BenchmarkConfig(out=tmp_path / "q").runs_recovery
    assert BenchmarkConfig(out=tmp_path / "f", preset="full").runs_recovery
    folder = run(config)
    board = pd.read_csv(folder.path / "tables" / "leaderboard.csv")
    rows = board[board["metric"].isin(RECOVERY_METRICS)]
    # the tiny editor's knobs may all fail the control check: their shares are NaN and left out
    assert {"concept_auroc", "concept_auroc_flipped", "concept_flip", "knob_control"} <= set(rows["metric"])
    assert set(rows["metric"]) <= set(RECOVERY_METRICS)
    assert set(rows["task"]) == {"cps"} and set(rows["method"]) == {"textures", "knobs"} and (rows["n"] == 1).all()
    flip = rows.set_index("metric")["mean"]
    assert flip["concept_flip"] == pytest.approx(flip["concept_auroc"] - flip["concept_auroc_flipped"])
    textures = pd.read_csv(folder.path / "tables" / "recovery_textures.csv")
    assert (
        set(textures["setting"]) == {"planted", "flipped-porosity"} and textures.groupby("setting").size().min() == 28
    )
    knobs = pd.read_csv(folder.path / "tables" / "recovery_knobs.csv")
    assert len(knobs) == 8 and list(knobs.columns[:3]) == ["seed", "setting", "knob"]  # 4 knobs × 2 settings
    assert set(knobs["setting"]) == {"planted", "flipped-size"}
    for setting in SETTINGS:  # the lots carry the formula they were made with
        (truth,) = (tmp_path / "run" / "cache").glob(f"recovery-*/seed0/lots-{setting}/ground_truth.json")
        assert json.loads(truth.read_text())["coefficients"] == coefficients(setting)
    markdown = (folder.path / "tables" / "leaderboard.md").read_text()
    assert "textures" not in markdown and "knobs" not in markdown  # the saliency table stays the saliency table
    section = json.loads((folder.path / "report_sections" / "benchmark.json").read_text())
    assert "CPS recovery over 1 seed(s)" in section["text"] and "tables/recovery_knobs.csv" in section["tables"]
    before = (folder.path / "tables" / "scores.csv").read_text()
    run(config)  # resumes: the seed's recovery parts are reused, same scores
    assert (folder.path / "tables" / "scores.csv").read_text() == before
