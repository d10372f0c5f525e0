"""Prototype library, defects, the spglib baseline and layout 5 (known answers)."""

import numpy as np
import pytest
import spglib
from ase.data import atomic_numbers

from matsight.crystals.dataset import read_structures, write_structures
from matsight.crystals.defects import apply_defect, displace, substitute, vacancies
from matsight.crystals.fingerprint import mean_nearest_neighbour_distance
from matsight.crystals.geometry import supercell
from matsight.crystals.library import (
    CLASS_NAMES,
    HELD_OUT_ELEMENTS,
    KINDS,
    MIN_CONTRAST,
    PROTOTYPES,
    build,
    library_set,
    random_elements,
)
from matsight.crystals.spglib_baseline import SymmetryClassifier, fitted_baselines, symmetry_key
from matsight.errors import ConfigError, DataLayoutError


def test_library_has_40_plus_structure_types_of_every_kind_with_the_right_space_group():
    assert len(PROTOTYPES) >= 40 and len(set(CLASS_NAMES)) == len(CLASS_NAMES)
    kinds = [p.kind for p in PROTOTYPES]
    assert {k: kinds.count(k) for k in KINDS} == {"elemental": 14, "binary": 28, "ternary": 7, "2d": 5}
    rng = np.random.default_rng(0)
    for cls, proto in enumerate(PROTOTYPES):
        atoms = build(cls, random_elements(cls, rng, "any"))
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        assert spglib.get_symmetry_dataset(cell, symprec=1e-3).number == proto.spacegroup, proto.name
        assert len(set(atoms.numbers)) == proto.n_slots, proto.name


def test_lattice_constants_follow_covalent_radii():
    """fcc: a = √2 · 2r; rock salt: a = 2 (r_A + r_B); CsCl: a = 2 (r_A + r_B) / √3."""
    from ase.data import covalent_radii

    r = {e: covalent_radii[atomic_numbers[e]] for e in ("Cu", "Na", "Cl", "Cs")}
    assert build(CLASS_NAMES.index("A1_fcc"), ("Cu",)).cell.lengths()[0] == pytest.approx(2**0.5 * 2 * r["Cu"])
    assert build(CLASS_NAMES.index("B1_rocksalt"), ("Na", "Cl")).cell.lengths()[0] == pytest.approx(
        2 * (r["Na"] + r["Cl"])
    )
    cscl = build(CLASS_NAMES.index("B2_CsCl"), ("Cs", "Cl"))
    assert cscl.cell.lengths()[0] == pytest.approx(2 * (r["Cs"] + r["Cl"]) / 3**0.5)
    assert mean_nearest_neighbour_distance(cscl) == pytest.approx(r["Cs"] + r["Cl"])


def test_held_out_split_and_contrast_rule():
    rng = np.random.default_rng(1)
    held = set(HELD_OUT_ELEMENTS)
    assert held == {e for e in held if atomic_numbers[e] % 4 == 0} and "O" in held
    for cls in range(len(PROTOTYPES)):
        for _ in range(3):
            train, test = random_elements(cls, rng, "train"), random_elements(cls, rng, "test")
            assert not held & set(train) and held & set(test), PROTOTYPES[cls].name
            for elements in (train, test):
                z = sorted(atomic_numbers[e] for e in elements)
                assert all(hi - lo >= MIN_CONTRAST * hi for lo, hi in zip(z, z[1:]))
    with pytest.raises(ConfigError, match="split"):
        random_elements(0, rng, "validation")


def test_library_set_is_balanced_deterministic_and_strained_on_request():
    a = library_set(12, seed=3, classes=[0, 14, 53])
    b = library_set(12, seed=3, classes=[0, 14, 53])
    assert a.labels.tolist() == [0, 14, 53] * 4 and a.elements == b.elements
    assert all(np.allclose(x.positions, y.positions) for x, y in zip(a.structures, b.structures))
    assert all(100 <= len(s) <= 260 for s in a.structures)
    sheet = a.structures[2]  # 2-D sheet: one layer, repeated in the plane only
    assert np.ptp(sheet.positions[:, 2]) < 0.2 * sheet.cell.lengths()[2]
    strained = library_set(1, seed=3, classes=[0], strain=0.05).structures[0]
    lengths = strained.cell.lengths()
    assert np.ptp(lengths / lengths.mean()) > 0.01  # cubic no more


