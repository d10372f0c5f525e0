"""k-nearest-neighbour distance of samples from a training sample (Sun et al., ICML 2022).

``KNNDistance.fit(x_train, k, scaling)`` keeps (a random subset of) the scaled training rows;
calling it on new rows gives each row's Euclidean distance to its ``k``-th nearest training row.
The score assumes nothing about the shape of the training distribution (a set of lots is a
cluster per lot, not one Gaussian). ``scaling``:

- ``"unit"``: every row is scaled to unit L2 norm (Sun et al.'s normalisation of deep features;
  distances 0…2);
- ``"whitened"``: rows are centred and multiplied by the inverse square root of the training
  covariance, estimated with Ledoit–Wolf shrinkage (scikit-learn) after standardising each column,
  so distances are Mahalanobis distances (in standard deviations) and a block of correlated
  columns (e.g. neighbouring quantiles) counts once, not once per column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.neighbors import NearestNeighbors

SCALINGS = ("unit", "whitened")


def as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as ``float64 [N, D]`` with N ≥ 1 and only finite values, else ``ValueError`` naming it."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def _whitening(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(centre [D], transform [D, D])`` with ``(x - centre) @ transform`` of identity (shrunk) covariance."""
    centre, spread = x.mean(0), np.maximum(x.std(0), 1e-6)
    covariance = LedoitWolf().fit((x - centre) / spread).covariance_
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    return centre, (eigenvectors / np.sqrt(np.maximum(eigenvalues, 1e-12))) / spread[:, None]


def _scale(x: np.ndarray, scaling: str, centre: np.ndarray, transform: np.ndarray) -> np.ndarray:
    if scaling == "whitened":
        return (x - centre) @ transform
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass(eq=False)
class KNNDistance:
    """Distance to the ``k``-th nearest ``reference`` row ``float32 [N, D']`` (already scaled).

    ``centre`` ``[D]`` and ``transform`` ``[D, D]``: the whitening (``scaling="whitened"``; empty
    arrays for ``"unit"``).
    """

    reference: np.ndarray
    k: int
    scaling: str
    centre: np.ndarray
    transform: np.ndarray
    _index: NearestNeighbors | None = field(default=None, init=False, repr=False)

    @classmethod
    def fit(cls, x: np.ndarray, k: int = 1, scaling: str = "unit", max_rows: int = 2048, seed: int = 0) -> KNNDistance:
        """Keep the scaled rows of ``x`` ``[N, D]`` (a random ``max_rows`` of them when N is larger;
        ``k`` is capped at the rows kept)."""
        x = as_matrix(x, "training rows")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if scaling not in SCALINGS:
            raise ValueError(f"scaling {scaling!r}: choose {' or '.join(SCALINGS)}")
        centre, transform = _whitening(x) if scaling == "whitened" else (np.zeros(0), np.zeros((0, 0)))
        if len(x) > max_rows:
            x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))]
        reference = _scale(x, scaling, centre, transform).astype(np.float32)
        return cls(reference=reference, k=min(k, len(x)), scaling=scaling, centre=centre, transform=transform)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Distances ``float64 [M]`` of the rows of ``x`` ``[M, D]``."""
        x = as_matrix(x, "rows")
        expected = len(self.centre) if self.scaling == "whitened" else self.reference.shape[1]
        if x.shape[1] != expected:
            raise ValueError(f"rows have {x.shape[1]} columns, the reference was fitted on {expected}")
        if self._index is None:
            self._index = NearestNeighbors(n_neighbors=self.k).fit(self.reference.astype(np.float64))
        distances, _ = self._index.kneighbors(_scale(x, self.scaling, self.centre, self.transform))
        return distances[:, -1]

    def arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`from_arrays` needs besides :meth:`settings` (for saving)."""
        return {"reference": self.reference, "centre": self.centre, "transform": self.transform}

    def settings(self) -> dict:
        return {"k": self.k, "scaling": self.scaling}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], settings: dict) -> KNNDistance:
        scaling = str(settings["scaling"])
        if scaling not in SCALINGS:
            raise ValueError(f"unknown scaling {scaling!r}")
        reference, centre, transform = (np.asarray(arrays[n], np.float64) for n in ("reference", "centre", "transform"))
        k = int(settings["k"])
        if reference.ndim != 2 or not 1 <= k <= len(reference):
            raise ValueError(f"a reference of shape {reference.shape} with k={k}")
        if scaling == "whitened" and transform.shape != (len(centre), reference.shape[1]):
            raise ValueError(f"a whitening of shape {transform.shape} for {len(centre)} columns")
        return cls(reference=reference.astype(np.float32), k=k, scaling=scaling, centre=centre, transform=transform)
