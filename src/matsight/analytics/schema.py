"""Column conventions of the app's analytics folder.

An analytics folder holds ``points.parquet`` (one row per image) and ``analytics.json``. Columns of
``points.parquet``:

- ``image`` (str): path relative to ``<data_root>/images/``; ``split`` (str): ``train`` / ``val``;
- ``act_x, act_y, fea_x, fea_y, prd_x, prd_y`` (float32): 2-D embeddings of the three spaces;
- ``error`` (float32): ACT-PRD distance (metric named in ``analytics.json["distance"]``);
- per attribute ``k`` in order: ``label__<k>`` (uint8 0/1) and ``prob__<k>`` (float32 in [0, 1]).

Light module: imports nothing (no torch, no pandas).
"""

from __future__ import annotations

SPACES = ("act", "fea", "prd")
COORDINATES = tuple(f"{space}_{axis}" for space in SPACES for axis in "xy")
LABEL_PREFIX = "label__"
PROB_PREFIX = "prob__"


def label_column(attribute: str) -> str:
    """Name of the 0/1 label column of ``attribute``."""
    return LABEL_PREFIX + attribute


def prob_column(attribute: str) -> str:
    """Name of the predicted-probability column of ``attribute``."""
    return PROB_PREFIX + attribute


def columns(attributes: list[str]) -> list[str]:
    """All columns of ``points.parquet`` in order, for ``attributes``."""
    per_attribute = [c for a in attributes for c in (label_column(a), prob_column(a))]
    return ["image", "split", *COORDINATES, "error", *per_attribute]
