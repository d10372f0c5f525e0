"""Multi-label metrics against scikit-learn; embeddings and placement of new points."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, precision_score, recall_score

from matsight.analytics import metrics
from matsight.analytics.embeddings import SpaceEmbedding, place_new
from matsight.errors import ConfigError


@pytest.fixture
def random_case():
    rng = np.random.default_rng(3)
    labels = (rng.random((300, 7)) < rng.uniform(0.05, 0.6, 7)).astype(np.uint8)
    scores = np.clip(0.5 * labels + rng.random((300, 7)) * 0.7, 0, 1)
    scores[:40, 2] = np.round(scores[:40, 2], 1)  # ties in the scores
    return labels, scores


def test_per_attribute_metrics_match_sklearn(random_case):
    labels, scores = random_case
    table = metrics.per_attribute(labels, scores, [f"a{k}" for k in range(7)], threshold=0.5)
    pred = scores >= 0.5
    for k, row in table.iterrows():
        assert row.accuracy == pytest.approx(accuracy_score(labels[:, k], pred[:, k]))
        assert row.precision == pytest.approx(precision_score(labels[:, k], pred[:, k], zero_division=0))
        assert row.recall == pytest.approx(recall_score(labels[:, k], pred[:, k], zero_division=0))
        assert row.f1 == pytest.approx(f1_score(labels[:, k], pred[:, k], zero_division=0))
        assert row.ap == pytest.approx(average_precision_score(labels[:, k], scores[:, k]))
    assert metrics.mean_average_precision(labels, scores) == pytest.approx(
        average_precision_score(labels, scores, average="macro")
    )


def test_outcomes_and_counts_add_up(random_case):
    labels, scores = random_case
    pred = scores >= 0.5
    codes = metrics.outcomes(labels, pred)
    c = metrics.counts(labels, pred)
    for name, code in (("tn", metrics.TN), ("fp", metrics.FP), ("fn", metrics.FN), ("tp", metrics.TP)):
        np.testing.assert_array_equal((codes == code).sum(0), c[name])
    assert codes[0, 0] == (metrics.TP if labels[0, 0] and pred[0, 0] else codes[0, 0])
    np.testing.assert_array_equal(metrics.outcomes([[1, 1, 0, 0]], [[1, 0, 1, 0]]), [[3, 2, 1, 0]])


def test_error_distances():
    a = np.array([[1, 0, 1], [0, 0, 0], [0, 0, 0], [1, 1, 0]], float)
    b = np.array([[1, 0, 1], [0, 0, 0], [0.5, 0, 0], [0, 0, 1]], float)
    np.testing.assert_allclose(metrics.error_distance(a, b, "cosine"), [0, 0, 1, 1], atol=1e-6)
    np.testing.assert_allclose(metrics.error_distance(a, b, "euclidean"), [0, 0, 0.5, np.sqrt(3)], atol=1e-6)
    with pytest.raises(ConfigError, match="--distance 'manhattan'"):
        metrics.error_distance(a, b, "manhattan")


def test_embeddings_place_new_points_near_their_twins():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (3, 60))
    groups = np.repeat(np.arange(3), 40)
    X = centres[groups] + rng.normal(0, 1, (120, 60))
    fea = SpaceEmbedding("fea", perplexity=15)
    xy = fea.fit_transform(X)
    assert xy.shape == (120, 2) and fea.pca_ is not None and fea.pca_.n_components_ == 50
    new = centres + rng.normal(0, 1, (3, 60))
    placed = place_new({"fea": fea}, {"fea": new})["fea"]
    group_means = np.stack([xy[groups == g].mean(0) for g in range(3)])
    nearest = np.linalg.norm(placed[:, None] - group_means[None], axis=2).argmin(1)
    np.testing.assert_array_equal(nearest, [0, 1, 2])


def test_act_embedding_shares_positions_of_equal_label_vectors():
    labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]] * 5, np.float32)
    act = SpaceEmbedding("act", perplexity=5, jitter=0.0)
    xy = act.fit_transform(labels)
    assert len(act.unique_) == 6
    np.testing.assert_allclose(xy[0], xy[6])
    assert np.linalg.norm(xy[0] - xy[1]) > 0
    np.testing.assert_allclose(act.transform(labels[:2]), xy[:2], atol=1e-5)


def test_compute_analytics_writes_the_app_contract(tmp_path):
    import json

    import pandas as pd

    from matsight.analytics import Analytics, AnalyticsConfig
    from matsight.analytics import run as run_analytics
    from matsight.models import build_model, save_checkpoint
    from matsight.store import RunFolder
    from matsight.synth.xray import TAGS, generate_xray

    data = generate_xray(tmp_path / "data", n=16, size=32, seed=1)
    run = RunFolder(tmp_path / "run")
    run.start("train", {"data": str(data), "split": "tiles", "val_fraction": 0.25, "seed": 0}, inputs={"data": data})
    meta = {
        "arch": "resnet18",
        "task": "multilabel",
        "num_outputs": 17,
        "target_names": TAGS,
        "class_names": [],
        "image_size": 32,
        "crop_size": 32,
        "channels": 1,
    }
    save_checkpoint(run.path / "checkpoint.pt", build_model("resnet18", "multilabel", 17), meta)
    config = AnalyticsConfig(out=run.path / "analytics", run=run.path, distance="euclidean", perplexity=3)
    folder = run_analytics(config)  # data from the manifest
    result = Analytics.read(folder.path)
    points = pd.read_parquet(result.out_dir / "points.parquet")
    summary = json.loads((result.out_dir / "analytics.json").read_text())
    manifest = folder.read_manifest()
    assert manifest["command"] == "analytics" and manifest["status"] == "finished"
    assert manifest["arguments"]["distance"] == "euclidean" and "run" in manifest["inputs"]
    section = json.loads(next((folder.path / "report_sections").glob("*.json")).read_text())
    assert section["order"] == 50 and section["figures"] == ["figures/embeddings.png"]
    assert (folder.path / section["figures"][0]).is_file()
    assert len(points) == 16 and (points["split"] == "val").sum() == 4 and points["image"][0] == "xray_00000.png"
    for column in ("act_x", "act_y", "fea_x", "fea_y", "prd_x", "prd_y", "error", *(f"prob__{t}" for t in TAGS)):
        assert points[column].dtype == np.float32, column
    assert all(points[f"label__{t}"].dtype == np.uint8 for t in TAGS)
    labels = pd.read_csv(data / "labels.csv")
    np.testing.assert_array_equal(points[[f"label__{t}" for t in TAGS]].to_numpy(), labels[TAGS].to_numpy())
    probs = points[[f"prob__{t}" for t in TAGS]].to_numpy()
    np.testing.assert_allclose(points["error"], np.linalg.norm(labels[TAGS].to_numpy() - probs, axis=1), rtol=1e-5)
    assert summary["attributes"] == TAGS and summary["distance"] == "euclidean" and summary["n"] == 16
    assert summary["map"] == pytest.approx(metrics.mean_average_precision(labels[TAGS].to_numpy(), probs))
    assert set(summary["per_attribute"]["Ring"]) == {"precision", "recall", "f1", "ap", "accuracy"}
