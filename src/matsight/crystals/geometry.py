"""Supercells and rotations of crystal structures (lengths in Å, :class:`ase.Atoms` in and out)."""

from __future__ import annotations

import numpy as np
from ase import Atoms


def supercell_repeats(
    cell: np.ndarray, atoms_per_cell: int, target: int = 200, bounds: tuple[int, int] = (128, 256)
) -> tuple[int, int, int]:
    """Repeats along the three cell vectors giving a roughly isotropic block of about ``target`` atoms."""
    lengths = np.linalg.norm(cell, axis=1)
    reps = np.stack(np.meshgrid(*[np.arange(1, 13)] * 3, indexing="ij"), -1).reshape(-1, 3)
    n = reps.prod(axis=1) * atoms_per_cell
    extent = lengths * reps
    inside = (bounds[0] <= n) & (n <= bounds[1])
    # first key: distance to the bounds' target when outside them; then aspect ratio + size mismatch
    primary = np.where(inside, 0, np.abs(n - target))
    secondary = extent.max(axis=1) / extent.min(axis=1) + np.abs(n - target) / target
    return tuple(int(r) for r in reps[np.lexsort((secondary, primary))[0]])


def supercell(atoms: Atoms, target: int = 200) -> Atoms:
    """``atoms`` repeated to roughly ``target`` atoms (within 128–256 for the default target)."""
    lo, hi = (128, 256) if 128 <= target <= 256 else (target // 2, target * 2)
    return atoms.repeat(supercell_repeats(atoms.cell[:], len(atoms), target, (lo, hi)))


def random_rotation(rng: np.random.Generator, max_degrees: float) -> np.ndarray:
    """A rotation matrix about a random axis by an angle uniform in [−max_degrees, max_degrees]."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def rotate(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    """``atoms`` with cell and positions rotated by ``rotation`` (3×3); fractional coordinates kept."""
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ rotation.T, scale_atoms=True)
    return out
