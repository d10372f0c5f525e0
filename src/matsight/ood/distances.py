"""k-nearest-neighbour distance of samples from a training sample (Sun et al., ICML 2022).

``KNNDistance.fit(x_train, k, scaling)`` keeps (a random subset of) the scaled training rows;
calling it on new rows gives each row's Euclidean distance to its ``k``-th nearest training row.
The score assumes nothing about the shape of the training distribution (a set of lots is a
cluster per lot, not one Gaussian). ``scaling``:

- ``"rows"``: every row is scaled to unit L2 norm (Sun et al.'s normalisation of deep features;
  distances 0…2);
- ``"columns"``: every column is standardised with the training mean and standard deviation
  (for statistics in different units; distances in standard deviations).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.neighbors import NearestNeighbors

SCALINGS = ("rows", "columns")


def as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as ``float64 [N, D]`` with N ≥ 1 and only finite values, else ``ValueError`` naming it."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def _scale(x: np.ndarray, scaling: str, centre: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Rows of ``x`` ``[M, D]`` scaled to unit norm (``rows``) or standardised per column (``columns``)."""
    if scaling == "columns":
        return (x - centre) / spread
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass(eq=False)
class KNNDistance:
    """Distance to the ``k``-th nearest ``reference`` row ``float32 [N, D]`` (already scaled).

    ``centre``, ``spread`` ``[D]``: the column standardisation (``scaling="columns"``; empty
    arrays for ``"rows"``).
    """

    reference: np.ndarray
    k: int
    scaling: str
    centre: np.ndarray
    spread: np.ndarray
    _index: NearestNeighbors | None = field(default=None, init=False, repr=False)

    @classmethod
    def fit(cls, x: np.ndarray, k: int = 5, scaling: str = "rows", max_rows: int = 2048, seed: int = 0) -> KNNDistance:
        """Keep the scaled rows of ``x`` ``[N, D]``, N ≥ 2 (a random ``max_rows`` of them when N is
        larger; ``k`` is capped at the rows kept minus one, so :meth:`leave_one_out` is defined)."""
        x = as_matrix(x, "training rows")
        if len(x) < 2:
            raise ValueError(f"need at least 2 training rows, got {len(x)}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if scaling not in SCALINGS:
            raise ValueError(f"scaling {scaling!r}: choose {' or '.join(SCALINGS)}")
        if scaling == "columns":
            centre, spread = x.mean(0), np.maximum(x.std(0), 1e-6)
        else:
            centre = spread = np.zeros(0)
        if len(x) > max_rows:
            x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))]
        reference = _scale(x, scaling, centre, spread).astype(np.float32)
        return cls(reference=reference, k=min(k, len(x) - 1), scaling=scaling, centre=centre, spread=spread)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Distances ``float64 [M]`` of the rows of ``x`` ``[M, D]``."""
        x = as_matrix(x, "rows")
        if x.shape[1] != self.reference.shape[1]:
            raise ValueError(f"rows have {x.shape[1]} columns, the reference has {self.reference.shape[1]}")
        distances, _ = self._neighbours().kneighbors(_scale(x, self.scaling, self.centre, self.spread))
        return distances[:, self.k - 1]

    def leave_one_out(self) -> np.ndarray:
        """Distance ``float64 [N]`` of every reference row to its ``k``-th nearest *other* reference row."""
        distances, _ = self._neighbours().kneighbors(self.reference.astype(np.float64), n_neighbors=self.k + 1)
        return distances[:, self.k]

    def _neighbours(self) -> NearestNeighbors:
        if self._index is None:
            self._index = NearestNeighbors(n_neighbors=self.k).fit(self.reference.astype(np.float64))
        return self._index

    def arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`from_arrays` needs besides :meth:`settings` (for saving)."""
        return {"reference": self.reference, "centre": self.centre, "spread": self.spread}

    def settings(self) -> dict:
        return {"k": self.k, "scaling": self.scaling}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], settings: dict) -> KNNDistance:
        return cls(
            reference=arrays["reference"],
            k=int(settings["k"]),
            scaling=str(settings["scaling"]),
            centre=arrays["centre"],
            spread=arrays["spread"],
        )
