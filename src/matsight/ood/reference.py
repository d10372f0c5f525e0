"""The training run's reference for judging new images, and its per-image verdicts.

``fit_reference`` keeps two k-nearest-neighbour distances (:mod:`matsight.ood.distances`) from
the training images: of a model's features (unit-normalised rows, Sun et al. 2022) and of the
images' intensity statistics (whitened with a Ledoit–Wolf covariance). Each threshold is the
conformal quantile of the distances of *held-out* images (never trained on, so their features are
as far from the training images' as a new image's), the ⌈(n+1)·q⌉-th smallest of n (Vovk et al.
2005; Angelopoulos & Bates 2021): a new image from the training distribution exceeds it with
probability ≤ 1 − q, and is flagged with probability ≤ 2(1 − q). With fewer than q/(1 − q)
held-out images a threshold is their largest distance, and the rate achieved by one run varies
more (it follows a Beta(1, n) law).

``OODReference.score`` divides each distance by its threshold: ``feature_score``,
``intensity_score``; ``ood_score`` is the larger, and an image is *out of distribution* when it
exceeds 1. Predictions outside the range of the training targets are flagged separately.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from matsight.errors import ConfigError, RunFolderError
from matsight.ood.distances import KNNDistance, as_matrix
from matsight.ood.features import INTENSITY_STATISTICS
from matsight.ood.persistence import FIX, read_bundle, write_bundle

FORMAT = "matsight-ood-1"
FEATURES_UNLIKE = "features unlike training"
INTENSITIES_UNLIKE = "intensities unlike training"


def conformal_threshold(distances: np.ndarray, quantile: float) -> float:
    """The ⌈(n+1)·quantile⌉-th smallest of ``distances`` ``[n]`` (the largest when that rank exceeds n)."""
    ordered = np.sort(np.asarray(distances, dtype=np.float64))
    rank = min(
        math.ceil((len(ordered) + 1) * quantile - 1e-9), len(ordered)
    )  # 1e-9: a product meant as 91 may be 91.000…01
    return max(float(ordered[rank - 1]), 1e-12)


def format_range(low: float, high: float) -> str:
    """``213–386``: a target range with 4 significant digits."""
    return f"{low:.4g}–{high:.4g}"


@dataclass(frozen=True, eq=False)
class OODScores:
    """Verdicts on N images (arrays ``[N]``).

    ``feature_score``, ``intensity_score``: distance / threshold (> 1: unlike training);
    ``ood_score``: their maximum; ``out_of_distribution``: ``ood_score > 1``;
    ``outside_target_range``: a prediction lies outside the training targets' range
    (``target_ranges``: ``(low, high)`` per target column, empty without targets);
    ``reasons``: short phrases per image (empty list when nothing is wrong).
    """

    feature_score: np.ndarray
    intensity_score: np.ndarray
    ood_score: np.ndarray
    out_of_distribution: np.ndarray
    outside_target_range: np.ndarray
    target_ranges: list[tuple[float, float]]
    reasons: list[list[str]]

    def __len__(self) -> int:
        return len(self.ood_score)

    def columns(self) -> dict[str, list]:
        """Table columns: ``out_of_distribution`` (bool), ``ood_score`` (float), ``outside_target_range``
        (bool), ``ood_reasons`` (phrases joined by ``"; "``)."""
        return {
            "out_of_distribution": self.out_of_distribution.tolist(),
            "ood_score": self.ood_score.tolist(),
            "outside_target_range": self.outside_target_range.tolist(),
            "ood_reasons": ["; ".join(r) for r in self.reasons],
        }


@dataclass(eq=False)
class OODReference:
    """What a training run keeps to judge new inputs (see the module docstring).

    ``features``, ``intensities``: the two distances; ``*_threshold``: their held-out thresholds;
    ``quantile``: the conformal level they were set at; ``target_low``, ``target_high``
    ``float64 [T]``: the training targets' range per column (empty for classifiers);
    ``train_images``, ``heldout_images``: how many images the reference was fitted on.
    """

    features: KNNDistance
    intensities: KNNDistance
    feature_threshold: float
    intensity_threshold: float
    quantile: float
    target_low: np.ndarray
    target_high: np.ndarray
    train_images: int
    heldout_images: int

    def score(self, features: np.ndarray, intensities: np.ndarray, predictions: np.ndarray | None = None) -> OODScores:
        """Verdicts on N images from their ``features`` ``[N, D]``, ``intensities`` ``[N, S]``
        (:func:`matsight.ood.features.forward_with_statistics`) and, for regressors, their
        ``predictions`` ``[N]`` or ``[N, T]`` in the targets' units."""
        feature_score = self.features(features) / self.feature_threshold
        intensity_score = self.intensities(intensities) / self.intensity_threshold
        if len(feature_score) != len(intensity_score):
            raise ValueError(f"{len(feature_score)} feature rows but {len(intensity_score)} intensity rows")
        outside = np.zeros((len(feature_score), len(self.target_low)), bool)
        if predictions is not None and len(self.target_low):
            values = np.asarray(predictions, dtype=np.float64).reshape(len(feature_score), -1)
            if values.shape[1] != len(self.target_low):
                raise ValueError(f"predictions have {values.shape[1]} columns, the targets {len(self.target_low)}")
            outside = (values < self.target_low) | (values > self.target_high)
        ranges = [(float(lo), float(hi)) for lo, hi in zip(self.target_low, self.target_high)]
        reasons = []
        for i in range(len(feature_score)):
            phrases = [FEATURES_UNLIKE] * bool(feature_score[i] > 1) + [INTENSITIES_UNLIKE] * bool(
                intensity_score[i] > 1
            )
            for column in np.flatnonzero(outside[i]):
                which = "prediction" if len(ranges) == 1 else f"prediction {column + 1}"
                phrases.append(f"{which} outside training range {format_range(*ranges[column])}")
            reasons.append(phrases)
        ood_score = np.maximum(feature_score, intensity_score)
        return OODScores(
            feature_score=feature_score,
            intensity_score=intensity_score,
            ood_score=ood_score,
            out_of_distribution=ood_score > 1,
            outside_target_range=outside.any(axis=1),
            target_ranges=ranges,
            reasons=reasons,
        )

    # -- persistence ----------------------------------------------------------------------
    def parts(self) -> tuple[dict, dict[str, np.ndarray]]:
        """``(settings, arrays)``: everything that defines the reference, as JSON values and arrays."""
        settings = {
            "feature_threshold": self.feature_threshold,
            "intensity_threshold": self.intensity_threshold,
            "quantile": self.quantile,
            "train_images": self.train_images,
            "heldout_images": self.heldout_images,
            "features": self.features.settings(),
            "intensities": self.intensities.settings(),
            "intensity_statistics": list(INTENSITY_STATISTICS),
        }
        arrays = {"target_low": self.target_low, "target_high": self.target_high}
        for prefix, distance in (("features", self.features), ("intensities", self.intensities)):
            arrays.update({f"{prefix}.{name}": value for name, value in distance.arrays().items()})
        return settings, arrays

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OODReference):
            return NotImplemented
        (mine, my_arrays), (theirs, their_arrays) = self.parts(), other.parts()
        return (
            mine == theirs
            and my_arrays.keys() == their_arrays.keys()
            and all(np.array_equal(my_arrays[k], their_arrays[k]) for k in my_arrays)
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write ``path`` (``….json``) and its arrays beside it (``….npz``): data only, no pickle."""
        write_bundle(path, FORMAT, *self.parts())

    @classmethod
    def load(cls, path: str | os.PathLike) -> OODReference:
        """Read what :meth:`save` wrote; raises :class:`RunFolderError` naming the file when it is
        missing, corrupt, pickled or from another model's statistics."""
        settings, arrays = read_bundle(path, FORMAT)
        try:
            if settings["intensity_statistics"] != list(INTENSITY_STATISTICS):
                raise ValueError("it was written with other intensity statistics")
            if any(not np.issubdtype(a.dtype, np.number) for a in arrays.values()):
                raise ValueError("it holds non-numeric arrays")
            distances = {
                prefix: KNNDistance.from_arrays(
                    {name.split(".", 1)[1]: a for name, a in arrays.items() if name.startswith(prefix + ".")},
                    settings[prefix],
                )
                for prefix in ("features", "intensities")
            }
            return cls(
                **distances,
                feature_threshold=float(settings["feature_threshold"]),
                intensity_threshold=float(settings["intensity_threshold"]),
                quantile=float(settings["quantile"]),
                target_low=np.asarray(arrays["target_low"], np.float64),
                target_high=np.asarray(arrays["target_high"], np.float64),
                train_images=int(settings["train_images"]),
                heldout_images=int(settings["heldout_images"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise RunFolderError(f"{path} is not a usable out-of-distribution reference ({detail}): {FIX}") from None


def fit_reference(
    features_train: np.ndarray,
    features_heldout: np.ndarray,
    intensities_train: np.ndarray,
    intensities_heldout: np.ndarray,
    targets_train: np.ndarray | None = None,
    quantile: float = 0.99,
    neighbours: int = 1,
) -> OODReference:
    """Fit the reference of a trained model.

    ``features_*`` ``[N, D]`` and ``intensities_*`` ``[N, S]``: from
    :func:`matsight.ood.features.dataset_statistics` over the training images and over held-out
    images (evaluation crops, never trained on); ``targets_train`` ``[N]`` or ``[N, T]``: the
    regression targets of the training images in the user's units (NaN cells ignored; None for
    classifiers); ``quantile``: the conformal level of both thresholds; ``neighbours``: the k of
    both k-NN distances.
    """
    if not 0 < quantile < 1:
        raise ConfigError(f"the out-of-distribution quantile must lie between 0 and 1, got {quantile}")
    if neighbours < 1:
        raise ConfigError(f"the number of neighbours must be at least 1, got {neighbours}")
    rows = {
        name: as_matrix(array, name)
        for name, array in (
            ("features_train", features_train),
            ("features_heldout", features_heldout),
            ("intensities_train", intensities_train),
            ("intensities_heldout", intensities_heldout),
        )
    }
    for part in ("train", "heldout"):
        if len(rows[f"features_{part}"]) != len(rows[f"intensities_{part}"]):
            raise ValueError(
                f"features_{part} has {len(rows[f'features_{part}'])} rows but intensities_{part} "
                f"{len(rows[f'intensities_{part}'])}: give both for the same images"
            )
    if len(rows["features_train"]) < 2:
        raise ValueError("the reference needs at least 2 training images")
    features_train, features_heldout = rows["features_train"], rows["features_heldout"]
    intensities_train, intensities_heldout = rows["intensities_train"], rows["intensities_heldout"]
    features = KNNDistance.fit(features_train, neighbours, scaling="unit")
    intensities = KNNDistance.fit(intensities_train, neighbours, scaling="whitened")
    if targets_train is None:
        low = high = np.zeros(0)
    else:
        targets = np.asarray(targets_train, dtype=np.float64).reshape(len(features_train), -1)
        if np.isnan(targets).all(axis=0).any():
            raise ValueError("a target column has no measured value among the training images")
        low, high = np.nanmin(targets, axis=0), np.nanmax(targets, axis=0)
    return OODReference(
        features=features,
        intensities=intensities,
        feature_threshold=conformal_threshold(features(features_heldout), quantile),
        intensity_threshold=conformal_threshold(intensities(intensities_heldout), quantile),
        quantile=quantile,
        target_low=low,
        target_high=high,
        train_images=len(features_train),
        heldout_images=len(features_heldout),
    )
