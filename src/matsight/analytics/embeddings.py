"""2-D t-SNE embeddings of the ACT, FEA and PRD spaces (openTSNE), with placement of new images.

``SpaceEmbedding(space).fit_transform(X)`` → ``float32 [N, 2]``; ``.transform(X_new)`` places new
rows into the fitted embedding without refitting (openTSNE's ``TSNEEmbedding.transform``).
FEA is reduced to 50 principal components first; ACT (0/1 label vectors, many duplicates) is
embedded over its unique vectors and every image gets its vector's position plus a small jitter.
"""

from __future__ import annotations

import numpy as np
from openTSNE import TSNE
from sklearn.decomposition import PCA

from matsight.errors import ConfigError

SPACES = ("act", "fea", "prd")


class SpaceEmbedding:
    """t-SNE of one space. ``perplexity`` is capped at (rows − 1)/3 for small inputs; ``jitter`` is
    the ACT jitter as a fraction of the embedding's spread."""

    def __init__(
        self,
        space: str,
        perplexity: float = 30.0,
        seed: int = 0,
        jitter: float = 0.02,
        pca_components: int = 50,
        n_jobs: int = 1,
    ):
        if space not in SPACES:
            raise ConfigError(f"space {space!r}: choose one of {', '.join(SPACES)}")
        self.space, self.perplexity, self.seed, self.jitter = space, perplexity, seed, jitter
        self.pca_components, self.n_jobs = pca_components, n_jobs
        self.pca_: PCA | None = None
        self.embedding_ = None
        self.unique_: np.ndarray | None = None
        self._centres: np.ndarray | None = None

    def _reduce(self, X: np.ndarray, fit: bool) -> np.ndarray:
        X = np.asarray(X, np.float32)
        if self.space != "fea" or X.shape[1] <= self.pca_components:
            return X
        if fit:
            self.pca_ = PCA(n_components=min(self.pca_components, len(X)), random_state=self.seed).fit(X)
        return self.pca_.transform(X).astype(np.float32)

    def _tsne(self, X: np.ndarray) -> np.ndarray:
        if len(X) < 4:  # t-SNE needs a few points: put them on a circle
            angles = np.arange(len(X)) * 2 * np.pi / max(len(X), 1)
            self.embedding_ = None
            return np.c_[np.cos(angles), np.sin(angles)] * 10
        perplexity = min(self.perplexity, (len(X) - 1) / 3)
        self.embedding_ = TSNE(
            n_components=2,
            perplexity=perplexity,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            initialization="pca" if len(X) > 2 else "random",
            verbose=False,
        ).fit(X)
        return np.asarray(self.embedding_)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """Fit on ``X`` ``[N, D]`` and return its 2-D coordinates ``float32 [N, 2]``."""
        X = self._reduce(X, fit=True)
        if self.space != "act":
            return self._tsne(X).astype(np.float32)
        self.unique_, inverse = np.unique(X, axis=0, return_inverse=True)
        self._centres = self._tsne(self.unique_)
        return self._jittered(self._centres[inverse.ravel()])

    def _jittered(self, coords: np.ndarray) -> np.ndarray:
        spread = float(np.ptp(self._centres, axis=0).max()) if len(self._centres) > 1 else 1.0
        rng = np.random.default_rng(self.seed)
        return (coords + rng.normal(0, self.jitter * spread, coords.shape)).astype(np.float32)

    def transform(self, X_new: np.ndarray) -> np.ndarray:
        """Place new rows ``[M, D]`` into the fitted embedding (no refit): ``float32 [M, 2]``.

        ACT rows equal to a fitted label vector take its position; other rows are optimised
        against the fitted points with everything fitted held fixed."""
        if self.embedding_ is None and self.unique_ is None:
            raise RuntimeError("call fit_transform first")
        X = self._reduce(X_new, fit=False)
        if self.space != "act":
            return np.asarray(self.embedding_.transform(X), np.float32)
        coords = np.empty((len(X), 2))
        lookup = {row.tobytes(): i for i, row in enumerate(self.unique_)}
        index = np.array([lookup.get(row.tobytes(), -1) for row in X])
        coords[index >= 0] = self._centres[index[index >= 0]]
        if (index < 0).any():
            coords[index < 0] = np.asarray(self.embedding_.transform(X[index < 0]))
        return self._jittered(coords)


def place_new(embeddings: dict[str, SpaceEmbedding], vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Coordinates of new images in existing embeddings: ``{space: float32 [M, 2]}`` for every
    space in ``vectors`` (``{"act": labels, "fea": features, "prd": probabilities}``)."""
    return {space: embeddings[space].transform(X) for space, X in vectors.items()}
