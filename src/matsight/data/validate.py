"""``matsight validate``: check a dataset folder completely before anything runs.

:func:`validate` runs the layout reader (which lists every CSV/folder problem; a lots folder is read
without choosing a property, so every numeric column is checked and blank cells count as not
measured) and then decodes every image file under ``images/`` (not only those the CSV names), so
one call reports all problems at once in a single :class:`DataLayoutError`. On success it returns a
:class:`ValidationSummary` (image count, groups, sizes, container types, channels, each folder's
value range and effective bit depth, blank cells per numeric column) whose :meth:`~ValidationSummary.lines`
warn when the folders hold different bit depths.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.data.dataset import ImageTable
from matsight.data.images import decode_raw
from matsight.data.intensity import FolderRange, folder_ranges, value_sample
from matsight.data.layouts import Problems, image_files, read_classes, read_lots, read_multilabel
from matsight.errors import ConfigError, DataLayoutError, ImageReadError

LAYOUTS = ("lots", "multilabel", "classes")


@dataclass
class ValidationSummary:
    """What a valid folder holds; ``sizes``/``bit_depths``/``channels`` count images per value."""

    root: Path
    layout: str
    images: int
    groups: int
    sizes: Counter = field(default_factory=Counter)  # (height, width) -> images
    bit_depths: Counter = field(default_factory=Counter)  # e.g. "uint8" -> images
    channels: Counter = field(default_factory=Counter)  # 1 or 3 (or 4) -> images
    ranges: list[FolderRange] = field(default_factory=list)  # value range and effective depth per folder
    numeric_columns: list[str] = field(default_factory=list)  # lots: the property candidates and attributes
    blank: dict[str, int] = field(default_factory=dict)  # lots: numeric column -> lots with an empty cell
    nonfinite: list[Path] = field(default_factory=list)  # float images with some NaN or infinite pixels

    @property
    def depths(self) -> Counter:
        """Folders per kind of values, e.g. ``{"12-bit in uint16": 8, "8-bit in uint8": 8}``."""
        return Counter(
            f"{r.depth}-bit in {r.dtype}" if r.depth is not None else f"fixed range ({r.dtype})" for r in self.ranges
        )

    @property
    def mixed_ranges(self) -> bool:
        """Whether the folders hold different bit depths or kinds of values."""
        return len(self.depths) > 1

    def lines(self, max_folders: int = 20) -> list[str]:
        group_word = {"lots": "lots", "multilabel": "attributes", "classes": "classes"}[self.layout]
        sizes = ", ".join(f"{h}x{w} ({n})" for (h, w), n in self.sizes.most_common(5))
        more = f", … {len(self.sizes) - 5} more sizes" if len(self.sizes) > 5 else ""
        lines = [
            f"{self.root}: valid {self.layout} layout",
            f"  images: {self.images}, {group_word}: {self.groups}",
            f"  sizes (HxW): {sizes}{more}",
            "  bit depths: " + ", ".join(f"{d} ({n})" for d, n in sorted(self.bit_depths.items())),
            "  channels: " + ", ".join(f"{c} ({n})" for c, n in sorted(self.channels.items())),
        ]
        if self.numeric_columns:
            lines.append(
                "  numeric columns: "
                + ", ".join(f"{c} ({self.blank[c]} blank)" if self.blank.get(c) else c for c in self.numeric_columns)
            )
        lines.append("  values per folder:")
        for r in self.ranges[:max_folders]:
            lines.append(f"    {_relative(r.folder, self.root)} ({r.suffix}, {r.images} images): {r.describe()}")
        if len(self.ranges) > max_folders:
            lines.append(f"    … {len(self.ranges) - max_folders} more folders")
        if self.mixed_ranges:
            kinds = ", ".join(f"{kind} in {n} folder(s)" for kind, n in sorted(self.depths.items()))
            lines.append(
                f"  warning: the folders hold different kinds of values ({kinds}); matsight reads each folder "
                "at its own bit depth, so a saturated pixel is 1.0 in every folder "
                "(docs/data-layouts.md, section Intensities): check that this is what the instruments recorded"
            )
        if self.nonfinite:
            lines.append(
                f"  note: {len(self.nonfinite)} image(s) hold NaN or infinite pixels (first: "
                f"{_relative(self.nonfinite[0], self.root)}): NaN reads as the low end of the folder's range, "
                "+inf as the high end"
            )
        blank = [c for c in self.numeric_columns if self.blank.get(c)]
        if blank:
            lines.append(
                f"  note: lots with an empty {' / '.join(blank)} cell count as not measured: "
                "train leaves them out, predict predicts them"
            )
        return lines


def _relative(folder: Path, root: Path) -> str:
    try:
        return str(folder.relative_to(root)) or "."
    except ValueError:
        return str(folder)


def detect_layout(root: str | os.PathLike) -> str:
    """``lots`` if ``lots.csv`` exists, ``multilabel``/``classes`` by ``labels.csv``'s columns, else ``classes``."""
    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"{root} is not a folder; give the dataset folder (see docs/data-layouts.md)")
    for name in ("lots.csv", "labels.csv"):
        if (root / name).exists() and not (root / name).is_file():
            raise DataLayoutError(f"{root / name} is a folder, not a CSV file: rename it, or put the table there")
    if (root / "lots.csv").is_file():
        return "lots"
    labels = root / "labels.csv"
    if labels.is_file():
        try:
            columns = list(pd.read_csv(labels, nrows=0).columns)
        except Exception as exc:
            raise DataLayoutError(f"{labels} cannot be parsed as CSV ({exc.__class__.__name__}: {exc})") from None
        return "classes" if set(columns) == {"image", "label"} else "multilabel"
    if (root / "images").is_dir():
        return "classes"
    raise DataLayoutError(
        f"{root}: no lots.csv, labels.csv or images/ folder found; see docs/data-layouts.md "
        "or pass --layout lots|multilabel|classes"
    )


