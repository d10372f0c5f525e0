"""Common checks over every workflow (the spirit of scikit-learn's ``parametrize_with_checks``).

Each workflow (train, analytics, knobs train/sweep/inverse, saliency, textures, crystals
train/robustness/map/explain, benchmark) is a frozen config and ``run(config) -> RunFolder``. For
every one, on tiny data: the manifest names the command, the arguments, the seed and the hashed inputs; the status ends
``finished``; a report section is written whose figures and tables exist; an interruption marks the
run ``failed`` with the error and the rerun resumes to ``finished``; a rerun of a finished run
keeps its results; a bad value is a one-line ConfigError that names the CLI option.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from matsight.errors import ConfigError
from matsight.report import read_sections
from matsight.store import RunFolder


@dataclass
class Case:
    """One workflow on tiny data: ``config(out)`` builds its config; ``run`` runs it; ``bad`` is a
    field, a bad value and the CLI option the error must name."""

    config: Callable[[Path], Any]
    run: Callable[[Any], RunFolder]
    bad: tuple[str, Any, str]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny inputs shared by the cases: SEM lots, x-ray images, a regressor and a multi-label tagger."""
    from matsight.progress import quiet
    from matsight.synth.sem import generate_lots
    from matsight.synth.xray import generate_xray
    from matsight.training import TrainConfig, train

    root = tmp_path_factory.mktemp("workflows")
    tiny = dict(epochs=1, image_size=16, batch_size=4, optimizer="adam", device="cpu")
    with quiet():
        lots = generate_lots(root / "lots", lots=3, tiles_per_lot=4, size=32, seed=1)
        xray = generate_xray(root / "xray", n=24, size=32, seed=1)
        regressor = train(TrainConfig(data=lots, out=root / "regressor", target="cps", **tiny)).path
        tagger = train(TrainConfig(data=xray, out=root / "tagger", task="multilabel", **tiny)).path
    return {"lots": lots, "xray": xray, "regressor": regressor, "tagger": tagger}


def _train_case(data) -> Case:
    from matsight.training import TrainConfig, train

    return Case(
        config=lambda out: TrainConfig(
            data=data["lots"], out=out, target="cps", epochs=1, image_size=16, batch_size=4, optimizer="adam"
        ),
        run=train,
        bad=("epochs", 0, "--epochs"),
    )


def _analytics_case(data) -> Case:
    from matsight.analytics.compute import AnalyticsConfig, run

    return Case(
        config=lambda out: AnalyticsConfig(out=out, run=data["tagger"], perplexity=5.0),
        run=run,
        bad=("distance", "manhattan", "--distance"),
    )


def _knobs_editor_config(data, out: Path):
    from matsight.knobs.config import EditorConfig

    return EditorConfig(
        out=out,
        regressor=data["regressor"],
        lots=data["lots"],
        attributes=("size", "porosity"),
        image_size=16,
        steps=2,
        width=4,
        depth=2,
        quality_epochs=1,
    )


def _knobs_editor(data) -> Path:
    """One tiny editor run for the sweep and inverse cases (trained once per module)."""
    from matsight.knobs.pipeline import run_train

    if "editor" not in data:
        data["editor"] = _quietly(run_train, _knobs_editor_config(data, data["lots"].parent / "editor")).path
    return data["editor"]


def _knobs_train_case(data) -> Case:
    from matsight.knobs.pipeline import run_train

    return Case(config=lambda out: _knobs_editor_config(data, out), run=run_train, bad=("steps", 0, "--steps"))


def _knobs_sweep_case(data) -> Case:
    from matsight.knobs.config import SweepConfig
    from matsight.knobs.pipeline import run_sweep

    editor = _knobs_editor(data)
    return Case(
        config=lambda out: SweepConfig(out=out, editor=editor, levels=2, tiles=2),
        run=run_sweep,
        bad=("levels", 1, "--levels"),
    )


def _knobs_inverse_case(data) -> Case:
    from matsight.knobs.config import InverseConfig
    from matsight.knobs.pipeline import run_inverse

    editor = _knobs_editor(data)
    return Case(
        config=lambda out: InverseConfig(out=out, editor=editor, tiles=2, steps=2),
        run=run_inverse,
        bad=("per", "image", "--per"),
    )


def _saliency_case(data) -> Case:
    from matsight.saliency import SaliencyConfig, run

    return Case(
        config=lambda out: SaliencyConfig(
            out=out, run=data["regressor"], data=data["lots"], method="gradcam", max_images=4, batch_size=2
        ),
        run=run,
        bad=("sign", 0, "--sign"),
    )


def _textures_case(data) -> Case:
    from matsight.synth.textures import generate_bank
    from matsight.textures import TexturesConfig, run

    if "bank" not in data:
        data["bank"] = generate_bank(
            data["lots"].parent / "bank", per_class=2, size=16, classes=["dotted", "striped", "cracked"]
        )
    return Case(
        config=lambda out: TexturesConfig(
            out=out, run=data["regressor"], lots=data["lots"], bank=data["bank"], target="cps", k=2, n_boot=5, n_perm=5
        ),
        run=run,
        bad=("stage", "Z9", "--stage"),
    )


def _crystal_data(data) -> Path:
    """A layout-5 folder of six pristine library structures (one per class), built once per module."""
    from matsight.crystals.train import build

    if "crystals" not in data:
        data["crystals"] = _quietly(lambda: build(data["lots"].parent / "crystals", n=6, seed=3))
    return data["crystals"]


def _crystals_train_case(data) -> Case:
    from matsight.crystals.config import TrainConfig
    from matsight.crystals.train import run_train

    crystals = _crystal_data(data)
    return Case(
        config=lambda out: TrainConfig(out=out, data=crystals, descriptor="soap", epochs=1, batch_size=4),
        run=run_train,
        bad=("descriptor", "xrd", "--descriptor"),
    )


