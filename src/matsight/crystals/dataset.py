"""Descriptor datasets in memory, and user structures in layout 5 of docs/data-layouts.md."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ase import Atoms
from torch.utils.data import Dataset

from matsight.crystals.library import CLASS_NAMES
from matsight.data.layouts import read_csv_file
from matsight.errors import DataLayoutError
from matsight.store.atomic import atomic_path

STRUCTURE_SUFFIXES = (".cif", ".vasp", ".xyz", ".extxyz")


class DescriptorDataset(Dataset):
    """``(descriptor, target float32 [1] = class index)`` pairs held in memory; ``inputs`` is
    ``float32 [N, 3, 64, 64]`` fingerprints or ``float32 [N, D]`` SOAP vectors."""

    def __init__(self, inputs: torch.Tensor, labels: np.ndarray | torch.Tensor):
        self.inputs = inputs.float()
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.float32).view(-1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.inputs[i], self.labels[i]


def read_structures(root: str | os.PathLike) -> tuple[list[Atoms], np.ndarray, list[str]]:
    """Read layout 5: ``structures/<name>.<cif|vasp|xyz|extxyz>`` and ``labels.csv`` (structure,label).

    ``label`` is a class name of :data:`CLASS_NAMES` or its index. Returns (atoms, labels, names).
    Raises :class:`DataLayoutError` naming the file or row at fault.
    """
    from ase.io import read

    root = Path(root)
    csv = root / "labels.csv"
    if not csv.exists():
        raise DataLayoutError(f"{csv} is missing: add a CSV with columns structure,label (layout 5)")
    table = read_csv_file(csv)
    missing = {"structure", "label"} - set(table.columns)
    if missing:
        raise DataLayoutError(f"{csv} lacks column(s) {', '.join(sorted(missing))}: expected structure,label")
    folder = (root / "structures").resolve()
    atoms, labels = [], []
    for row, (name, label) in enumerate(zip(table["structure"].str.strip(), table["label"].str.strip()), start=2):
        path = root / "structures" / name
        if path.suffix.lower() not in STRUCTURE_SUFFIXES:
            raise DataLayoutError(f"{csv} row {row}: {name!r} must end in one of {', '.join(STRUCTURE_SUFFIXES)}")
        if not path.exists():
            raise DataLayoutError(f"{csv} row {row}: structure file {path} does not exist")
        if not path.resolve().is_relative_to(folder):  # a '..' in the name, or a link to elsewhere
            raise DataLayoutError(
                f"{csv} row {row}: {path} leads outside {root / 'structures'} (to {path.resolve()}): "
                "copy the structure file into structures/"
            )
        try:
            atoms.append(read(path))
        except Exception as exc:  # ase raises many types for malformed files
            reason = f"{exc.__class__.__name__}: {str(exc)[:120]}"
            raise DataLayoutError(f"{path} cannot be read by ase.io.read ({reason}): fix or remove the file") from None
        text = label
        if text in CLASS_NAMES:
            labels.append(CLASS_NAMES.index(text))
        elif text.isdigit() and int(text) < len(CLASS_NAMES):
            labels.append(int(text))
        else:
            raise DataLayoutError(
                f"{csv} row {row}: label {text!r} is neither a prototype name ({CLASS_NAMES[0]}, "
                f"{CLASS_NAMES[1]}, ...: matsight.crystals.library.CLASS_NAMES) nor a class index "
                f"0-{len(CLASS_NAMES) - 1}"
            )
    return atoms, np.array(labels, dtype=np.int64), table["structure"].astype(str).tolist()


def write_structures(root: str | os.PathLike, structures: list[Atoms], labels) -> Path:
    """Write structures in layout 5 (extxyz files and labels.csv with class names); return ``root``."""
    from ase.io import write

    root = Path(root)
    (root / "structures").mkdir(parents=True, exist_ok=True)
    names = [f"s{i:05d}.extxyz" for i in range(len(structures))]
    for name, atoms in zip(names, structures):  # each file whole or not at all: a killed build leaves no half file
        with atomic_path(root / "structures" / name) as tmp:
            write(tmp, atoms, format="extxyz")
    with atomic_path(root / "labels.csv") as tmp:
        pd.DataFrame({"structure": names, "label": [CLASS_NAMES[int(c)] for c in labels]}).to_csv(tmp, index=False)
    return root
