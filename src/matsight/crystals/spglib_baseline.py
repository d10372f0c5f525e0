"""The symmetry-based baseline: spglib's space group, Wyckoff letters and stoichiometry → structure type.

A space group alone does not name a structure type (fcc, rock salt, fluorite and Heusler are all
Fm-3m), so the baseline classifies by a *symmetry key*: the space-group number plus, per chemical
species, its fraction of the atoms and the Wyckoff letters of its symmetry-distinct sites, with
the species themselves forgotten (a sorted tuple). The key → class table is read off pristine
structures at the same tolerance (:meth:`SymmetryClassifier.fit`); a structure whose key is not in
the table (typically: defects lowered the symmetry) is unclassified (−1), which counts as wrong.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

os.environ.setdefault("SPGLIB_WARNING", "OFF")  # defective cells make spglib print on every call

import numpy as np
import spglib
from ase import Atoms

TOLERANCES = {"tight": 1e-5, "medium": 1e-3, "loose": 1e-1}  # Å

SymmetryKey = tuple[int, tuple[tuple[float, tuple[str, ...]], ...]]


def symmetry_key(atoms: Atoms, symprec: float) -> SymmetryKey | None:
    """``(space group number, ((fraction, Wyckoff letters), ...))`` at tolerance ``symprec`` (Å), or None."""
    cell = (np.asarray(atoms.cell[:]), atoms.get_scaled_positions(wrap=True), atoms.numbers)
    with warnings.catch_warnings():  # spglib 2.x warns about its legacy error handling on every failure
        warnings.simplefilter("ignore", DeprecationWarning)
        data = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if data is None:
        return None
    numbers = np.asarray(atoms.numbers)
    per_species = []
    for z in np.unique(numbers):
        orbits = np.unique(np.asarray(data.equivalent_atoms)[numbers == z])
        letters = tuple(sorted(data.wyckoffs[o] for o in orbits))
        per_species.append((round(float(np.mean(numbers == z)), 3), letters))
    return int(data.number), tuple(sorted(per_species))


class SymmetryClassifier:
    """spglib at one tolerance as a structure-type classifier (``fit`` on pristine structures, then ``predict``)."""

    def __init__(self, symprec: float):
        self.symprec = symprec
        self.table: dict[SymmetryKey, int] = {}
        self.collisions: set[SymmetryKey] = set()

    def fit(self, structures: Sequence[Atoms], labels: Sequence[int]) -> SymmetryClassifier:
        """Record the key of every structure; a key seen with two classes is dropped (ambiguous)."""
        for atoms, label in zip(structures, labels):
            key = symmetry_key(atoms, self.symprec)
            if key is None or key in self.collisions:
                continue
            if self.table.setdefault(key, int(label)) != int(label):
                del self.table[key]
                self.collisions.add(key)
        return self

    def predict(self, structures: Sequence[Atoms]) -> np.ndarray:
        """Class index per structure (``int64 [N]``); −1 when the key is unknown or ambiguous."""
        return np.array([self.table.get(symmetry_key(a, self.symprec), -1) for a in structures], dtype=np.int64)


def fitted_baselines(structures: Sequence[Atoms], labels: Sequence[int]) -> dict[str, SymmetryClassifier]:
    """One :class:`SymmetryClassifier` per tolerance of :data:`TOLERANCES`, fitted on ``structures``."""
    return {name: SymmetryClassifier(tol).fit(structures, labels) for name, tol in TOLERANCES.items()}
