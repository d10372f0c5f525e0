"""Bench: how often matsight's out-of-distribution check flags held-out, unseen-lot and foreign images.

Generates synthetic SEM lots, trains a ResNet-18 regressor with matsight's own fit loop (Adam,
cosine schedule) on 60 % of the tiles of all but ``--unseen-lots`` lots, and computes model
features and intensity statistics of the training tiles, the other 40 % (held out), the tiles of
the unseen lots, and foreign images made from the held-out tiles (:func:`matsight.ood.foreign_images`).
The held-out tiles are split ``--splits`` times at random into a calibration half (sets the
thresholds) and a test half (judged); every rate is the mean over the splits (the held-out rate
also its maximum). Detector variants: the default (stage-mean features, k-NN k=1, union with the
whitened intensity statistics), its components alone, other k, the penultimate features alone, and
Mahalanobis distances (PCA to 32 components, Ledoit–Wolf covariance) instead of k-NN.

    nice -n 10 env OMP_NUM_THREADS=1 python bench/ood_rates.py [--lots 16 --unseen-lots 4 --tiles 40
        --size 48 --epochs 10 --splits 20 --seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA

from matsight.data import read_lots
from matsight.models import ModelSpec, build_model
from matsight.ood import FOREIGN_KINDS, conformal_threshold, fit_reference, foreign_images, forward_with_statistics
from matsight.ood.distances import KNNDistance
from matsight.ood.features import penultimate_layer
from matsight.store import RunFolder
from matsight.synth.sem import generate_lots
from matsight.training import FitConfig, fit


def statistics(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 64) -> dict[str, np.ndarray]:
    """forward_with_statistics over ``images`` plus ``penultimate``: the head's input."""
    captured: list[torch.Tensor] = []
    hook = penultimate_layer(model).register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    parts: dict[str, list[np.ndarray]] = {}
    try:
        for start in range(0, len(images), batch_size):
            for key, value in forward_with_statistics(model, images[start : start + batch_size]).items():
                parts.setdefault(key, []).append(value)
    finally:
        hook.remove()
    out = {key: np.concatenate(values) for key, values in parts.items()}
    out["penultimate"] = torch.cat(captured).numpy()
    return out


class Mahalanobis:
    """Mahalanobis distance after PCA to ``components`` (Ledoit–Wolf covariance): the alternative to k-NN."""

    def __init__(self, x: np.ndarray, components: int = 32):
        self.pca = PCA(n_components=min(components, x.shape[1], len(x) - 1)).fit(x)
        self.covariance = LedoitWolf().fit(self.pca.transform(x))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(self.covariance.mahalanobis(self.pca.transform(x)))


def one_distance(kind: str, key: str, k: int = 1):
    """A detector on one statistic: ``(train, calibration) -> (judge(stats) -> bool [N])``."""

    def build(train: dict, calibration: dict):
        if kind == "knn":
            distance = KNNDistance.fit(train[key], k, scaling="whitened" if key == "intensities" else "unit")
        else:
            distance = Mahalanobis(train[key])
        threshold = conformal_threshold(distance(calibration[key]), 0.99)
        return lambda stats: distance(stats[key]) > threshold

    return build


def default_detector(k: int = 1):
    def build(train: dict, calibration: dict):
        reference = fit_reference(
            train["features"], calibration["features"], train["intensities"], calibration["intensities"], neighbours=k
        )
        return lambda stats: reference.score(stats["features"], stats["intensities"]).out_of_distribution

    return build


