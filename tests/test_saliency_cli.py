"""Saliency on a dataset: CLI, chunked resume, figures, demo step, error exit."""

import json
import sys
import warnings

import numpy as np
import pytest
import torch

from matsight.cli.main import app, main
from matsight.demo import DemoContext
from matsight.models import build_model, save_checkpoint
from matsight.saliency.registry import DEFAULT_METHOD
from matsight.synth.sem import generate_lots
from matsight.training.demo import TrainedRegressor

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Setting backward hooks")


@pytest.fixture(autouse=True)
def small_evaluation(monkeypatch):
    """``--evaluate`` with few steps, subsets and ROAD levels: these tests check what is explained and
    written, not the metrics' values (tests/test_saliency_faithfulness.py checks those)."""
    import functools

    from matsight.saliency import evaluation

    small = functools.partial(evaluation.EvaluationConfig, steps=4, runs=4, regions=4, road_percentages=(20, 60))
    monkeypatch.setattr(evaluation, "EvaluationConfig", small)


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
    ctx = DemoContext(root=root / "demo")
    ctx.root.mkdir()
    run_demo(ctx, TrainedRegressor(lots=lots, run=run))
    import pandas as pd

    faith = pd.read_parquet(ctx.root / "sem-saliency" / "tables" / "faithfulness.parquet")
    default = DEFAULT_METHOD["regression"]
    assert list(faith["method"]) == list(dict.fromkeys([default, "fastcam", "gradcam", "integrated-gradients"])) + [
        "random"
    ]
    manifest = json.loads((ctx.root / "sem-saliency" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["arguments"]["method"] == default
    assert ctx.headlines and ctx.report_runs == [ctx.root / "sem-saliency"]
    from matsight.benchmark.demo import run_demo as check_against_ground_truth

    agrees = check_against_ground_truth(ctx, TrainedRegressor(lots=lots, run=run))
    assert (ctx.root / "sem-saliency" / "report_sections" / "saliency-planted-causes.json").exists()
    verdict = dict(ctx.headlines)[f"saliency: {default} maps vs planted pits and grain boundaries"]
    assert verdict == ("agrees" if agrees else "does NOT agree")
    assert not agrees  # 4 tiles cannot pass a one-sided Wilcoxon test at 0.05 (its smallest p is 1/16)


def test_planted_causes_are_the_masks_of_what_raises_cps(sem):
    """Default coefficients: porosity and size (on size^-1/2) raise CPS, cracks lower it."""
    from matsight.benchmark.demo import planted_causes
    from matsight.data.inputs import read_for_model
    from matsight.models import read_spec
    from matsight.synth.masks import read_masks
    from matsight.synth.sem import raising_cause_mask

    root, lots, run = sem
    table = read_for_model(lots, read_spec(run))
    got = planted_causes(lots, table, [1, 3])
    names = ["pits", "cracks", "grain_boundaries", "facets"]
    for row, i in enumerate([1, 3]):
        m = read_masks(lots / "masks" / table.groups[i] / table.paths[i].name, names)
        assert (got[row] == (m["pits"] | m["grain_boundaries"])).all()
    assert got.any() and not got.all()
    m = {name: np.zeros((4, 4), bool) for name in names}
    m["pits"][0, 3] = True
    m["cracks"] = np.eye(4, dtype=bool)
    m["grain_boundaries"][2:] = True
    only_pits = raising_cause_mask(m, {"porosity": 1.0, "size": -1.0, "cracks": -0.8})
    assert only_pits.sum() == 1 and only_pits[0, 3]
    with_cracks = raising_cause_mask(m, {"porosity": 1.0, "size": -1.0, "cracks": 0.5})
    assert with_cracks.sum() == 5  # the pit and the diagonal crack
    assert raising_cause_mask(m, {"porosity": 1.0, "size": 1.0, "cracks": -0.8}).sum() == 9  # + 8 boundary pixels


def test_localisation_agreement_has_known_answers():
    from matsight.benchmark.demo import localisation_agreement

    rng = np.random.default_rng(0)
    sobel = 0.6 + rng.normal(0, 0.02, 12)
    agrees, line = localisation_agreement("layercam", sobel + 0.2 + rng.normal(0, 0.01, 12), sobel)
    assert agrees and "layercam maps agree" in line and "12 tiles" in line and "p = 0.000" in line
    agrees, line = localisation_agreement("layercam", sobel - 0.05, sobel)  # above chance, below Sobel
    assert not agrees and "do NOT agree" in line and "(p = 0.000) and Sobel" in line
    agrees, _ = localisation_agreement("layercam", np.full(12, 0.5) + rng.normal(0, 0.01, 12), sobel - 0.2)
    assert not agrees  # beats Sobel but not chance
    agrees, line = localisation_agreement("layercam", np.full(12, 0.5), np.full(12, 0.5))  # constant maps: no test
    assert not agrees and "p = 1.000" in line


def test_peak_maps_back_to_the_original_pixels():
    """A blob at a known place in a 150 x 200 image, through the real resize + centre crop and back."""
    from matsight.data.transforms import center_crop, resize_square
    from matsight.saliency.geometry import CropGeometry

    h, w, known = 150, 200, (40.0, 120.0)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    image = torch.exp(-((yy - known[0]) ** 2 + (xx - known[1]) ** 2) / 8.0)[None]
    for image_size, crop in ((64, 59), (150, 150), (300, 280)):
        model_input = center_crop(resize_square(image, image_size), crop)[0]
        flat = int(model_input.argmax())
        y, x = CropGeometry.of((h, w), image_size, crop).to_original(flat // crop, flat % crop)
        tolerance = 0.5 * max(h, w) / image_size + 0.5  # half a model pixel, in original pixels
        assert abs(y - known[0]) <= tolerance and abs(x - known[1]) <= tolerance, (image_size, y, x)
    geometry = CropGeometry.of((h, w), 64, 59)
    left, right, bottom, top = geometry.extent()
    y0, x0 = geometry.to_original(0, 0)
    assert left < x0 < right and top < y0 < bottom  # the crop's first pixel lies inside the drawn extent
    assert CropGeometry.of((32, 32), 32, 32).to_original(5, 7) == (5, 7)  # no resize, no crop: identity


def test_lots_images_and_evaluate(sem):
    from typer.testing import CliRunner

    root, lots, run = sem
    import pandas as pd

    out = root / "one-lot"
    args = ["saliency", str(run), str(lots), "--out", str(out), "--method", "gradcam", "--lots", "B", "--evaluate"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [p.name for p in (out / "figures").glob("overlay-*.png")] == ["overlay-B.png"]
    table = pd.read_parquet(out / "tables" / "maps.parquet")
    assert set(table["group"]) == {"B"} and {"empty_map", "peak_y", "peak_x"} <= set(table.columns)
    faith = pd.read_parquet(out / "tables" / "faithfulness.parquet")
    assert list(faith.columns[:6]) == ["method", "metric", "mean", "sd", "n", "random_baseline"]
    assert set(faith["metric"]) == {
        "insertion-minus-deletion",
        "faithfulness-correlation",
        "region-perturbation",
        "road",
        "mprt",
    }
    assert (faith["n"] <= 2).all() and (out / "report_sections" / "faithfulness.json").exists()
    image = "images/A/" + next((lots / "images" / "A").iterdir()).name  # tile names repeat across lots: a path
    out2 = root / "one-image"
    result = CliRunner().invoke(app, ["saliency", str(run), str(lots), "--out", str(out2), "--images", image])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out2 / "tables" / "maps.parquet")) == 1
    bad = CliRunner().invoke(app, ["saliency", str(run), str(lots), "--out", str(root / "bad"), "--lots", "ZZ"])
    assert bad.exit_code != 0 and "--lots" in str(bad.exception)


def test_an_all_zero_map_is_flagged_and_drawn_with_a_note(sem, tmp_path):
    """A regressor whose head is zero has no gradient: every Grad-CAM map is all zero."""
    import pandas as pd

    from matsight.models import load_model
    from matsight.saliency import SaliencyConfig, run
    from matsight.saliency.figures import EMPTY_NOTE, OverlayPanel, overlay_figure

    root, lots, trained = sem
    model, meta = load_model(trained)
    torch.nn.init.zeros_(model.head.weight)
    save_checkpoint(tmp_path / "flat" / "checkpoint.pt", model, meta)
    folder = run(SaliencyConfig(tmp_path / "maps", tmp_path / "flat", lots, method="gradcam"))
    table = pd.read_parquet(folder.path / "tables" / "maps.parquet")
    assert table["empty_map"].all() and table["peak_y"].isna().all()
    assert "4 of 4 maps are all zero" in (folder.path / "report_sections" / "saliency.json").read_text()
    fig = overlay_figure(
        [
            OverlayPanel(torch.rand(1, 8, 8), torch.zeros(8, 8), "A: a.png"),
            OverlayPanel(torch.rand(1, 8, 8), torch.rand(8, 8), "A: b.png", peak=(2.0, 3.0)),
        ],
        "Grad-CAM",
        "cps",
        -1,
    )
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert EMPTY_NOTE.startswith("all-zero map") and any("nothing here pushes cps down" in t for t in texts)
    assert (
        "Grad-CAM" in fig._suptitle.get_text()
        and "cps" in fig._suptitle.get_text()
        and "-1" in fig._suptitle.get_text()
    )
    empty_row, drawn_row = fig.axes[:2], fig.axes[2:4]
    assert len(empty_row[1].images) == 1 and len(drawn_row[1].images) == 2  # no overlay on the all-zero map
    assert drawn_row[1].images[1].get_cmap().name == "inferno" and "peak at x=3, y=2" in drawn_row[1].get_title()
    assert "cps" in fig.axes[-1].get_ylabel()  # the colour bar says what it shows
    agnostic = overlay_figure(
        [OverlayPanel(torch.rand(1, 8, 8), torch.rand(8, 8), "A", peak=(1.0, 1.0))], "fastcam", "cps", -1, True
    )
    assert "same map for every target and sign" in agnostic._suptitle.get_text()  # FastCAM ignores the sign: say so


def test_choosing_images_and_spreading_the_drawn_ones(tmp_path):
    import numpy as np

    from matsight.data.dataset import ImageTable
    from matsight.errors import ConfigError
    from matsight.saliency.selection import select_images, spread

    paths = [tmp_path / "images" / lot / name for lot, name in (("A", "x.png"), ("B", "x.png"), ("B", "y.png"))]
    table = ImageTable(tmp_path, paths, np.zeros((3, 1), np.float32), ["A", "B", "B"], ["cps"], "regression")
    assert select_images(table, None, ["y.png"]).tolist() == [2]
    assert select_images(table, None, ["images/B/x.png"]).tolist() == [1]
    assert select_images(table, ["B"], None).tolist() == [1, 2]
    with pytest.raises(ConfigError, match="images/A/x.png"):  # two files are called x.png: ask for the path
        select_images(table, None, ["x.png"])
    groups = [lot for lot in "ABCDEFGHIJ" for _ in range(5)]
    chosen = spread(groups, per_group=2, max_groups=3)
    assert list(chosen) == ["A", "E", "J"]  # first, middle, last lot: not always the first ones
    assert chosen["E"] == [20, 24]  # first and last tile of the lot


def test_config_names_the_option_before_anything_is_written(tmp_path):
    from matsight.errors import ConfigError
    from matsight.saliency import SaliencyConfig

    for bad, option in (
        ({"sign": 0}, "--sign"),
        ({"method": "gradcma"}, "did you mean gradcam"),
        ({"batch_size": 0}, "--batch-size"),
        ({"target": -1}, "--target"),
        ({"lots": ("A",), "images": ("a.png",)}, "--images"),
    ):
        with pytest.raises(ConfigError, match=option):
            SaliencyConfig(tmp_path / "out", tmp_path / "run", tmp_path / "data", **bad)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def with_reference(tmp_path_factory):
    """A run with an out-of-distribution reference (6 training tiles, 3 held out) and a folder of new
    images: two training tiles and vertical stripes (intensities unlike any SEM tile)."""
    import shutil

    import numpy as np
    from PIL import Image

    from matsight.data import read_lots
    from matsight.models import load_model
    from matsight.ood.run import fit_run_reference

    root = tmp_path_factory.mktemp("ood")
    lots = generate_lots(root / "lots", lots=3, tiles_per_lot=3, size=32, progress=False)
    torch.manual_seed(0)
    spec = {"arch": "resnet18", "task": "regression", "num_outputs": 1, "target_names": ["cps"], "image_size": 32}
    save_checkpoint(root / "run" / "checkpoint.pt", build_model("resnet18", "regression", 1), spec)
    model, spec = load_model(root / "run")
    table = read_lots(lots, target="cps")
    fit_run_reference(root / "run", model, spec, table.subset(np.arange(6)), table.subset(np.arange(6, 9)))
    new = root / "new"
    new.mkdir()
    for path in table.paths[:2]:
        shutil.copy(path, new / f"tile-{path.name}")
    stripes = np.zeros((32, 32), np.uint8)
    stripes[:, ::4] = 255
    Image.fromarray(stripes).save(new / "stripes.png")
    return root, new


def test_default_method_and_out_of_distribution_flags(with_reference, capsys):
    """No --method: the task's default, recorded in the manifest; images unlike the training data are
    flagged in the table, on the console and in the report; training tiles are not."""
    from matsight.saliency import SaliencyConfig, run

    root, new = with_reference
    folder = run(SaliencyConfig(root / "maps", root / "run", new))
    manifest = folder.read_manifest()
    assert manifest["arguments"]["method"] == DEFAULT_METHOD["regression"] and manifest["status"] == "finished"
    table = folder.read_table("maps").set_index("image")
    flagged = {name.rsplit("/", 1)[-1] for name in table.index[table["out_of_distribution"]]}
    assert flagged == {"stripes.png"}
    assert (table.loc[[i for i in table.index if "tile-" in i], "ood_score"] < 1e-3).all()  # in the reference
    assert "1 of 3 images look unlike the training data: stripes.png" in capsys.readouterr().err
    section = json.loads((folder.path / "report_sections" / "saliency.json").read_text())
    assert "stripes.png" in section["text"] and section["metrics"]["unlike the training data"] == 1


# -- classifiers and taggers: each image's top-scoring output ----------------------------------------------
PLANTED = {"multilabel": [0, 1, 2, 3, 0, 1], "classification": [0, 1, 2, 0, 1, 2]}  # image i's top output


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A folder of 6 images (lots A, B; 64 px) and, per task, a ResNet-18 whose head is fitted so that
    image i's top-scoring output is ``PLANTED[task][i]`` (logit 10 there, 0 elsewhere)."""
    import numpy as np
    from PIL import Image

    from matsight.data.inputs import read_for_model
    from matsight.models import load_model

    root = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(0)
    for i in range(6):
        pixels = rng.random((64, 64)) * (0.4 + 0.3 * (i % 3))
        pixels[:, :: 3 + i] = 1.0
        (root / "images" / "AB"[i // 3]).mkdir(parents=True, exist_ok=True)
        Image.fromarray((pixels * 255).astype(np.uint8)).save(root / "images" / "AB"[i // 3] / f"{i}.png")
    runs = {}
    for task, wanted in PLANTED.items():
        n = max(wanted) + 1
        names = [f"{task[:5]}-{k}" for k in range(n)]
        spec = {
            "arch": "resnet18",
            "task": task,
            "num_outputs": n,
            "target_names": names if task == "multilabel" else [],
            "class_names": names if task == "classification" else [],
            "image_size": 64,
            "crop_size": 64,
            "channels": 1,
        }
        torch.manual_seed(0)
        save_checkpoint(root / task / "checkpoint.pt", build_model("resnet18", task, n), spec)
        model, spec = load_model(root / task)
        dataset = spec.dataset(read_for_model(root / "images", spec))
        x = torch.stack([dataset[i][0] for i in range(len(dataset))])
        head, model.backbone.fc = model.backbone.fc, torch.nn.Identity()
        with torch.no_grad():
            features = model(x)  # what the head reads, [6, 512]
        model.backbone.fc = head
        order = [int(p.stem) for p in read_for_model(root / "images", spec).paths]
        logits = 10 * torch.nn.functional.one_hot(torch.tensor([wanted[i] for i in order]), n).float()
        with torch.no_grad():
            head.weight.copy_((torch.linalg.pinv(features) @ logits).T)
            head.bias.zero_()
            assert model(x).argmax(1).tolist() == [wanted[i] for i in order]
        save_checkpoint(root / task / "checkpoint.pt", model, spec)
        runs[task] = root / task
    return root / "images", runs


def _maps(folder):
    return folder.chunks("maps").concat("map").astype("float32")


def test_the_default_method_per_task():
    """The ground-truth benchmark's picks (docs/saliency.md): LayerCAM for regressors and taggers, FastCAM for
    classifiers."""
    from matsight.saliency.registry import default_method

    assert DEFAULT_METHOD == {"regression": "layercam", "classification": "fastcam", "multilabel": "layercam"}
    assert [default_method(t) for t in ("regression", "classification", "multilabel")] == [
        "layercam",
        "fastcam",
        "layercam",
    ]


@pytest.mark.parametrize("task", ["multilabel", "classification"])
def test_without_target_each_image_explains_its_top_output(planted, task, tmp_path):
    """No target: each map equals the map of that image with its top-scoring output as an explicit target;
    the table names it (explained, explained_output) and the report says so."""
    from matsight.saliency import SaliencyConfig, run

    images, runs = planted
    folder = run(SaliencyConfig(tmp_path / "top", runs[task], images, method="layercam"))
    table = folder.read_table("maps")
    wanted = [PLANTED[task][int(p.rsplit("/", 1)[-1][:-4])] for p in table["image"]]
    assert table["explained_output"].tolist() == wanted
    assert table["explained"].tolist() == [f"{task[:5]}-{k}" for k in wanted]
    top = _maps(folder)
    assert not table["empty_map"].any() and top.std() > 0
    for k in sorted(set(wanted)):
        rows = [i for i, w in enumerate(wanted) if w == k]
        names = tuple(table["image"][i].rsplit("/", 1)[-1] for i in rows)
        explicit = run(
            SaliencyConfig(tmp_path / f"target-{k}", runs[task], images, method="layercam", target=k, images=names)
        )
        assert explicit.read_table("maps")["explained_output"].tolist() == [k] * len(rows)
        assert _maps(explicit) == pytest.approx(top[rows], abs=1e-3)
    kind = "class" if task == "classification" else "attribute"
    section = json.loads((folder.path / "report_sections" / "saliency.json").read_text())
    assert f"the top-scoring {kind} of each image" in section["title"] and "column explained" in section["text"]


def test_a_tagger_without_target_explains_each_images_top_attribute(planted, tmp_path):
    """The CLI on a tagger with no --method and no --target: the default (LayerCAM) on each image's top
    attribute, exit 0; --evaluate scores each map on the attribute it explains."""
    import pandas as pd
    from typer.testing import CliRunner

    images, runs = planted
    out = tmp_path / "cli"
    args = ["saliency", str(runs["multilabel"]), str(images), "--out", str(out), "--evaluate", "--max-images", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["arguments"]["method"] == DEFAULT_METHOD["multilabel"] and manifest["status"] == "finished"
    table = pd.read_parquet(out / "tables" / "maps.parquet")
    assert list(table.columns[:4]) == ["image", "group", "explained", "explained_output"]
    faith = pd.read_parquet(out / "tables" / "faithfulness.parquet")
    assert table["explained_output"].tolist() == PLANTED["multilabel"][:3]
    assert (faith["n"] == 3).all() and faith["mean"].notna().all()
    section = json.loads((out / "report_sections" / "faithfulness.json").read_text())
    assert "the top-scoring attribute of each image" in section["text"]


def test_a_class_agnostic_map_explains_no_output(planted, tmp_path):
    """FastCAM (the classifier default) ignores the target: the column says so; --evaluate scores its
    maps on each image's top-scoring class."""
    from matsight.saliency import SaliencyConfig, run
    from matsight.saliency.runner import CLASS_AGNOSTIC_EXPLAINED

    images, runs = planted
    folder = run(SaliencyConfig(tmp_path / "fastcam", runs["classification"], images, evaluate=True, max_images=2))
    assert folder.read_manifest()["arguments"]["method"] == "fastcam"
    table = folder.read_table("maps")
    assert (table["explained"] == CLASS_AGNOSTIC_EXPLAINED).all() and table["explained_output"].isna().all()
    assert folder.read_table("faithfulness")["n"].eq(2).all()