def test_defects_change_exactly_the_intended_number_of_atoms_and_are_deterministic():
    atoms = supercell(build(CLASS_NAMES.index("A1_fcc"), ("Cu",)))  # 256 atoms
    n = len(atoms)
    assert len(vacancies(atoms, 0.25, seed=1)) == n - 64
    sub = substitute(atoms, 0.1, "Ag", seed=1)
    assert (sub.numbers != atoms.numbers).sum() == round(0.1 * n)
    moved = displace(atoms, 0.02, seed=3)
    assert np.allclose(moved.positions, displace(atoms, 0.02, seed=3).positions)
    assert not np.allclose(moved.positions, displace(atoms, 0.02, seed=4).positions)
    assert abs(np.std(moved.positions - atoms.positions) - 0.02) < 0.003
    relative = apply_defect(atoms, "displacement", 0.05, seed=3)  # σ = 5 % of the NN distance
    nn = mean_nearest_neighbour_distance(atoms)
    assert abs(np.std(relative.positions - atoms.positions) - 0.05 * nn) < 0.15 * 0.05 * nn
    rotated = apply_defect(atoms, "rotation", 30, seed=2)
    assert np.allclose(rotated.get_all_distances()[0, :20], atoms.get_all_distances()[0, :20])
    strained = apply_defect(atoms, "strain", 0.05, seed=2)
    assert abs(strained.get_volume() / atoms.get_volume() - 1) < 0.2 and not np.allclose(strained.cell, atoms.cell)
    with pytest.raises(ConfigError):
        apply_defect(atoms, "melting", 0.1)


def test_spglib_baseline_reads_structure_types_and_fails_on_defects():
    """Symmetry keys learnt from training elements name held-out-element structures; vacancies break them."""
    classes = [CLASS_NAMES.index(c) for c in ("A1_fcc", "B1_rocksalt", "C1_fluorite", "L21_Heusler", "A3_hcp")]
    teach = library_set(2 * len(classes), seed=0, split="train", classes=classes)
    test = library_set(len(classes), seed=1, split="test", classes=classes)
    baselines = fitted_baselines(teach.structures, teach.labels)
    for name, baseline in baselines.items():
        assert np.array_equal(baseline.predict(test.structures), test.labels), name
    broken = [vacancies(a, 0.25, seed=i) for i, a in enumerate(test.structures)]
    assert (baselines["tight"].predict(broken) == -1).all()
    key = symmetry_key(test.structures[1], 1e-3)  # rock salt: Fm-3m, two species on 4a and 4b
    assert key == (225, ((0.5, ("a",)), (0.5, ("b",))))
    clash = SymmetryClassifier(1e-3).fit(test.structures[:1] * 2, [0, 1])  # one key, two classes
    assert not clash.table and clash.predict(test.structures[:1]).tolist() == [-1]


def test_layout5_roundtrip_and_clear_errors(tmp_path):
    sample = library_set(2, seed=0, classes=[CLASS_NAMES.index("A1_fcc"), CLASS_NAMES.index("E21_perovskite")])
    write_structures(tmp_path, sample.structures, sample.labels)
    read, labels, names = read_structures(tmp_path)
    assert labels.tolist() == sample.labels.tolist() and len(read[1]) == len(sample.structures[1])
    assert CLASS_NAMES[labels[1]] == "E21_perovskite"
    (tmp_path / "structures" / names[1]).write_text("garbage\n")
    with pytest.raises(DataLayoutError, match=names[1]):
        read_structures(tmp_path)
    (tmp_path / "labels.csv").write_text("structure,label\nnope.cif,A1_fcc\n")
    with pytest.raises(DataLayoutError, match="row 2"):
        read_structures(tmp_path)
