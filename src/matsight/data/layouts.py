"""Readers for the dataset layouts of docs/data-layouts.md (1 lots, 2 multi-label, 3 classes, 4 texture bank).

Each reader checks the folder and raises :class:`DataLayoutError` listing every problem found
(with its file, row and column) before anything runs. ``matsight.data.validate`` reuses them.
"""

from __future__ import annotations

import csv
import os
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.data.dataset import ImageTable
from matsight.data.images import check_header, is_image_file
from matsight.errors import ConfigError, DataLayoutError, ImageReadError


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
        raise DataLayoutError(f"{root} {what}: give the dataset folder (see docs/data-layouts.md)")


def require_readable(table: ImageTable) -> None:
    """DataLayoutError listing every image of ``table`` whose header shows it cannot be read
    (:func:`~matsight.data.images.check_header`): the check before a prediction or explanation of a whole
    folder, which decodes its images only as it reaches them."""
    problems = Problems(table.root)
    for path in table.paths:
        try:
            check_header(path)
        except ImageReadError as exc:
            problems.add(str(exc))
    problems.raise_if_any()


def _nfc(name: str) -> str:
    """``name`` in Unicode normal form C, so that ``é`` typed as one character or as ``e`` + accent match."""
    return unicodedata.normalize("NFC", name)


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder``, broken links included (they are reported, not skipped)."""
    return sorted(p for p in folder.rglob("*") if (p.is_file() or p.is_symlink()) and is_image_file(p))


def _read_csv(path: Path, problems: Problems) -> pd.DataFrame | None:
    """``path`` as a table of text cells (UTF-8, with or without a byte-order mark; comma-separated; blank
    lines skipped; header names stripped). Every structural problem is added to ``problems`` with its row
    (1 = the header) and the fix, and ``None`` returned: a file that is missing, not UTF-8, separated by
    ``;`` or tabs, with an empty or repeated column name, or a row with more or fewer cells than the header."""
    if not path.is_file():
        problems.add(f"{path} is missing: create it (see docs/data-layouts.md)")
        return None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [
                (number, row) for number, row in enumerate(csv.reader(handle), start=1) if any(c.strip() for c in row)
            ]
    except UnicodeDecodeError as exc:
        problems.add(f"{path} is not UTF-8 text (byte {exc.start}): save it as CSV UTF-8")
        return None
    except csv.Error as exc:
        problems.add(f"{path} cannot be parsed as CSV ({exc}): save it as comma-separated CSV")
        return None
    if not rows:
        problems.add(f"{path} is empty: add a header and one row per image or lot")
        return None
    header = [name.strip() for name in rows[0][1]]
    if len(header) == 1 and (separator := next((s for s in (";", "\t", "|") if s in header[0]), None)):
        shown = {"\t": "tabs"}.get(separator, f"'{separator}'")
        problems.add(f"{path}: the header is separated by {shown}, not commas; save the file as comma-separated CSV")
        return None
    before = len(problems.items)
    for column, name in enumerate(header, start=1):
        if not name:
            problems.add(f"{path} row 1, column {column}: the column has no name; name it or delete the column")
        elif header.index(name) < column - 1:
            problems.add(f"{path} row 1: column '{name}' appears twice; rename or delete one of them")
    body = []
    for number, row in rows[1:]:
        extra = row[len(header) :]
        if len(row) < len(header) or any(cell.strip() for cell in extra):
            problems.add(
                f"{path} row {number}: {len(row)} cells where the header has {len(header)}; a comma inside a "
                'value needs quotes ("1,5"), and every row needs one cell per column'
            )
        body.append(row[: len(header)])
    if len(problems.items) > before:
        return None
    if not body:
        problems.add(f"{path} has a header but no rows: add one row per image or lot")
        return None
    return pd.DataFrame(body, columns=header, dtype=str)


def _numeric_column(df: pd.DataFrame, column: str, csv: Path, problems: Problems) -> np.ndarray:
    """The column as float32; blank cells are NaN (not measured), any other non-number is a problem."""
    text = df[column].str.strip()
    values = pd.to_numeric(text, errors="coerce")
    for row in np.flatnonzero((values.isna() & (text != "")).to_numpy()):
        problems.add(
            f"{csv} row {row + 2}, column '{column}': {df[column].iloc[row]!r} is not a number; "
            "write a number, or leave the cell empty when it was not measured"
        )
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, reported by nonfinite_value_problems
        return values.to_numpy(dtype=np.float64).astype(np.float32)


def numeric_columns(df: pd.DataFrame) -> list[str]:
    """Columns of a lots table other than ``lot`` that hold any number (the property candidates and the
    attributes); wholly text or empty columns are ignored."""
    return [c for c in df.columns if c != "lot" and pd.to_numeric(df[c].str.strip(), errors="coerce").notna().any()]


def read_csv_file(path: str | os.PathLike) -> pd.DataFrame:
    """The CSV ``path`` as text cells (the rules of the dataset layouts: UTF-8, comma-separated, one cell
    per column in every row); DataLayoutError naming the file, row and fix when it is missing or malformed."""
    path = Path(path)
    problems = Problems(path.parent)
    df = _read_csv(path, problems)
    problems.raise_if_any()
    return df


def read_lots_csv(root: str | os.PathLike) -> pd.DataFrame:
    """``root/lots.csv`` as text cells (:func:`read_csv_file`)."""
    return read_csv_file(Path(root) / "lots.csv")


def choose_target(root: str | os.PathLike, target: str | None = None) -> str:
    """The property column of ``root/lots.csv``: ``target`` when given (it must exist), else the one
    numeric column; several numeric columns need ``--target`` (one line listing them)."""
    csv = Path(root) / "lots.csv"
    require_folder(Path(root))
    df = read_lots_csv(root)
    numeric = numeric_columns(df)
    if target is not None:
        if target not in df.columns:
            raise DataLayoutError(
                f"{csv}: column '{target}' (--target) is missing; numeric columns are {', '.join(numeric) or 'none'}"
            )
        return target
    if len(numeric) == 1:
        return numeric[0]
    if not numeric:
        raise DataLayoutError(f"{csv} has no numeric column to predict: add the measured property as a column")
    raise ConfigError(
        f"{csv} has {len(numeric)} numeric columns ({', '.join(numeric)}): choose the property to predict with "
        "--target; the others become attribute columns"
    )


def read_lots(root: str | os.PathLike, target: str | None = None, attributes: list[str] | None = None) -> ImageTable:
    """Layout 1: ``lots.csv`` (``lot``, the property column, optional numeric attributes) + ``images/<lot>/``.

    ``target``: the property column; its blank cells are lots not measured yet (NaN targets;
    :meth:`ImageTable.measured` leaves them out). ``target=None``: no property chosen (what
    ``matsight validate`` reads): targets ``[N, 0]`` and every numeric column is an attribute.
    ``attributes=None`` takes every numeric column other than ``lot`` and the target (a non-numeric
    cell in such a column is reported; blank cells are NaN); wholly text columns are ignored.
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
    if "lot" not in df.columns:
        problems.add(f"{csv}: column 'lot' is missing; columns are {', '.join(df.columns)}")
    if target is not None and target not in df.columns:
        problems.add(
            f"{csv}: column '{target}' is missing (the property column, --target); "
            f"numeric columns are {', '.join(numeric_columns(df)) or 'none'}"
        )
    problems.raise_if_any()
    df["lot"] = df["lot"].str.strip()
    for row, count in df["lot"].value_counts().items():
        if count > 1:
            problems.add(f"{csv}: lot '{row}' appears {count} times; keep one row per lot")
    if attributes is None:  # columns with any number are attributes (so a typo in one is reported, not dropped)
        attributes = [c for c in numeric_columns(df) if c != target]
    for column in attributes:
        if column not in df.columns:
            problems.add(f"{csv}: attribute column '{column}' is missing; columns are {', '.join(df.columns)}")
    target_values = (
        _numeric_column(df, target, csv, problems)[:, None]
        if target is not None
        else np.zeros((len(df), 0), np.float32)
    )
    present = [c for c in attributes if c in df.columns]  # a missing one is a problem, raised below
    attribute_values = (
        np.stack([_numeric_column(df, c, csv, problems) for c in present], axis=1)
        if present
        else np.zeros((len(df), 0), np.float32)
    )
    # a name typed in the CSV and the same name as a folder on macOS may be stored in different Unicode forms
    folders = {_nfc(p.name): p.name for p in images_dir.iterdir() if p.is_dir()} if images_dir.is_dir() else {}
    paths, targets, groups, attrs = [], [], [], []
    for row, lot in enumerate(df["lot"]):
        if _nfc(lot) not in folders:
            problems.add(
                f"{csv} row {row + 2}: lot '{lot}' has no folder {images_dir / lot}; add the folder or remove the row"
            )
            continue
        files = image_files(images_dir / folders[_nfc(lot)])
        if not files:
            problems.add(f"{images_dir / lot}: lot '{lot}' has no images; add tiles or remove the lot")
        paths += files
        targets += [target_values[row]] * len(files)
        attrs += [attribute_values[row]] * len(files)
        groups += [lot] * len(files)
    for key in sorted(set(folders) - {_nfc(lot) for lot in df["lot"]}):
        problems.add(f"{images_dir / folders[key]}: folder has no row in {csv}; add a row or remove the folder")
    problems.raise_if_any()
    return ImageTable(
        root=root,
        paths=paths,
        targets=np.asarray(targets, np.float32).reshape(len(paths), target_values.shape[1]),
        groups=groups,
        target_names=[target] if target is not None else [],
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
            for p in image_files(folder)
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


def read_images(root: str | os.PathLike) -> ImageTable:
    """Any folder of images (any nesting), nothing measured: what ``matsight predict`` reads when the
    folder has no lots.csv/labels.csv. A folder with ``images/`` reads that; each image's lot is its
    sub-folder relative to it (``""`` for images directly inside). Targets are ``[N, 0]``."""
    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"{root} is not a folder; give a folder of images (see docs/data-layouts.md)")
    base = root / "images" if (root / "images").is_dir() else root
    paths = image_files(base)
    if not paths:
        raise DataLayoutError(f"{base}: no images found (PNG, TIFF, JPEG, BMP at any depth); see docs/data-layouts.md")
    groups = [p.parent.relative_to(base).as_posix() for p in paths]
    return ImageTable(
        root=root,
        paths=paths,
        targets=np.zeros((len(paths), 0), np.float32),
        groups=[g if g != "." else "" for g in groups],
        target_names=[],
        task="none",
    )
