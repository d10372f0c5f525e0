"""Pristine crystal prototypes from ASE's reference states, and the 7 classes of Ziletti et al.

Eight space groups: 139 (bct, In), 141 (bct β-Sn), 166 (rhombohedral As, Sb, Bi, Hg, Sm),
194 (hcp), 221 (sc, Po), 225 (fcc), 227 (diamond C, Si, Ge), 229 (bcc). 166 and 194 give the
same fingerprint and form one class, hence 7 classes. Variety comes from scaling the lattice
constant, perturbing c/a where that keeps the space group (bct, hcp) and rotating the structure.
Every structure is a periodic :class:`ase.Atoms` supercell of roughly 128–256 atoms (lengths in Å).
"""

from __future__ import annotations

import numpy as np
import spglib
from ase import Atoms
from ase.build import bulk
from ase.data import chemical_symbols, reference_states

CLASS_NAMES = ["bct_139", "bct_141", "rh_hex_166_194", "sc_221", "fcc_225", "diam_227", "bcc_229"]
SPACE_GROUP_TO_CLASS = {139: 0, 141: 1, 166: 2, 194: 2, 221: 3, 225: 4, 227: 5, 229: 6}
_SYMMETRY_TO_CLASS = {"bct": None, "rhombohedral": 2, "hcp": 2, "sc": 3, "fcc": 4, "diamond": 5, "bcc": 6}
# c/a may be changed by up to this fraction for these symmetries without changing the space group.
C_OVER_A_SYMMETRIES = ("bct", "hcp")


def _elements_by_class() -> dict[int, list[str]]:
    out: dict[int, list[str]] = {c: [] for c in range(len(CLASS_NAMES))}
    for z, state in enumerate(reference_states):
        if not state or state["symmetry"] not in _SYMMETRY_TO_CLASS:
            continue
        try:  # a few reference states (hcp Se, Te) need a basis ASE does not have
            bulk(chemical_symbols[z])
        except ValueError:
            continue
        cls = _SYMMETRY_TO_CLASS[state["symmetry"]]
        if state["symmetry"] == "bct":  # In has no basis (139), β-Sn has a two-atom basis (141)
            cls = 1 if state.get("basis") is not None else 0
        out[cls].append(chemical_symbols[z])
    return out


ELEMENTS_BY_CLASS: dict[int, list[str]] = _elements_by_class()


def unit_cell(element: str, scale: float = 1.0, c_over_a: float = 1.0) -> Atoms:
    """The conventional standard cell of ``element``'s ASE reference state.

    ``scale`` multiplies the lattice constant; ``c_over_a`` multiplies c/a (bct and hcp only).
    """
    state = reference_states[chemical_symbols.index(element)]
    sym = state["symmetry"]
    kwargs: dict = {}
    if sym in C_OVER_A_SYMMETRIES:
        ca = state.get("c/a", np.sqrt(8 / 3))
        kwargs["c"] = state["a"] * ca * c_over_a
    atoms = bulk(element, **kwargs)
    lattice, frac, numbers = spglib.standardize_cell(
        (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), to_primitive=False, symprec=1e-3
    )
    return Atoms(numbers=numbers, cell=np.asarray(lattice) * scale, scaled_positions=frac, pbc=True)


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


def random_prototype(
    cls: int,
    rng: np.random.Generator,
    scale_range: float = 0.05,
    c_over_a_range: float = 0.03,
    max_rotation: float = 0.0,
    target_atoms: int = 200,
    element: str | None = None,
) -> tuple[Atoms, str]:
    """A random pristine supercell of class ``cls`` (of ``element``, else a random element of the
    class); returns ``(atoms, element)``."""
    element = str(rng.choice(ELEMENTS_BY_CLASS[cls])) if element is None else element
    scale = 1 + rng.uniform(-scale_range, scale_range)
    c_over_a = 1 + rng.uniform(-c_over_a_range, c_over_a_range)
    atoms = supercell(unit_cell(element, scale, c_over_a), target_atoms)
    if max_rotation > 0:
        atoms = rotate(atoms, random_rotation(rng, max_rotation))
    return atoms, element


def pristine_set(n: int, seed: int = 0, **kwargs) -> tuple[list[Atoms], np.ndarray]:
    """``n`` pristine supercells, classes balanced (class of structure i is i mod 7)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASS_NAMES)
    return [random_prototype(int(c), rng, **kwargs)[0] for c in labels], labels


def prototype_set(seed: int = 0, **kwargs) -> tuple[list[Atoms], np.ndarray, list[str]]:
    """One pristine supercell per element of every class (every prototype, 70 structures) with
    its own random lattice scale, c/a and (``max_rotation``) orientation; returns
    ``(structures, labels int64 [n], elements)``. The held-out pristine test set."""
    rng = np.random.default_rng(seed)
    pairs = [(cls, el) for cls, elements in ELEMENTS_BY_CLASS.items() for el in elements]
    structures = [random_prototype(cls, rng, element=el, **kwargs)[0] for cls, el in pairs]
    return structures, np.array([cls for cls, _ in pairs], dtype=np.int64), [el for _, el in pairs]
