"""SOAP descriptors (DScribe) of whole structures and of atoms, scale- and chemistry-agnostic, ARISE-style.

Each structure is first rescaled so that its mean nearest-neighbour distance is 1 (as for the
diffraction fingerprint), and its species are renamed by rank of atomic number (heaviest → slot 0,
…), so that the descriptor sees which atoms are the same species and how they are arranged, but
not which elements they are: a classifier trained on NaCl can read KBr. The structure descriptor is
the mean over atoms of the SOAP power spectrum (DScribe ``average="outer"``);
:meth:`SoapTransformer.transform_windows` gives the same for windows of a large structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from matsight.crystals.fingerprint import check_structure, is_periodic, mean_nearest_neighbour_distance
from matsight.errors import ConfigError

SLOT_SPECIES = ("H", "He", "Li", "Be")  # placeholder species of the rank slots


@dataclass(frozen=True)
class SoapSettings:
    """``r_cut`` and ``sigma`` in nearest-neighbour distances; ``max_species`` slots (heaviest first)."""

    r_cut: float = 3.0
    n_max: int = 4
    l_max: int = 6
    sigma: float = 0.25
    max_species: int = 3

    def __post_init__(self):
        if not 1 <= self.max_species <= len(SLOT_SPECIES):
            raise ConfigError(f"SoapSettings.max_species must be in 1..{len(SLOT_SPECIES)}, got {self.max_species}")
        if not (self.r_cut > 1 and self.sigma > 0 and self.n_max >= 1 and self.l_max >= 0):
            raise ConfigError(f"SoapSettings out of range: {self} (r_cut > 1 NN, sigma > 0, n_max ≥ 1, l_max ≥ 0)")


def slot_structure(atoms: Atoms, max_species: int) -> Atoms:
    """``atoms`` scaled to mean nearest-neighbour distance 1 with species renamed by rank of atomic
    number (slot 0 = heaviest → ``H``, slot 1 → ``He``, ...)."""
    check_structure(atoms)
    species = np.unique(atoms.numbers)[::-1]
    if len(species) > max_species:
        raise ConfigError(
            f"a structure with {len(species)} species exceeds SoapSettings.max_species={max_species}: raise it"
        )
    out = atoms.copy()
    scale = 1 / mean_nearest_neighbour_distance(atoms)
    if is_periodic(atoms):
        out.set_cell(atoms.cell[:] * scale, scale_atoms=True)
    else:
        out.positions = atoms.positions * scale
    rank = {int(z): k for k, z in enumerate(species)}
    out.numbers = np.array([rank[int(z)] + 1 for z in atoms.numbers])  # H, He, Li, Be
    return out


class SoapTransformer:
    """``SoapTransformer(settings).transform(structures) -> float32 [N, D]`` (mean per-atom power spectrum)."""

    def __init__(self, settings: SoapSettings = SoapSettings()):
        from dscribe.descriptors import SOAP

        self.settings = settings
        common = {
            "species": list(SLOT_SPECIES[: settings.max_species]),
            "r_cut": settings.r_cut,
            "n_max": settings.n_max,
            "l_max": settings.l_max,
            "sigma": settings.sigma,
        }
        self._mean = {p: SOAP(periodic=p, average="outer", **common) for p in (False, True)}

    @property
    def n_features(self) -> int:
        return int(self._mean[True].get_number_of_features())

    def transform(self, structures: Sequence[Atoms]) -> np.ndarray:
        """``float32 [len(structures), D]``."""
        out = np.zeros((len(structures), self.n_features), np.float32)
        for i, atoms in enumerate(structures):
            check_structure(atoms, i)
            out[i] = self._mean[is_periodic(atoms)].create(slot_structure(atoms, self.settings.max_species))
        return out

    def transform_windows(self, atoms: Atoms, centres: np.ndarray, radius: float) -> np.ndarray:
        """``float32 [W, D]``: per window, the mean power spectrum of the atoms of ``atoms``
        (non-periodic) within ``radius`` Å of ``centres [W, 3]`` (Å), their environments complete
        (atoms up to ``radius`` + the cutoff enter). Each window is scaled and slotted on its own."""
        from scipy.spatial import cKDTree

        tree = cKDTree(atoms.positions)
        nn = mean_nearest_neighbour_distance(atoms)
        out = np.zeros((len(centres), self.n_features), np.float32)
        for w, centre in enumerate(centres):
            near = np.asarray(tree.query_ball_point(centre, radius + (self.settings.r_cut + 0.5) * nn))
            window = atoms[near]
            window.pbc = False
            inner = np.flatnonzero(np.linalg.norm(window.positions - centre, axis=1) < radius)
            if len(inner) == 0:
                raise ConfigError(f"window {w} at {centre.round(2).tolist()} Å holds no atom: enlarge the radius")
            out[w] = self._mean[False].create(slot_structure(window, self.settings.max_species), centers=inner.tolist())
        return out