VARIANTS = {
    "default: stage features ∪ intensities, k-NN k=1": default_detector(1),
    "default with k=5": default_detector(5),
    "default with k=10": default_detector(10),
    "stage features alone, k-NN k=1": one_distance("knn", "features"),
    "intensity statistics alone, whitened k-NN k=1": one_distance("knn", "intensities"),
    "penultimate features alone, k-NN k=1": one_distance("knn", "penultimate"),
    "penultimate features alone, Mahalanobis": one_distance("mahalanobis", "penultimate"),
    "stage features alone, Mahalanobis": one_distance("mahalanobis", "features"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lots", type=int, default=16)
    parser.add_argument("--unseen-lots", type=int, default=4)
    parser.add_argument("--tiles", type=int, default=40)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ood_bench_") as scratch:
        total = args.lots + args.unseen_lots
        root = generate_lots(
            Path(scratch) / "lots", lots=total, tiles_per_lot=args.tiles, size=args.size, seed=args.seed
        )
        table = read_lots(root, target="cps")
        lots = sorted(set(table.groups))
        unseen = set(lots[args.lots :])
        seen_rows = np.array([i for i, g in enumerate(table.groups) if g not in unseen])
        unseen_rows = np.array([i for i, g in enumerate(table.groups) if g in unseen])
        order = np.random.default_rng(args.seed).permutation(seen_rows)
        train_rows, held_rows = order[: round(0.6 * len(order))], order[round(0.6 * len(order)) :]
        crop = args.size - args.size // 12
        targets = table.targets[train_rows]
        spec = ModelSpec(
            arch="resnet18",
            task="regression",
            num_outputs=1,
            target_names=tuple(table.target_names),
            image_size=args.size,
            crop_size=crop,
            target_mean=tuple(targets.mean(0).tolist()),
            target_std=tuple(targets.std(0).tolist()),
        )
        dataset = lambda rows, augment=False: spec.dataset(table.subset(rows), augment=augment, cache=True)  # noqa: E731
        model = build_model("resnet18", "regression")
        print(f"training on {len(train_rows)} tiles for {args.epochs} epochs ...", flush=True)
        config = FitConfig(epochs=args.epochs, optimizer="adam", lr=1e-3, schedule="cosine", seed=args.seed)
        fit(
            model, dataset(train_rows, augment=True), dataset(held_rows), spec, RunFolder(Path(scratch) / "run"), config
        )
        model.eval()
        stack = lambda rows: torch.stack([dataset(rows)[i][0] for i in range(len(rows))])  # noqa: E731
        images = {"train": stack(train_rows), "held out": stack(held_rows), "unseen lots": stack(unseen_rows)}
        images.update(foreign_images(images["held out"], seed=args.seed + 1))
        stats = {name: statistics(model, batch) for name, batch in images.items()}
    predicted = stats["held out"]["output"][:, 0] * targets.std() + targets.mean()
    measured = table.targets[held_rows, 0]
    r2 = 1 - ((predicted - measured) ** 2).sum() / ((measured - measured.mean()) ** 2).sum()
    print(
        f"{len(train_rows)} training tiles, {len(held_rows)} held out, {len(unseen_rows)} of {args.unseen_lots} unseen "
        f"lots, {args.size} px; held-out tile R² {r2:.2f}; {time.perf_counter() - started:.0f} s so far"
    )
    half = len(held_rows) // 2
    columns = ["held out (mean)", "held out (max)", "unseen lots", *FOREIGN_KINDS]
    print("\n| detector | " + " | ".join(columns) + " |")
    print("|" + "---|" * (len(columns) + 1))
    for name, build in VARIANTS.items():
        rates = []
        for split in range(args.splits):
            shuffled = np.random.default_rng([args.seed, split]).permutation(len(held_rows))
            calibration = {k: v[shuffled[:half]] for k, v in stats["held out"].items()}
            judged = {k: v[shuffled[half:]] for k, v in stats["held out"].items()}
            flags = build(stats["train"], calibration)
            rates.append(
                [flags(judged).mean(), flags(stats["unseen lots"]).mean()]
                + [flags(stats[k]).mean() for k in FOREIGN_KINDS]
            )
        rates = np.array(rates)
        cells = [rates[:, 0].mean(), rates[:, 0].max(), *rates[:, 1:].mean(0)]
        print(f"| {name} | " + " | ".join(f"{100 * c:.1f} %" for c in cells) + " |")
    tic = time.perf_counter()
    reference = fit_reference(
        stats["train"]["features"],
        stats["held out"]["features"],
        stats["train"]["intensities"],
        stats["held out"]["intensities"],
    )
    fitted = time.perf_counter() - tic
    tic = time.perf_counter()
    reference.score(stats["uniform noise"]["features"], stats["uniform noise"]["intensities"])
    per_image = (time.perf_counter() - tic) / len(stats["uniform noise"]["features"])
    print(
        f"\nfit_reference {fitted:.2f} s; score {1e3 * per_image:.2f} ms per image; "
        f"total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
