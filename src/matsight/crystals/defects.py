"""Defects applied to a pristine supercell: displacements, vacancies, substitutions, strain, rotation.

Every function takes a seed (or a ``numpy.random.Generator``) and returns a new
:class:`ase.Atoms`; the same seed gives the same defective structure. :func:`apply_defect` names
them with one level each: ``displacement`` σ as a fraction of the mean nearest-neighbour distance,
``vacancies`` and ``substitution`` fractions of the atoms, ``strain`` the magnitude of a random
symmetric strain, ``rotation`` the maximum angle (degrees) of a random rotation.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from matsight.errors import ConfigError


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _count(fraction: float, n: int, what: str) -> int:
    if not 0 <= fraction < 1:
        raise ConfigError(f"{what} fraction {fraction} must be in [0, 1)")
    return int(round(fraction * n))


def displace(atoms: Atoms, sigma: float, seed: int | np.random.Generator = 0) -> Atoms:
    """Move every atom by a Gaussian vector with standard deviation ``sigma`` Å per axis."""
    out = atoms.copy()
    out.positions = atoms.positions + _rng(seed).normal(scale=sigma, size=atoms.positions.shape)
    return out


def vacancies(atoms: Atoms, fraction: float, seed: int | np.random.Generator = 0) -> Atoms:
    """Remove ``round(fraction · N)`` atoms chosen at random."""
    k = _count(fraction, len(atoms), "vacancy")
    removed = _rng(seed).choice(len(atoms), size=k, replace=False)
    out = atoms.copy()
    del out[sorted(removed.tolist())]
    return out


def substitute(atoms: Atoms, fraction: float, element: str | int = "Cu", seed: int | np.random.Generator = 0) -> Atoms:
    """Replace the species of ``round(fraction · N)`` random atoms by ``element``
    (it must differ from the atoms' own species so that exactly that many change)."""
    k = _count(fraction, len(atoms), "substitution")
    out = atoms.copy()
    new = Atoms(element).numbers[0] if isinstance(element, str) else int(element)
    if k and np.any(atoms.numbers == new):
        raise ConfigError(f"substitute element {element} is already in the structure: choose another one")
    chosen = _rng(seed).choice(len(atoms), size=k, replace=False)
    numbers = out.numbers.copy()
    numbers[chosen] = new
    out.numbers = numbers
    return out


def strain(atoms: Atoms, magnitude: float, seed: int | np.random.Generator = 0) -> Atoms:
    """Deform cell and atoms by ``I + ε`` (:func:`matsight.crystals.library.strain_matrix`)."""
    from matsight.crystals.library import strain_matrix

    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ strain_matrix(_rng(seed), magnitude).T, scale_atoms=True)
    return out


def rotation(atoms: Atoms, max_degrees: float, seed: int | np.random.Generator = 0) -> Atoms:
    """Rotate cell and atoms about a random axis by up to ``max_degrees``."""
    from matsight.crystals.geometry import random_rotation, rotate

    return rotate(atoms, random_rotation(_rng(seed), max_degrees))


def _relative_displacement(atoms: Atoms, fraction: float, seed: int | np.random.Generator = 0) -> Atoms:
    from matsight.crystals.fingerprint import mean_nearest_neighbour_distance

    return displace(atoms, fraction * mean_nearest_neighbour_distance(atoms), seed)


def _substitution(atoms: Atoms, fraction: float, seed: int | np.random.Generator = 0) -> Atoms:
    return substitute(atoms, fraction, "Cu" if "Cu" not in atoms.get_chemical_symbols() else "Ag", seed)


DEFECTS = {
    "displacement": _relative_displacement,
    "vacancies": vacancies,
    "substitution": _substitution,
    "strain": strain,
    "rotation": rotation,
}


def apply_defect(atoms: Atoms, defect: str, level: float, seed: int | np.random.Generator = 0) -> Atoms:
    """``defect`` (a key of :data:`DEFECTS`, level as in the module docstring) applied to ``atoms``."""
    if defect not in DEFECTS:
        raise ConfigError(f"unknown defect {defect!r}: choose one of {', '.join(DEFECTS)}")
    return DEFECTS[defect](atoms, level, seed)