def read_dataset(root: str | os.PathLike, layout: str | None = None, target: str | None = None) -> ImageTable:
    """Read ``root`` with the reader of ``layout`` (lots, multilabel, classes; auto-detected when None);
    ``target``: the lots' property column (None: none chosen, see :func:`~matsight.data.layouts.read_lots`)."""
    root = Path(root)
    layout = layout or detect_layout(root)
    if layout == "lots":
        return read_lots(root, target=target)
    return read_multilabel(root) if layout == "multilabel" else read_classes(root)


def validate(root: str | os.PathLike, layout: str | None = None, target: str | None = None) -> ValidationSummary:
    """Check ``root`` as ``layout`` (auto-detected when None); raise one DataLayoutError listing every problem.

    A lots folder is checked without a property column unless ``target`` names one (then it must exist).
    """
    root = Path(root)
    if layout is None:
        layout = detect_layout(root)
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    problems = Problems(root)
    table = None
    try:
        table = read_dataset(root, layout, target)
    except DataLayoutError as exc:
        for item in getattr(exc, "problems", [str(exc)]):
            problems.add(item)
    images_dir = root / "images" if (root / "images").is_dir() else root
    files = sorted(set(table.paths) if table is not None else set(image_files(images_dir)))
    summary = ValidationSummary(
        root=root,
        layout=layout,
        images=len(files),
        groups=(len(set(table.groups)) if layout != "multilabel" else len(table.target_names))
        if table is not None
        else 0,
    )
    if table is not None:
        for problem in nonfinite_value_problems(table):
            problems.add(problem)
    decoded, arrays = [], []
    for path in files:
        try:
            array = decode_raw(path)
        except ImageReadError as exc:
            problems.add(str(exc))
            continue
        summary.sizes[array.shape[:2]] += 1
        summary.bit_depths[str(array.dtype)] += 1
        summary.channels[1 if array.ndim == 2 else array.shape[2]] += 1
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            summary.nonfinite.append(path)
        decoded.append(path)
        arrays.append(value_sample(array))
    problems.raise_if_any()
    summary.ranges = folder_ranges(decoded, arrays)
    if layout == "lots" and table is not None:
        summary.numeric_columns = list(table.target_names) + list(table.attribute_names)
        values = np.concatenate([table.targets, table.attributes], axis=1)
        for j, column in enumerate(summary.numeric_columns):
            summary.blank[column] = len({g for g, v in zip(table.groups, values[:, j]) if np.isnan(v)})
    return summary


def nonfinite_value_problems(table: ImageTable) -> list[str]:
    """One problem per numeric column (target or attribute) and infinite value (``inf``, ``-inf``),
    naming the CSV, the column, the value and the lots or images that carry it. A blank cell (NaN) is
    not a problem: it marks a lot that has not been measured yet."""
    csv = table.root / ("lots.csv" if table.task == "regression" else "labels.csv")
    names = list(table.target_names) + list(table.attribute_names)
    values = table.targets if table.attributes is None else np.concatenate([table.targets, table.attributes], axis=1)
    problems = []
    for name, column in zip(names, values.T):
        for value in sorted({str(v) for v in column[np.isinf(column)]}):
            rows = [
                g if table.task == "regression" else p.name
                for g, p, v in zip(table.groups, table.paths, column)
                if str(v) == value
            ]
            where = ", ".join(dict.fromkeys(rows).keys())
            problems.append(
                f"{csv}, column '{name}': {value} for {where} is not a finite number; write a number or remove the row"
            )
    return problems


def undecodable_image_problems(paths: list[Path]) -> list[str]:
    """One problem per image file that cannot be decoded (not an image, truncated, empty, or a
    symbolic link to something that is not an image)."""
    problems = []
    for path in paths:
        try:
            decode_raw(path)
        except ImageReadError as exc:
            problems.append(str(exc))
    return problems


def check_trainable(table: ImageTable) -> None:
    """Before the first epoch: raise one DataLayoutError listing every infinite value and every
    image that cannot be decoded (the checks ``matsight validate`` makes), so a bad file fails the
    run at once instead of in a later epoch."""
    problems = Problems(table.root)
    for problem in nonfinite_value_problems(table) + undecodable_image_problems(table.paths):
        problems.add(problem)
    problems.raise_if_any()
