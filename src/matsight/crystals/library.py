"""The prototype library: structure types (elemental, binary, ternary, 2-D sheets) built with ASE.

A class is a structure type, not an element: every :class:`Prototype` is a space group, Wyckoff
positions (``ase.spacegroup.crystal``) and fixed axial ratios, with species *slots* that any
element of the slot's pool may fill (metals, or anions B/C/N/O/F/Si/P/S/Cl/As/Se/Br/Te/I;
elemental prototypes take either). A structure of a prototype is built from its geometry at
lattice constant 1, given elements per slot, and scaled so that the mean nearest-neighbour bond
equals the mean sum of the two atoms' covalent radii (``ase.data.covalent_radii``): lattice
constants follow from atomic radii. Distinct slots hold elements whose atomic numbers differ by at
least :data:`MIN_CONTRAST` of the larger one, so that the species are distinguishable for a
diffraction fingerprint that scatters ∝ Z.

Held-out elements: :data:`HELD_OUT_ELEMENTS` (the pool elements whose atomic number is divisible
by 4) never appear in ``split="train"`` structures; every ``split="test"`` structure has at least
one of them. 2-D sheets are single layers in a periodic cell with a vacuum of more than ten
bond lengths (the fingerprint's scattering sphere and SOAP's cutoff see one layer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from ase.spacegroup import crystal

from matsight.crystals.config import SPLITS
from matsight.crystals.geometry import random_rotation, rotate, supercell
from matsight.errors import ConfigError

METALS = (
    "Li Na K Rb Cs Be Mg Ca Sr Ba Sc Y La Ti Zr Hf V Nb Ta Cr Mo W Mn Re Fe Ru Os Co Rh Ir Ni Pd Pt "
    "Cu Ag Au Zn Cd Hg Al Ga In Tl Sn Pb Bi"
).split()
ANIONS = "B C N O F Si P S Cl As Se Br Te I".split()
POOLS = {"metal": METALS, "anion": ANIONS, "any": METALS + ANIONS}
HELD_OUT_ELEMENTS = tuple(e for e in POOLS["any"] if atomic_numbers[e] % 4 == 0)
MIN_CONTRAST = 0.25
KINDS = ("elemental", "binary", "ternary", "2d")


@dataclass(frozen=True)
class Prototype:
    """A structure type. ``sites``: ``(slot, (x, y, z))`` Wyckoff representatives (fractional, in the
    ``setting`` of space group ``spacegroup``); ``roles``: pool name per slot; ``ratios``:
    ``(b/a, c/a, α, β, γ)`` (degrees); ``example``: a compound of this type, for the docs."""

    name: str
    kind: str
    spacegroup: int
    sites: tuple[tuple[int, tuple[float, float, float]], ...]
    roles: tuple[str, ...]
    ratios: tuple[float, float, float, float, float] = (1.0, 1.0, 90.0, 90.0, 90.0)
    setting: int = 1
    example: str = ""

    @property
    def n_slots(self) -> int:
        return len(self.roles)


def _hexagonal(c_over_a: float) -> tuple[float, float, float, float, float]:
    return (1.0, c_over_a, 90.0, 90.0, 120.0)


def _tetragonal(c_over_a: float) -> tuple[float, float, float, float, float]:
    return (1.0, c_over_a, 90.0, 90.0, 90.0)


_M, _X, _ANY = "metal", "anion", "any"
_O = (0.0, 0.0, 0.0)
_H = (0.5, 0.5, 0.5)
_Q = (0.25, 0.25, 0.25)
_HEX = (1 / 3, 2 / 3, 0.25)
VACUUM_C_OVER_A = 8.0  # 2-D sheets: c = 8 a (> 10 bond lengths of vacuum)

PROTOTYPES: tuple[Prototype, ...] = (
    # elemental
    Prototype("A1_fcc", "elemental", 225, ((0, _O),), (_ANY,), example="Cu"),
    Prototype("A2_bcc", "elemental", 229, ((0, _O),), (_ANY,), example="W"),
    Prototype("A3_hcp", "elemental", 194, ((0, _HEX),), (_ANY,), _hexagonal(1.633), example="Mg"),
    Prototype("A4_diamond", "elemental", 227, ((0, _O),), (_ANY,), example="Si"),
    Prototype("Ah_sc", "elemental", 221, ((0, _O),), (_ANY,), example="α-Po"),
    Prototype("A6_bct", "elemental", 139, ((0, _O),), (_ANY,), _tetragonal(1.52), example="In"),
    Prototype("A5_beta_Sn", "elemental", 141, ((0, _O),), (_ANY,), _tetragonal(0.546), example="β-Sn"),
    Prototype("A7_alpha_As", "elemental", 166, ((0, (0, 0, 0.227)),), (_ANY,), _hexagonal(2.806), example="As"),
    Prototype("A10_alpha_Hg", "elemental", 166, ((0, _O),), (_ANY,), _hexagonal(1.938), example="α-Hg"),
    Prototype("A9_graphite", "elemental", 194, ((0, (0, 0, 0.25)), (0, _HEX)), (_ANY,), _hexagonal(2.727), example="C"),
    Prototype("A3p_dhcp", "elemental", 194, ((0, _O), (0, _HEX)), (_ANY,), _hexagonal(3.22), example="α-La"),
    Prototype("A15_beta_W", "elemental", 223, ((0, _O), (0, (0.25, 0, 0.5))), (_ANY,), example="β-W"),
    Prototype(
        "A20_alpha_U", "elemental", 63, ((0, (0, 0.1025, 0.25)),), (_ANY,), (2.056, 1.736, 90, 90, 90), example="α-U"
    ),
    Prototype("A8_gamma_Se", "elemental", 152, ((0, (0.2254, 0, 1 / 3)),), (_ANY,), _hexagonal(1.135), example="Se"),
    # binary
    Prototype("B1_rocksalt", "binary", 225, ((0, _O), (1, _H)), (_M, _X), example="NaCl"),
    Prototype("B2_CsCl", "binary", 221, ((0, _O), (1, _H)), (_M, _M), example="CsCl, β-CuZn"),
    Prototype("B3_zincblende", "binary", 216, ((0, _O), (1, _Q)), (_M, _X), example="ZnS"),
    Prototype(
        "B4_wurtzite",
        "binary",
        186,
        ((0, (1 / 3, 2 / 3, 0)), (1, (1 / 3, 2 / 3, 0.375))),
        (_M, _X),
        _hexagonal(1.633),
        example="ZnO",
    ),
    Prototype("B81_NiAs", "binary", 194, ((0, _O), (1, _HEX)), (_M, _X), _hexagonal(1.391), example="NiAs"),
    Prototype("Bh_WC", "binary", 187, ((0, _O), (1, (1 / 3, 2 / 3, 0.5))), (_M, _X), _hexagonal(0.976), example="WC"),
    Prototype("B32_NaTl", "binary", 227, ((0, (1 / 8,) * 3), (1, (3 / 8,) * 3)), (_M, _M), setting=2, example="NaTl"),
    Prototype("C1_fluorite", "binary", 225, ((0, _O), (1, _Q)), (_M, _X), example="CaF2"),
    Prototype("C2_pyrite", "binary", 205, ((0, _O), (1, (0.385,) * 3)), (_M, _X), example="FeS2"),
    Prototype("C3_cuprite", "binary", 224, ((1, _Q), (0, _O)), (_M, _X), setting=2, example="Cu2O"),
    Prototype(
        "C4_rutile", "binary", 136, ((0, _O), (1, (0.305, 0.305, 0))), (_M, _X), _tetragonal(0.644), example="TiO2"
    ),
    Prototype("C5_anatase", "binary", 141, ((0, _O), (1, (0, 0, 0.2081))), (_M, _X), _tetragonal(2.51), example="TiO2"),
    Prototype(
        "C6_CdI2", "binary", 164, ((0, _O), (1, (1 / 3, 2 / 3, 0.25))), (_M, _X), _hexagonal(1.613), example="CdI2"
    ),
    Prototype(
        "C7_MoS2", "binary", 194, ((0, _HEX), (1, (1 / 3, 2 / 3, 0.621))), (_M, _X), _hexagonal(3.89), example="2H-MoS2"
    ),
    Prototype("C11b_MoSi2", "binary", 139, ((0, _O), (1, (0, 0, 1 / 3))), (_M, _X), _tetragonal(2.45), example="MoSi2"),
    Prototype(
        "C14_MgZn2",
        "binary",
        194,
        ((0, (1 / 3, 2 / 3, 0.063)), (1, _O), (1, (0.830, 0.660, 0.25))),
        (_M, _M),
        _hexagonal(1.642),
        example="MgZn2",
    ),
    Prototype("C15_MgCu2", "binary", 227, ((0, (1 / 8,) * 3), (1, _H)), (_M, _M), setting=2, example="MgCu2"),
    Prototype("C19_CdCl2", "binary", 166, ((0, _O), (1, (0, 0, 0.25))), (_M, _X), _hexagonal(4.535), example="CdCl2"),
    Prototype(
        "C32_AlB2", "binary", 191, ((0, _O), (1, (1 / 3, 2 / 3, 0.5))), (_M, _X), _hexagonal(1.082), example="AlB2"
    ),
    Prototype("D03_BiF3", "binary", 225, ((0, _O), (1, _H), (1, _Q)), (_M, _M), example="Fe3Al"),
    Prototype("D09_ReO3", "binary", 221, ((0, _O), (1, (0.5, 0, 0))), (_M, _X), example="ReO3"),
    Prototype(
        "D019_Ni3Sn",
        "binary",
        194,
        ((0, _HEX), (1, (5 / 6, 2 / 3, 0.25))),
        (_M, _M),
        _hexagonal(0.802),
        example="Ni3Sn",
    ),
    Prototype(
        "D022_TiAl3",
        "binary",
        139,
        ((0, _O), (1, (0, 0, 0.5)), (1, (0, 0.5, 0.25))),
        (_M, _M),
        _tetragonal(2.23),
        example="TiAl3",
    ),
    Prototype(
        "D51_corundum",
        "binary",
        167,
        ((0, (0, 0, 0.352)), (1, (0.306, 0, 0.25))),
        (_M, _X),
        _hexagonal(2.73),
        example="Al2O3",
    ),
    Prototype("L10_CuAu", "binary", 123, ((0, _O), (1, _H)), (_M, _M), _tetragonal(1.31), example="CuAu"),
    Prototype("L11_CuPt", "binary", 166, ((0, _O), (1, (0, 0, 0.5))), (_M, _M), _hexagonal(4.899), example="CuPt"),
    Prototype("L12_Cu3Au", "binary", 221, ((0, _O), (1, (0, 0.5, 0.5))), (_M, _M), example="Cu3Au"),
    Prototype("A15_Cr3Si", "binary", 223, ((0, _O), (1, (0.25, 0, 0.5))), (_M, _X), example="Cr3Si"),
    # ternary
    Prototype("E21_perovskite", "ternary", 221, ((0, _O), (1, _H), (2, (0, 0.5, 0.5))), (_M, _M, _X), example="SrTiO3"),
    Prototype("L21_Heusler", "ternary", 225, ((0, _O), (1, _H), (2, _Q)), (_M, _M, _M), example="Cu2MnAl"),
    Prototype("C1b_half_Heusler", "ternary", 216, ((0, _O), (1, _H), (2, _Q)), (_M, _M, _X), example="MgAgAs"),
    Prototype(
        "H11_spinel",
        "ternary",
        227,
        ((0, (1 / 8,) * 3), (1, _H), (2, (0.2624,) * 3)),
        (_M, _M, _X),
        setting=2,
        example="MgAl2O4",
    ),
    Prototype(
        "E11_chalcopyrite",
        "ternary",
        122,
        ((0, _O), (1, (0, 0, 0.5)), (2, (0.257, 0.25, 0.125))),
        (_M, _M, _X),
        _tetragonal(1.97),
        example="CuFeS2",
    ),
    Prototype(
        "ThCr2Si2",
        "ternary",
        139,
        ((0, _O), (1, (0, 0.5, 0.25)), (2, (0, 0, 0.378))),
        (_M, _M, _X),
        _tetragonal(2.5),
        example="ThCr2Si2",
    ),
    Prototype(
        "K2NiF4",
        "ternary",
        139,
        ((1, _O), (0, (0, 0, 0.352)), (2, (0, 0.5, 0)), (2, (0, 0, 0.151))),
        (_M, _M, _X),
        _tetragonal(3.26),
        example="K2NiF4",
    ),
    # 2-D sheets: one layer at z = c/2 (where the fingerprint's window is centred), c = 8 a
    Prototype("2D_graphene", "2d", 191, ((0, (1 / 3, 2 / 3, 0.5)),), (_ANY,), _hexagonal(VACUUM_C_OVER_A), example="C"),
    Prototype(
        "2D_hBN",
        "2d",
        187,
        ((0, (1 / 3, 2 / 3, 0.5)), (1, (2 / 3, 1 / 3, 0.5))),
        (_X, _X),
        _hexagonal(VACUUM_C_OVER_A),
        example="BN",
    ),
    Prototype(
        "2D_MoS2_2H",
        "2d",
        187,
        ((0, (0, 0, 0.5)), (1, (1 / 3, 2 / 3, 0.5 + 1.56 / 3.16 / VACUUM_C_OVER_A))),
        (_M, _X),
        _hexagonal(VACUUM_C_OVER_A),
        example="MoS2",
    ),
    Prototype(
        "2D_TiS2_1T",
        "2d",
        164,
        ((0, (0, 0, 0.5)), (1, (1 / 3, 2 / 3, 0.5 + 1.43 / 3.41 / VACUUM_C_OVER_A))),
        (_M, _X),
        _hexagonal(VACUUM_C_OVER_A),
        example="TiS2",
    ),
    Prototype(
        "2D_silicene",
        "2d",
        164,
        ((0, (1 / 3, 2 / 3, 0.5 + 0.22 / 3.87 / VACUUM_C_OVER_A)),),
        (_ANY,),
        _hexagonal(VACUUM_C_OVER_A),
        example="Si",
    ),
)
CLASS_NAMES: list[str] = [p.name for p in PROTOTYPES]


def prototype(name_or_index: str | int) -> Prototype:
    """The prototype of a class name or index; :class:`ConfigError` for an unknown one."""
    if isinstance(name_or_index, (int, np.integer)):
        if not 0 <= int(name_or_index) < len(PROTOTYPES):
            raise ConfigError(f"class index {name_or_index} is not in 0..{len(PROTOTYPES) - 1}")
        return PROTOTYPES[int(name_or_index)]
    if name_or_index not in CLASS_NAMES:
        raise ConfigError(f"unknown prototype {name_or_index!r}: choose one of {', '.join(CLASS_NAMES)}")
    return PROTOTYPES[CLASS_NAMES.index(name_or_index)]


@cache
def _geometry(cls: int) -> tuple[Atoms, np.ndarray, np.ndarray, np.ndarray]:
    """``(cell at a = 1 with slot-numbered dummy species, slot per atom, slot of each atom's nearest
    neighbour, distance to it)`` of class ``cls``."""
    from ase.neighborlist import neighbor_list

    proto = PROTOTYPES[cls]
    b, c, alpha, beta, gamma = proto.ratios
    atoms = crystal(  # one placeholder species; the kinds array says which Wyckoff site made each atom
        ["H"] * len(proto.sites),
        [xyz for _, xyz in proto.sites],
        spacegroup=proto.spacegroup,
        setting=proto.setting,
        cellpar=[1.0, b, c, alpha, beta, gamma],
    )
    slots = np.array([proto.sites[k][0] for k in atoms.arrays["spacegroup_kinds"]])
    i, j, d = neighbor_list("ijd", atoms, 1.01 * float(np.min(atoms.cell.lengths())))  # NN ≤ shortest lattice vector
    order = np.lexsort((d, i))  # by atom, then distance: the first entry per atom is its nearest neighbour
    first = order[np.searchsorted(i[order], np.arange(len(atoms)))]
    nearest, partner = d[first], slots[j[first]]
    return atoms, slots, partner, nearest


def build(cls: int, elements: Sequence[str]) -> Atoms:
    """The conventional cell of class ``cls`` with ``elements[slot]`` on each slot, lattice constant
    from covalent radii (mean nearest-neighbour bond = mean sum of the two atoms' radii)."""
    proto = PROTOTYPES[cls]
    if len(elements) != proto.n_slots:
        raise ConfigError(f"{proto.name} has {proto.n_slots} species slot(s), got elements {list(elements)}")
    geometry, slots, partner, nearest = _geometry(cls)
    radii = np.array([covalent_radii[atomic_numbers[e]] for e in elements])
    scale = float(np.mean(radii[slots] + radii[partner]) / np.mean(nearest))
    return Atoms(
        numbers=[atomic_numbers[elements[s]] for s in slots],
        cell=geometry.cell[:] * scale,
        scaled_positions=geometry.get_scaled_positions(),
        pbc=True,
    )


def contrast_ok(elements: Sequence[str]) -> bool:
    """True when the elements are distinct with atomic numbers ≥ :data:`MIN_CONTRAST` apart (relative)."""
    z = sorted(atomic_numbers[e] for e in elements)
    return all(hi - lo >= MIN_CONTRAST * hi for lo, hi in zip(z, z[1:]))


def random_elements(cls: int, rng: np.random.Generator, split: str = "any") -> tuple[str, ...]:
    """Elements for the slots of class ``cls``: ``train`` uses no held-out element, ``test`` at least one."""
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}: choose one of {', '.join(SPLITS)}")
    proto = PROTOTYPES[cls]
    held = set(HELD_OUT_ELEMENTS)
    for _ in range(1000):
        forced = int(rng.integers(proto.n_slots)) if split == "test" else -1
        elements = []
        for slot, role in enumerate(proto.roles):
            pool = POOLS[role]
            if split == "train":
                pool = [e for e in pool if e not in held]
            elif slot == forced:
                pool = [e for e in pool if e in held]
            elements.append(str(rng.choice(pool)))
        if contrast_ok(elements):
            return tuple(elements)
    raise ConfigError(f"no element choice for {proto.name} meets the contrast rule")  # pragma: no cover


