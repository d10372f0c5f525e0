"""Which images a saliency run explains, draws and evaluates.

``select_images`` applies ``--lots`` / ``--images``; ``spread`` picks the drawn ones (evenly over the
lots and over each lot's images, not always the first); ``evaluation_rows`` the images of
``--evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from matsight.data.dataset import ImageTable
from matsight.errors import ConfigError

EVALUATE_IMAGES = 16
MAX_DRAWN_GROUPS = 6


def _inside(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX separators), or its name when it lies elsewhere."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def select_images(table: ImageTable, lots: Sequence[str] | None, images: Sequence[str] | None) -> np.ndarray:
    """Rows of ``table`` to explain: all, those of ``lots`` (group names) or ``images`` (file names or
    paths relative to the dataset). Raises ConfigError naming the option and some valid values."""
    if lots:
        known = list(dict.fromkeys(table.groups))
        missing = [lot for lot in lots if lot not in known]
        if missing:
            raise ConfigError(
                f"--lots: {', '.join(missing)} not in {table.root}; lots there: {', '.join(known[:12])}"
                + (" ..." if len(known) > 12 else "")
            )
        return np.array([i for i, g in enumerate(table.groups) if g in set(lots)])
    if images:
        keys: dict[str, list[int]] = {}
        for i, path in enumerate(table.paths):
            keys.setdefault(path.name, []).append(i)
            if _inside(path, table.root) != path.name:
                keys.setdefault(_inside(path, table.root), []).append(i)
        missing = [name for name in images if name not in keys]
        if missing:
            raise ConfigError(
                f"--images: {', '.join(missing)} not found in {table.root}; give file names such as "
                f"{', '.join(p.name for p in table.paths[:3])}"
            )
        ambiguous = [name for name in images if len(keys[name]) > 1]
        if ambiguous:
            example = _inside(table.paths[keys[ambiguous[0]][0]], table.root)
            raise ConfigError(
                f"--images: {', '.join(ambiguous)} names several files in {table.root}; give the path inside it, "
                f"e.g. {example}"
            )
        return np.array([keys[name][0] for name in images])
    return np.arange(len(table))


def spread(groups: list[str], per_group: int, max_groups: int | None = MAX_DRAWN_GROUPS) -> dict[str, list[int]]:
    """Up to ``per_group`` row indices of each of up to ``max_groups`` groups, evenly spaced over the
    groups (in order of first appearance) and over each group's rows (not always the first ones)."""
    names = list(dict.fromkeys(groups))
    if max_groups is not None and len(names) > max_groups:
        names = [names[i] for i in np.linspace(0, len(names) - 1, max_groups).round().astype(int)]
    chosen = {}
    for name in names:
        rows = [i for i, g in enumerate(groups) if g == name]
        take = np.linspace(0, len(rows) - 1, min(per_group, len(rows))).round().astype(int)
        chosen[name] = [rows[i] for i in dict.fromkeys(take.tolist())]
    return chosen


def evaluation_rows(groups: list[str], n: int = EVALUATE_IMAGES) -> list[int]:
    """Up to ``n`` row indices spread over all groups (round robin), in table order."""
    rows = sorted(i for chosen in spread(groups, -(-n // len(set(groups))), None).values() for i in chosen)
    return [rows[i] for i in np.linspace(0, len(rows) - 1, min(n, len(rows))).round().astype(int)]
