"""Which images a run trained on, held out, or never saw — by content, so copies and moves still match.

``matsight train`` writes ``tables/split.parquet`` (and ``.csv``): one row per image it used, with
its path relative to the data folder, its lot, its split (``train`` or ``held-out``) and the SHA-256
of its bytes. :func:`split_of` labels any images by that table.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.data import ImageTable
from matsight.store import RunFolder

SPLIT_TABLE = "split"
TRAIN, HELD_OUT, NEW = "train", "held-out", "new"


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes (hex)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def split_frame(table: ImageTable, train_rows: np.ndarray, held_rows: np.ndarray) -> pd.DataFrame:
    """The table :func:`split_of` reads: ``image, lot, split, sha256`` for the rows of ``table`` used."""
    rows = np.concatenate([train_rows, held_rows]).astype(int)
    return pd.DataFrame(
        {
            "image": [table.paths[i].relative_to(table.root).as_posix() for i in rows],
            "lot": [table.groups[i] for i in rows],
            "split": [TRAIN] * len(train_rows) + [HELD_OUT] * len(held_rows),
            "sha256": [file_digest(table.paths[i]) for i in rows],
        }
    )


def split_of(run_dir: str | os.PathLike, paths: list[Path]) -> np.ndarray:
    """``train``, ``held-out`` or ``new`` for each image file, by its content; every image is ``new``
    when the run recorded no split (a model not trained by ``matsight train``)."""
    folder = Path(run_dir).parent if Path(run_dir).is_file() else Path(run_dir)
    if not (folder / "tables" / f"{SPLIT_TABLE}.parquet").is_file():
        return np.full(len(paths), NEW, dtype=object)
    stored = RunFolder(folder, create=False).read_table(SPLIT_TABLE)
    by_content: dict[str, str] = {}
    for digest, split in zip(stored["sha256"], stored["split"]):
        if by_content.get(digest) != TRAIN:  # an image both trained on and held out (a duplicate) was seen
            by_content[digest] = split
    return np.array([by_content.get(file_digest(p), NEW) for p in paths], dtype=object)