def _crystal_models(data) -> tuple[Path, Path]:
    """A one-epoch ConvNet (fingerprints) and SOAP classifier on :func:`_crystal_data`, trained once."""
    from matsight.crystals.config import TrainConfig
    from matsight.crystals.train import run_train

    if "crystal_models" not in data:
        root, crystals = data["lots"].parent, _crystal_data(data)
        data["crystal_models"] = tuple(
            _quietly(run_train, TrainConfig(out=root / d, data=crystals, descriptor=d, epochs=1)).path
            for d in ("fingerprint", "soap")
        )
    return data["crystal_models"]


def _crystals_robustness_case(data) -> Case:
    from matsight.crystals.config import RobustnessConfig
    from matsight.crystals.robustness import run_robustness

    convnet, soap = _crystal_models(data)
    levels = dict(displacements=(0.02,), vacancies=(0.1,), combined=((0.02, 0.1),), strains=(0.02,), rotations=(30.0,))
    return Case(
        config=lambda out: RobustnessConfig(
            out=out, convnet=convnet, soap=soap, classes=(0, 1), mc_samples=2, spglib_per_class=1, **levels
        ),
        run=run_robustness,
        bad=("mc_samples", 0, "--mc-samples"),
    )


def _crystals_map_case(data) -> Case:
    from matsight.crystals.config import MapConfig
    from matsight.crystals.polycrystal import run_map

    convnet, soap = _crystal_models(data)
    return Case(
        config=lambda out: MapConfig(
            out=out, convnet=convnet, soap=soap, size=(12.0, 12.0, 9.0), stride=3.0, mc_samples=2
        ),
        run=run_map,
        bad=("stride", 0.0, "--stride"),
    )


def _crystals_explain_case(data) -> Case:
    from matsight.crystals.config import ExplainConfig
    from matsight.crystals.explain import run_explain

    convnet, _ = _crystal_models(data)
    return Case(
        config=lambda out: ExplainConfig(out=out, run=convnet, classes=("A1_fcc",), top_n=1),
        run=run_explain,
        bad=("top_n", 0, "--top-n"),
    )


def _benchmark_case(data) -> Case:
    from matsight.benchmark import BenchmarkConfig, run

    tiny = dict(image_size=16, pool=24, n_eval=2, targets_per_seed=1, epochs=1, fc_runs=2, steps=3)
    return Case(
        config=lambda out: BenchmarkConfig(
            out=out, seeds=1, tasks=("cps",), methods=("matsight:gradcam", "baseline:random"), overrides=tiny
        ),
        run=run,
        bad=("seeds", 0, "--seeds"),
    )


CASES: dict[str, Callable[[dict], Case]] = {
    "train": _train_case,
    "analytics": _analytics_case,
    "knobs-train": _knobs_train_case,
    "knobs-sweep": _knobs_sweep_case,
    "knobs-inverse": _knobs_inverse_case,
    "saliency": _saliency_case,
    "textures": _textures_case,
    "crystals-train": _crystals_train_case,
    "crystals-robustness": _crystals_robustness_case,
    "crystals-map": _crystals_map_case,
    "crystals-explain": _crystals_explain_case,
    "benchmark": _benchmark_case,
}


@pytest.fixture(params=sorted(CASES))
def case(request, data) -> Case:
    return CASES[request.param](data)


def _quietly(function, *args):
    from matsight.progress import quiet

    with quiet():
        return function(*args)


def test_run_writes_manifest_status_and_report_section(case, tmp_path):
    config = case.config(tmp_path / "run")
    folder = _quietly(case.run, config)
    assert folder.path == config.out
    manifest = folder.read_manifest()
    assert manifest["command"] == config.command and manifest["status"] == "finished"
    assert manifest["arguments"] == json.loads(json.dumps(config.arguments()))
    assert manifest.get("seed") == config.seed_value
    assert set(config.inputs()) <= set(manifest.get("inputs", {})), "every input is hashed into the manifest"
    sections = read_sections(folder.path)
    assert sections, "a report section"
    for section in sections:
        for relative in [*section.figures, *section.tables]:
            assert (folder.path / relative).is_file(), f"{section.key} names {relative}, which is missing"
        # a section's text is plain text: the report escapes it once; markup or entities in it show as code
        assert not re.search(r"<[a-z]+>|&(amp|lt|gt|quot|#\d+);", section.text), section.text


def test_interrupted_run_is_marked_failed_and_the_rerun_finishes(case, tmp_path, monkeypatch):
    import matsight.report.sections as sections

    config = case.config(tmp_path / "run")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(sections, "atomic_write_json", interrupt)
        with pytest.raises(KeyboardInterrupt):
            _quietly(case.run, config)
    manifest = RunFolder(config.out, create=False).read_manifest()
    assert manifest["status"] == "failed" and "KeyboardInterrupt" in manifest.get("error", "")
    assert _quietly(case.run, config).read_manifest()["status"] == "finished"


def test_rerun_of_a_finished_run_keeps_its_results(case, tmp_path):
    config = case.config(tmp_path / "run")
    first = _quietly(case.run, config)
    tables = {p.name: p.read_bytes() for p in sorted((first.path / "tables").glob("*.csv"))}
    second = _quietly(case.run, config)
    assert second.read_manifest()["status"] == "finished"
    assert {p.name: p.read_bytes() for p in sorted((second.path / "tables").glob("*.csv"))} == tables


def test_bad_value_is_a_config_error_naming_the_option(case, tmp_path):
    field, value, option = case.bad
    config = case.config(tmp_path / "run")
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(config, **{field: value})
    assert option in str(error.value) and "\n" not in str(error.value)
