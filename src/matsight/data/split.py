"""The one train / held-out split: random tiles, or whole random lots."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matsight.data.dataset import ImageTable
from matsight.errors import ConfigError

SPLITS = ("tiles", "lots")


def split_indices(
    rows: ImageTable | Sequence[str] | int, by: str = "tiles", fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(train, held_out)`` row indices.

    ``rows``: an :class:`ImageTable`, each row's lot, or (``by="tiles"``) the number of rows. ``by="tiles"`` holds
    out ``max(1, round(n · fraction))`` random rows; ``by="lots"`` holds out
    ``max(1, round(lots · fraction))`` random whole lots. The same ``seed`` gives the same split.
    """
    if by not in SPLITS:
        raise ConfigError(f"--split {by!r}: choose tiles or lots")
    if not 0 < fraction < 1:
        raise ConfigError(f"the held-out fraction must be between 0 and 1, got {fraction}")
    groups = rows.groups if isinstance(rows, ImageTable) else rows
    rng = np.random.default_rng(seed)
    if by == "lots":
        if isinstance(groups, int):
            raise ConfigError("a lot-wise split needs each row's lot")
        lots = np.array(sorted(set(groups)))
        held = set(rng.choice(lots, size=max(1, round(len(lots) * fraction)), replace=False))
        is_held = np.array([g in held for g in groups], bool)
    else:
        n = groups if isinstance(groups, int) else len(groups)
        is_held = np.zeros(n, bool)
        is_held[rng.permutation(n)[: max(1, round(n * fraction))]] = True
    return np.flatnonzero(~is_held), np.flatnonzero(is_held)
