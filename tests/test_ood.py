"""Out-of-distribution warnings: known answers, peer libraries, persistence and the acceptance rates."""

import io
import json
import math
import pickle

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.spatial.distance import cdist

from matsight.errors import ConfigError, RunFolderError
from matsight.ood import (
    FOREIGN_KINDS,
    INTENSITY_STATISTICS,
    OODReference,
    OODScores,
    conformal_threshold,
    dataset_statistics,
    fit_reference,
    flag_rates,
    foreign_images,
    forward_with_statistics,
    intensity_statistics,
    summary_line,
)
from matsight.ood.distances import KNNDistance
from matsight.ood.features import gaussian_blur


# -- building blocks with known answers ---------------------------------------------------------
def test_conformal_threshold_is_the_rank_ceil_n_plus_1_times_q():
    distances = np.random.default_rng(0).permutation(np.arange(1.0, 101.0))
    assert conformal_threshold(distances, 0.9) == 91.0  # ceil(101 * 0.9) = 91st smallest
    assert conformal_threshold(distances, 0.999) == 100.0  # rank 101 > n: the largest


@pytest.mark.parametrize("scaling", ["unit", "whitened"])
def test_knn_distance_equals_brute_force(scaling):
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(1)
    train = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6)) * [1, 2, 3, 4, 5, 6]  # correlated columns
    new = rng.normal(size=(7, 6))
    distance = KNNDistance.fit(train, k=3, scaling=scaling)
    if scaling == "unit":
        unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
        pairwise = cdist(unit(new), unit(train))
    else:  # Mahalanobis with the Ledoit-Wolf covariance of the standardised columns
        spread = train.std(0)
        covariance = LedoitWolf().fit(train / spread).covariance_ * np.outer(spread, spread)
        pairwise = cdist(new, train, metric="mahalanobis", VI=np.linalg.inv(covariance))
    np.testing.assert_allclose(distance(new), np.sort(pairwise, axis=1)[:, 2], rtol=1e-5)


def test_intensity_statistics_equal_numpy_and_scipy():
    from scipy.stats import skew

    images = torch.rand(2, 1, 23, 19, generator=torch.Generator().manual_seed(0))
    for sigma in (0.7, 1.5, 3.0):
        blurred = gaussian_blur(images.double(), sigma)[1, 0].numpy()
        radius = math.ceil(3 * sigma)
        expected = ndimage.gaussian_filter(
            images[1, 0].double().numpy(), sigma, mode="nearest", truncate=radius / sigma
        )
        np.testing.assert_allclose(blurred, expected, atol=1e-12)
    stats = intensity_statistics(images.expand(2, 3, 23, 19))  # colour averages to the same grey
    assert stats.shape == (2, len(INTENSITY_STATISTICS))
    column = {name: stats[1, j] for j, name in enumerate(INTENSITY_STATISTICS)}
    x = images[1, 0].double().numpy()
    assert column["mean"] == pytest.approx(x.mean(), abs=1e-6)
    for name, level in (("q01", 0.01), ("q05", 0.05), ("q50", 0.5), ("q99", 0.99)):
        assert column[name] == pytest.approx(np.quantile(x, level), abs=1e-6)
    band = ndimage.gaussian_filter(x, 1.0, mode="nearest", truncate=3) - ndimage.gaussian_filter(
        x, 1.5, mode="nearest", truncate=5 / 1.5
    )
    assert column["band1-1.5px_std"] == pytest.approx(band.std(), rel=1e-4)
    assert column["band1-1.5px_skew"] == pytest.approx(skew(band.ravel()), rel=1e-4, abs=1e-5)
    band = x - ndimage.gaussian_filter(x, 0.7, mode="nearest", truncate=3 / 0.7)
    assert column["band0-0.7px_skew"] == pytest.approx(skew(band.ravel()), rel=1e-4, abs=1e-5)


def test_inverting_the_contrast_flips_the_sign_of_every_band_skewness():
    images = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(1)) ** 3  # skewed grey levels
    plain, inverted = intensity_statistics(images), intensity_statistics(1 - images)
    skews = [j for j, name in enumerate(INTENSITY_STATISTICS) if name.endswith("_skew")]
    assert len(skews) == 5
    np.testing.assert_allclose(inverted[:, skews], -plain[:, skews], atol=1e-4)


def test_features_are_the_normalised_stage_means_or_the_input_of_the_last_linear_layer():
    from matsight.models import build_model

    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    x = torch.rand(5, 1, 4, 4)
    hidden = torch.relu(plain[1](x.flatten(1))).detach()
    out = forward_with_statistics(plain, x)
    np.testing.assert_allclose(out["features"], torch.nn.functional.normalize(hidden).numpy(), atol=1e-6)
    np.testing.assert_allclose(out["output"], plain(x).detach().numpy(), atol=1e-6)

    torch.manual_seed(0)
    model = build_model("resnet18", "regression").eval()
    captured = []
    model.head.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    features = forward_with_statistics(model, torch.rand(3, 1, 40, 40))["features"]
    assert features.shape == (3, 64 + 64 + 128 + 256 + 512)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    # the last block (layer4's spatial mean) is the head's input, normalised, over √5 stages
    last = torch.nn.functional.normalize(captured[-1]).numpy() / np.sqrt(5)
    np.testing.assert_allclose(features[:, -512:], last, atol=1e-5)


