"""The symmetry-based baseline: spglib's space group mapped to the 7 classes."""

from __future__ import annotations

import os
from collections.abc import Sequence

os.environ.setdefault("SPGLIB_WARNING", "OFF")  # defective cells make spglib print on every call

import numpy as np
import spglib
from ase import Atoms

from matsight.crystals.prototypes import SPACE_GROUP_TO_CLASS

TOLERANCES = {"tight": 1e-5, "medium": 1e-3, "loose": 1e-1}


def space_group_number(atoms: Atoms, symprec: float) -> int | None:
    """International space-group number spglib finds at tolerance ``symprec`` (Å), or None."""
    cell = (np.asarray(atoms.cell[:]), atoms.get_scaled_positions(wrap=True), atoms.numbers)
    result = spglib.get_spacegroup(cell, symprec=symprec)
    return int(result.split("(")[1].rstrip(")")) if result else None


def spglib_classify(structures: Sequence[Atoms], symprec: float) -> np.ndarray:
    """Class index per structure (``int64 [N]``); −1 when the space group is none of the 8."""
    return np.array([SPACE_GROUP_TO_CLASS.get(space_group_number(a, symprec), -1) for a in structures], dtype=np.int64)