def strain_matrix(rng: np.random.Generator, magnitude: float) -> np.ndarray:
    """``I + ε`` with ε symmetric, entries uniform in ±magnitude (diagonal) and ±magnitude/2 (shear)."""
    eps = rng.uniform(-magnitude, magnitude, size=(3, 3))
    return np.eye(3) + (eps + eps.T) / 2


def random_structure(
    cls: int,
    rng: np.random.Generator,
    split: str = "any",
    scale_range: float = 0.05,
    strain: float = 0.0,
    max_rotation: float = 0.0,
    target_atoms: int = 200,
) -> tuple[Atoms, tuple[str, ...]]:
    """A pristine supercell of class ``cls``: random elements of ``split``, lattice
    constant × (1 ± ``scale_range``), random strain of ``strain`` (see :func:`strain_matrix`),
    random rotation up to ``max_rotation`` degrees; returns ``(atoms, elements)``."""
    elements = random_elements(cls, rng, split)
    cell = build(cls, elements)
    deformation = (1 + rng.uniform(-scale_range, scale_range)) * (strain_matrix(rng, strain) if strain else np.eye(3))
    cell.set_cell(cell.cell[:] @ deformation.T, scale_atoms=True)
    if PROTOTYPES[cls].kind == "2d":  # one layer: repeat in the plane only
        atoms = cell.repeat(_sheet_repeats(cell, target_atoms))
    else:
        atoms = supercell(cell, target_atoms)
    if max_rotation > 0:
        atoms = rotate(atoms, random_rotation(rng, max_rotation))
    return atoms, elements


def _sheet_repeats(cell: Atoms, target: int) -> tuple[int, int, int]:
    per_layer = max(1, round((target / len(cell)) ** 0.5))
    return (per_layer, per_layer, 1)


@dataclass
class LibrarySet:
    """Structures with labels (class indices, ``int64 [N]``) and the elements per structure."""

    structures: list[Atoms]
    labels: np.ndarray
    elements: list[tuple[str, ...]]


def library_set(
    n: int,
    seed: int = 0,
    split: str = "any",
    classes: Sequence[int] | None = None,
    **kwargs,
) -> LibrarySet:
    """``n`` pristine supercells, classes balanced (structure i has class ``classes[i mod C]``, all
    classes by default); ``kwargs`` as :func:`random_structure`."""
    rng = np.random.default_rng(seed)
    classes = list(range(len(PROTOTYPES))) if classes is None else [int(c) for c in classes]
    labels = np.array([classes[i % len(classes)] for i in range(n)], dtype=np.int64)
    pairs = [random_structure(int(c), rng, split, **kwargs) for c in labels]
    return LibrarySet([a for a, _ in pairs], labels, [e for _, e in pairs])
