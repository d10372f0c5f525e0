"""Readers for the dataset layouts of DATA_LAYOUTS.md (1 lots, 2 multi-label, 3 classes, 4 texture bank).

Each reader checks the folder and raises :class:`DataLayoutError` listing every problem found
(with its file, row and column) before anything runs. ``matsight.data.validate`` reuses them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.data.dataset import ImageTable
from matsight.data.images import is_image_file
from matsight.errors import DataLayoutError


class Problems:
    """Collects problems; ``raise_if_any`` raises one DataLayoutError listing them all."""

    def __init__(self, root: Path):
        self.root = root
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self) -> None:
        if len(self.items) == 1:
            error = DataLayoutError(
                self.items[0] if str(self.root) in self.items[0] else f"{self.root}: {self.items[0]}"
            )
            error.problems = list(self.items)
            raise error
        if self.items:
            shown = self.items[:50]
            more = f"\n  ... and {len(self.items) - 50} more" if len(self.items) > 50 else ""
            error = DataLayoutError(
                f"{self.root}: {len(self.items)} problem(s) found:\n  - " + "\n  - ".join(shown) + more
            )
            error.problems = list(self.items)  # for matsight.data.validate, which merges them with image checks
            raise error


def require_folder(root: Path) -> None:
    """DataLayoutError unless ``root`` is an existing folder (one clear line before any other check)."""
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataLayoutError(f"{root} {what}: give the dataset folder (see DATA_LAYOUTS.md)")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))


def _read_csv(path: Path, problems: Problems) -> pd.DataFrame | None:
    if not path.is_file():
        problems.add(f"{path} is missing: create it (see DATA_LAYOUTS.md)")
        return None
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        problems.add(f"{path} cannot be parsed as CSV ({exc.__class__.__name__}: {exc})")
        return None
    if df.empty:
        problems.add(f"{path} has a header but no rows: add one row per image or lot")
        return None
    return df


def _numeric_column(df: pd.DataFrame, column: str, csv: Path, problems: Problems) -> np.ndarray:
    values = pd.to_numeric(df[column].str.strip(), errors="coerce")
    for row in np.flatnonzero(values.isna().to_numpy()):
        problems.add(
            f"{csv} row {row + 2}, column '{column}': {df[column].iloc[row]!r} is not a number; write a number"
        )
    return values.to_numpy(dtype=np.float32)


def read_lots(root: str | os.PathLike, target: str = "cps", attributes: list[str] | None = None) -> ImageTable:
    """Layout 1: ``lots.csv`` (``lot``, the target column, optional numeric attributes) + ``images/<lot>/``.

    ``attributes=None`` takes every column other than ``lot`` and the target that holds any
    number (a non-numeric cell in such a column is reported); wholly text columns are ignored.
    """
    root = Path(root)
    require_folder(root)
    problems = Problems(root)
    csv = root / "lots.csv"
    df = _read_csv(csv, problems)
    images_dir = root / "images"
    if not images_dir.is_dir():
        problems.add(f"{images_dir} is missing: put each lot's tiles in images/<lot>/")
    if df is None:
        problems.raise_if_any()
    for column in ("lot", target):
        if column not in df.columns:
            hint = " (choose the property column with --target)" if column == target else ""
            problems.add(f"{csv}: column '{column}' is missing{hint}; columns are {', '.join(df.columns)}")
    problems.raise_if_any()
    df["lot"] = df["lot"].str.strip()
    for row, count in df["lot"].value_counts().items():
        if count > 1:
            problems.add(f"{csv}: lot '{row}' appears {count} times; keep one row per lot")
    if attributes is None:  # columns with any number are attributes (so a typo in one is reported, not dropped)
        attributes = [
            c
            for c in df.columns
            if c not in ("lot", target) and pd.to_numeric(df[c].str.strip(), errors="coerce").notna().any()
        ]
    for column in attributes:
        if column not in df.columns:
            problems.add(f"{csv}: attribute column '{column}' is missing; columns are {', '.join(df.columns)}")
    target_values = _numeric_column(df, target, csv, problems)
    present = [c for c in attributes if c in df.columns]  # a missing one is a problem, raised below
    attribute_values = (
        np.stack([_numeric_column(df, c, csv, problems) for c in present], axis=1)
        if present
        else np.zeros((len(df), 0), np.float32)
    )
    folders = {p.name for p in images_dir.iterdir() if p.is_dir()} if images_dir.is_dir() else set()
    paths, targets, groups, attrs = [], [], [], []
    for row, lot in enumerate(df["lot"]):
        if lot not in folders:
            problems.add(
                f"{csv} row {row + 2}: lot '{lot}' has no folder {images_dir / lot}; add the folder or remove the row"
            )
            continue
        files = _images_in(images_dir / lot)
        if not files:
            problems.add(f"{images_dir / lot}: lot '{lot}' has no images; add tiles or remove the lot")
        paths += files
        targets += [[target_values[row]]] * len(files)
        attrs += [attribute_values[row]] * len(files)
        groups += [lot] * len(files)
    for folder in sorted(folders - set(df["lot"])):
        problems.add(f"{images_dir / folder}: folder has no row in {csv}; add a row or remove the folder")
    problems.raise_if_any()
    return ImageTable(
        root=root,
        paths=paths,
        targets=np.asarray(targets, np.float32).reshape(-1, 1),
        groups=groups,
        target_names=[target],
        task="regression",
        attributes=np.asarray(attrs, np.float32).reshape(len(paths), -1),
        attribute_names=list(attributes),
    )


def read_multilabel(root: str | os.PathLike) -> ImageTable:
    """Layout 2: ``labels.csv`` (``image``, then one 0/1 column per attribute) + ``images/``."""
    root = Path(root)
    require_folder(root)
    problems = Problems(root)
    csv = root / "labels.csv"
    df = _read_csv(csv, problems)
    if df is None:
        problems.raise_if_any()
    if "image" not in df.columns:
        problems.add(f"{csv}: column 'image' is missing; columns are {', '.join(df.columns)}")
        problems.raise_if_any()
    names = [c for c in df.columns if c != "image"]
    if not names:
        problems.add(f"{csv}: no attribute columns after 'image'")
    labels = np.zeros((len(df), len(names)), np.float32)
    for j, column in enumerate(names):
        values = df[column].str.strip()
        for row in np.flatnonzero(~values.isin(["0", "1"]).to_numpy()):
            problems.add(
                f"{csv} row {row + 2}, column '{column}': {df[column].iloc[row]!r} is not 0 or 1; write 0 or 1"
            )
        labels[:, j] = (values == "1").to_numpy()
    paths = []
    for row, name in enumerate(df["image"].str.strip()):
        path = root / "images" / name
        if not path.is_file():
            problems.add(f"{csv} row {row + 2}: image {path} does not exist; fix the path or remove the row")
        paths.append(path)
    problems.raise_if_any()
    return ImageTable(
        root=root, paths=paths, targets=labels, groups=["all"] * len(paths), target_names=names, task="multilabel"
    )


def read_classes(root: str | os.PathLike) -> ImageTable:
    """Layout 3 (and 4): ``images/<class>/*`` or ``labels.csv`` with ``image,label``.

    The DTD archive's ``dtd/`` or ``dtd/images/`` both work as ``root``.
    """
    root = Path(root)
    require_folder(root)
    problems = Problems(root)
    csv = root / "labels.csv"
    images_dir = root / "images" if (root / "images").is_dir() else root
    if csv.is_file():
        df = _read_csv(csv, problems)
        if df is not None and not {"image", "label"} <= set(df.columns):
            problems.add(f"{csv}: needs columns 'image,label'; columns are {', '.join(df.columns)}")
        problems.raise_if_any()
        entries = [(images_dir / str(i).strip(), str(c).strip()) for i, c in zip(df["image"], df["label"])]
        for row, (path, _) in enumerate(entries):
            if not path.is_file():
                problems.add(f"{csv} row {row + 2}: image {path} does not exist; fix the path or remove the row")
    else:
        if not root.is_dir():
            problems.add(f"{root} is not a folder")
            problems.raise_if_any()
        entries = [
            (p, folder.name)
            for folder in sorted(d for d in images_dir.iterdir() if d.is_dir())
            for p in _images_in(folder)
        ]
        if not entries:
            problems.add(f"{images_dir}: no images found in class folders images/<class>/")
    problems.raise_if_any()
    classes = sorted({c for _, c in entries})
    index = {c: i for i, c in enumerate(classes)}
    return ImageTable(
        root=root,
        paths=[p for p, _ in entries],
        targets=np.asarray([[index[c]] for _, c in entries], np.float32).reshape(-1, 1),
        groups=[c for _, c in entries],
        target_names=["label"],
        task="classification",
        class_names=classes,
    )
