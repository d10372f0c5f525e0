"""Any folder read for a trained model: its layout with whatever was measured, or just images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from matsight.data.dataset import ImageTable
from matsight.data.layouts import (
    read_classes,
    read_images,
    read_lots,
    read_lots_csv,
    read_multilabel,
    require_readable,
)
from matsight.errors import ConfigError

if TYPE_CHECKING:
    from matsight.models import ModelSpec


def read_for_model(data: str | os.PathLike, spec: ModelSpec) -> ImageTable:
    """:func:`_read_for_model`, with every image's header checked (:func:`require_readable`)."""
    table = _read_for_model(data, spec)
    require_readable(table)
    return table


def _read_for_model(data: str | os.PathLike, spec: ModelSpec) -> ImageTable:
    """``data`` read for the model ``spec``: targets ``[N, num_outputs or 1]``, NaN where not measured.

    Regression: a lots folder (the property column may be missing or have blank cells), else any
    folder of images. Multi-label: a ``labels.csv`` folder with the model's attributes, else any folder
    of images. Classification: class folders (a folder named like no class of the model is unknown),
    else any folder of images. Images of a plain folder get their sub-folder as lot.
    """
    root = Path(data)
    width = spec.num_outputs if spec.task != "classification" else 1
    if spec.task == "regression" and (root / "lots.csv").is_file():
        target = spec.target if spec.target in read_lots_csv(root).columns else None
        table = read_lots(root, target=target)
        if target is None:
            table.targets = np.full((len(table), width), np.nan, np.float32)
        return table
    if spec.task == "multilabel" and (root / "labels.csv").is_file():
        table = read_multilabel(root)
        if spec.target_names and table.target_names != list(spec.target_names):
            raise ConfigError(
                f"{root / 'labels.csv'}: attributes {table.target_names} differ from the model's "
                f"{list(spec.target_names)}; use data labelled with the model's attributes, or a folder of images"
            )
        return table
    if spec.task == "classification" and ((root / "labels.csv").is_file() or _has_subfolders(root)):
        table = read_classes(root)
        index = {name: i for i, name in enumerate(spec.class_names)}
        names = [table.class_names[int(i)] for i in table.targets[:, 0]]
        table.targets = np.array([[index.get(n, np.nan)] for n in names], np.float32).reshape(-1, 1)
        table.class_names = list(spec.class_names)
        return table
    table = read_images(root)
    table.targets = np.full((len(table), width), np.nan, np.float32)
    table.task = spec.task
    return table


def _has_subfolders(root: Path) -> bool:
    base = root / "images" if (root / "images").is_dir() else root
    return base.is_dir() and any(p.is_dir() for p in base.iterdir())
