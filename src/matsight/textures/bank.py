"""Texture bank reader: DTD layout (docs/data-layouts.md §3/§4) → an :class:`ImageTable` of classes.

Images of any size are resized and centre-cropped to the model's input by
:class:`matsight.data.ImageDataset` at extraction time, so the real DTD (``dtd/`` or
``dtd/images/``) and the procedural bank (:mod:`matsight.synth.textures`) read the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from matsight.data import read_classes
from matsight.data.dataset import ImageTable
from matsight.errors import DataLayoutError


def read_bank(root: str | os.PathLike, per_class: int | None = None, seed: int = 0) -> ImageTable:
    """All bank images (or ``per_class`` drawn at random from each class), class index in ``targets[:, 0]``.

    Raises :class:`DataLayoutError` when the bank has fewer than two classes (no ranking is possible).
    """
    if (Path(root) / "lots.csv").is_file():
        raise DataLayoutError(
            f"{root} holds a lots.csv: it is a lots folder, not a texture bank (layout 4, images/<texture>/); "
            "give the bank, e.g. one made by `matsight synth textures BANK`"
        )
    table = read_classes(root)
    if len(table.class_names) < 2:
        raise DataLayoutError(
            f"{root}: a texture bank needs at least 2 classes in images/<class>/, found {len(table.class_names)}"
        )
    if per_class is None:
        return table
    rng = np.random.default_rng(seed)
    labels = table.targets[:, 0].astype(int)
    keep = [
        i
        for c in range(len(table.class_names))
        for i in sorted(rng.permutation(np.flatnonzero(labels == c))[:per_class])
    ]
    return table.subset(keep)