def test_thresholds_from_held_out_data_recover_planted_shifts():
    """Features compare by direction (unit rows), intensity statistics by standardised columns."""
    rng = np.random.default_rng(2)
    weights = np.array([3.0, 3, 3, 3, 1, 1, 1, 1])
    features = lambda n, w=weights: w + rng.normal(0, 0.3, size=(n, 8))  # noqa: E731
    intensities = lambda n, shift=0.0: rng.normal(size=(n, 5)) + [shift, 0, 0, 0, 0]  # noqa: E731
    reference = fit_reference(features(300), features(200), intensities(300), intensities(200), quantile=0.99)
    same = reference.score(features(1000), intensities(1000))
    assert same.out_of_distribution.mean() <= 0.03  # ≤ 2 (1 - q) = 2 % expected
    turned = reference.score(features(200, weights[::-1]), intensities(200))
    assert (turned.feature_score > 1).all() and turned.reasons[0] == ["features unlike training"]
    brighter = reference.score(features(200), intensities(200, shift=10.0))
    assert (brighter.intensity_score > 1).all() and brighter.reasons[0] == ["intensities unlike training"]
    assert (features(1) * 10 > 0).all() and not reference.score(features(1) * 10, intensities(1)).out_of_distribution[0]


def test_predictions_outside_the_training_range_are_flagged_with_the_range():
    rng = np.random.default_rng(3)
    features, intensities = rng.normal(size=(50, 4)), rng.normal(size=(50, 3))
    reference = fit_reference(
        features, features[:20], intensities, intensities[:20], targets_train=np.linspace(213.0, 386.0, 50)
    )
    scores = reference.score(features[:3], intensities[:3], predictions=np.array([200.0, 300.0, 386.5]))
    assert scores.outside_target_range.tolist() == [True, False, True]
    assert scores.reasons[0] == ["prediction outside training range 213–386"] and scores.reasons[1] == []
    assert not scores.out_of_distribution.any()  # the inputs themselves are the training images
    assert scores.columns()["ood_reasons"][2] == "prediction outside training range 213–386"


def test_bad_arguments_are_named():
    f, i = np.ones((4, 3)), np.ones((4, 2))
    with pytest.raises(ValueError, match="intensities_heldout"):
        fit_reference(f, f, i, i[:3])
    with pytest.raises(ValueError, match="NaN"):
        fit_reference(f, f * np.nan, i, i)
    with pytest.raises(ConfigError, match="quantile"):
        fit_reference(f, f, i, i, quantile=1.0)
    with pytest.raises(ValueError, match="2 training images"):
        fit_reference(f[:1], f, i[:1], i)


def test_summary_line_counts():
    n = 40
    feature, intensity = np.zeros(n), np.zeros(n)
    feature[:10], intensity[8:13] = 2.0, 3.0  # 10 by features, 5 by intensities, 13 images in all
    predicted_outside = np.zeros(n, bool)
    predicted_outside[[20, 30]] = True
    scores = OODScores(
        feature_score=feature,
        intensity_score=intensity,
        ood_score=np.maximum(feature, intensity),
        out_of_distribution=np.maximum(feature, intensity) > 1,
        outside_target_range=predicted_outside,
        target_ranges=[(213.0, 386.0)],
        reasons=[[] for _ in range(n)],
    )
    names = [f"{chr(ord('a') + i % 26)}{i}.png" for i in range(n)]
    assert summary_line(scores, names) == (
        "13 of 40 images look unlike the training data: a0.png, b1.png, c2.png, d3.png, e4.png, … "
        "(features 10, intensities 5); 2 predictions outside the training range 213–386"
    )
    calm = OODScores(*(np.zeros(3),) * 3, np.zeros(3, bool), np.zeros(3, bool), [], [[]] * 3)
    assert summary_line(calm, ["x", "y", "z"]) == "all 3 images look like the training data"


# -- persistence ---------------------------------------------------------------------------------
@pytest.fixture
def small_reference():
    rng = np.random.default_rng(4)
    f, i = rng.normal(size=(30, 5)), rng.normal(size=(30, len(INTENSITY_STATISTICS)))
    return fit_reference(f, f[:10] + 0.1, i, i[:10] + 0.1, targets_train=rng.uniform(1, 2, 30)), f, i


