"""Defects applied to a pristine supercell: random displacements, vacancies, substitutions.

Every function takes a seed (or a ``numpy.random.Generator``) and returns a new
:class:`ase.Atoms`; the same seed gives the same defective structure.
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


DEFECTS = {"displacement": displace, "vacancies": vacancies, "substitution": substitute}


def apply_defect(atoms: Atoms, defect: str, level: float, seed: int | np.random.Generator = 0) -> Atoms:
    """``defect`` ∈ {displacement (level = σ in Å), vacancies (level = fraction η),
    substitution (level = fraction)} applied to ``atoms``."""
    if defect not in DEFECTS:
        raise ConfigError(f"unknown defect {defect!r}: choose one of {', '.join(DEFECTS)}")
    if defect == "substitution":
        element = "Cu" if "Cu" not in atoms.get_chemical_symbols() else "Ag"
        return substitute(atoms, level, element, seed)
    return DEFECTS[defect](atoms, level, seed)