def test_save_load_round_trip_is_equal(tmp_path, small_reference):
    reference, f, i = small_reference
    reference.save(tmp_path / "ood.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ood.json", "ood.npz"]
    loaded = OODReference.load(tmp_path / "ood.json")
    assert loaded == reference and loaded is not reference
    before, after = reference.score(f + 0.3, i, np.ones(30)), loaded.score(f + 0.3, i, np.ones(30))
    np.testing.assert_array_equal(before.ood_score, after.ood_score)
    assert before.reasons == after.reasons
    other = fit_reference(f, f[:10], i, i[:10])
    assert other != reference


def _replace_arrays(folder, payload: bytes):
    """Put ``payload`` in ood.npz and make ood.json's checksum match it (a deliberate forgery)."""
    import hashlib

    (folder / "ood.npz").write_bytes(payload)
    settings = json.loads((folder / "ood.json").read_text())
    settings["arrays_sha256"] = hashlib.sha256(payload).hexdigest()
    (folder / "ood.json").write_text(json.dumps(settings))


def test_corrupt_pickled_or_mismatched_files_are_refused_naming_the_file(tmp_path, small_reference):
    reference = small_reference[0]
    path = tmp_path / "ood.json"
    with pytest.raises(RunFolderError, match="ood.json does not exist"):
        OODReference.load(path)
    reference.save(path)
    (tmp_path / "ood.npz").write_bytes((tmp_path / "ood.npz").read_bytes()[:-10])
    with pytest.raises(RunFolderError, match="ood.npz does not belong to ood.json"):
        OODReference.load(path)

    _replace_arrays(tmp_path, pickle.dumps({"features.reference": np.zeros((2, 2))}))
    with pytest.raises(RunFolderError, match="ood.npz cannot be read as plain numeric arrays"):
        OODReference.load(path)

    buffer = io.BytesIO()
    np.savez(buffer, **{"features.reference": np.array([{"a": 1}], dtype=object)})  # pickled inside
    _replace_arrays(tmp_path, buffer.getvalue())
    with pytest.raises(RunFolderError, match="ood.npz cannot be read as plain numeric arrays"):
        OODReference.load(path)

    buffer = io.BytesIO()
    np.savez(buffer, target_low=np.zeros(1))  # readable, but most arrays are missing
    _replace_arrays(tmp_path, buffer.getvalue())
    with pytest.raises(RunFolderError, match="ood.json is not a usable out-of-distribution reference"):
        OODReference.load(path)

    path.write_text("{not json")
    with pytest.raises(RunFolderError, match="ood.json is not valid JSON"):
        OODReference.load(path)


# -- acceptance: a tiny SEM regressor --------------------------------------------------------------
@pytest.fixture(scope="module")
def sem_regressor(tmp_path_factory):
    """A ResNet-18 regressor trained for 2 epochs on 160 tiles (40 px) of 8 synthetic SEM lots; its
    statistics on the training tiles and on two held-out halves of 80 tiles each, and their images."""
    from matsight.data import ImageDataset, read_lots
    from matsight.models import build_model
    from matsight.synth.sem import generate_lots

    torch.manual_seed(0)
    table = read_lots(generate_lots(tmp_path_factory.mktemp("lots"), lots=8, tiles_per_lot=40, size=40, progress=False))
    order = np.random.default_rng(0).permutation(len(table))
    rows = {"train": order[:160], "first half": order[160:240], "second half": order[240:]}
    data = {name: ImageDataset(table.subset(r), 40, crop_size=36, cache=True) for name, r in rows.items()}
    targets = table.targets[rows["train"]]
    mean, std = float(targets.mean()), float(targets.std())
    model = build_model("resnet18", "regression")
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    augmented = ImageDataset(table.subset(rows["train"]), 40, augment=True, crop_size=36, cache=True)
    for _epoch in range(2):
        model.train()
        for images, target in torch.utils.data.DataLoader(augmented, batch_size=16, shuffle=True):
            loss = torch.nn.functional.mse_loss(model(images), (target - mean) / std)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    stats = {name: dataset_statistics(model, dataset) for name, dataset in data.items()}
    images = {name: torch.stack([dataset[i][0] for i in range(len(dataset))]) for name, dataset in data.items()}
    return model, stats, targets, images


def test_held_out_images_pass_and_foreign_images_are_flagged(sem_regressor):
    """Each held-out half is judged with thresholds set on the other half (so no image judges itself)."""
    model, stats, targets, images = sem_regressor
    train, held_out_rates = stats["train"], []
    for calibration, judged in (("first half", "second half"), ("second half", "first half")):
        reference = fit_reference(
            train["features"],
            stats[calibration]["features"],
            train["intensities"],
            stats[calibration]["intensities"],
            targets_train=targets,
        )
        scores = reference.score(stats[judged]["features"], stats[judged]["intensities"])
        held_out_rates.append(scores.out_of_distribution.mean())
        rates = flag_rates(reference, model, foreign_images(images[judged], seed=1))
        assert set(rates) == set(FOREIGN_KINDS)
        assert all(rate >= 0.9 for rate in rates.values()), rates
    assert np.mean(held_out_rates) <= 0.05, held_out_rates
