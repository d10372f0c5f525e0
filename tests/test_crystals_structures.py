"""Crystal prototypes, defects, fingerprints and the spglib baseline (known answers)."""

import numpy as np
import pytest
import torch
from ase import Atoms

from matsight.crystals.dataset import read_structures, write_structures
from matsight.crystals.defects import apply_defect, displace, substitute, vacancies
from matsight.crystals.fingerprint import Diffraction2D, FingerprintTransformer
from matsight.crystals.prototypes import CLASS_NAMES, ELEMENTS_BY_CLASS, prototype_set, supercell, unit_cell
from matsight.crystals.spglib_baseline import TOLERANCES, spglib_classify
from matsight.errors import ConfigError, DataLayoutError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def transformer():
    return FingerprintTransformer()


def test_every_pristine_prototype_is_labelled_by_spglib_at_every_tolerance():
    structures, labels, elements = prototype_set(seed=5, max_rotation=30)
    assert sorted(elements) == sorted(el for els in ELEMENTS_BY_CLASS.values() for el in els)
    assert set(labels.tolist()) == set(range(len(CLASS_NAMES)))
    assert all(128 <= len(a) <= 256 for a in structures)
    for tol in TOLERANCES.values():
        found = spglib_classify(structures, tol)
        assert np.array_equal(found, labels), [e for e, f, c in zip(elements, found, labels) if f != c]


def test_defects_change_exactly_the_intended_number_of_atoms_and_are_deterministic():
    atoms = supercell(unit_cell("Cu"))  # 256 atoms
    n = len(atoms)
    assert len(vacancies(atoms, 0.25, seed=1)) == n - 64
    sub = substitute(atoms, 0.1, "Ag", seed=1)
    assert (sub.numbers != atoms.numbers).sum() == round(0.1 * n)
    moved = displace(atoms, 0.02, seed=3)
    assert np.allclose(moved.positions, displace(atoms, 0.02, seed=3).positions)
    assert not np.allclose(moved.positions, displace(atoms, 0.02, seed=4).positions)
    assert abs(np.std(moved.positions - atoms.positions) - 0.02) < 0.003
    assert np.array_equal(vacancies(atoms, 0.3, 7).positions, vacancies(atoms, 0.3, 7).positions)
    with pytest.raises(ConfigError):
        apply_defect(atoms, "melting", 0.1)


def relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / a.norm())


def shifted_in_cell(atoms, frac_shift):
    """``atoms`` with every fractional coordinate moved by ``frac_shift`` and wrapped into the cell."""
    out = atoms.copy()
    out.set_scaled_positions((atoms.get_scaled_positions() + frac_shift) % 1.0)
    return out


def test_fingerprint_range_and_masked_ring(transformer):
    f = transformer.transform([supercell(unit_cell("Fe")), supercell(unit_cell("Sn"))])
    assert f.shape == (2, 3, 64, 64)
    assert torch.all(f.amin(dim=(1, 2, 3)) == 0) and torch.allclose(f.amax(dim=(1, 2, 3)), torch.ones(2))
    kept = Diffraction2D().mask()
    assert torch.all(f[:, :, ~kept] == 0)
    assert torch.all(f[:, :, 31, 31] == 0)  # centre (r ≤ 10 px) masked
    assert torch.all(f[:, :, 0, 0] == 0)  # corner (r ≥ 30 px) masked
    assert float(f[:, :, kept].max(dim=-1).values.min()) > 0  # every channel has signal
    with pytest.raises(ConfigError, match="at least 2 atoms"):
        transformer.transform([Atoms("Cu")])
    single = transformer.transform([unit_cell("Po")])  # one atom in a periodic cell is a crystal
    assert relative_l2(single[0], transformer.transform([supercell(unit_cell("Po"))])[0]) < 0.05


@pytest.mark.parametrize("element", ["Fe", "Mg", "Si", "Sn"])  # bcc, hcp, diamond, bct 141
def test_fingerprint_is_invariant_to_translating_the_atoms_within_the_cell(transformer, element):
    cell = unit_cell(element)
    moved = shifted_in_cell(cell, np.array([0.37, 0.61, 0.18]))
    assert not np.allclose(moved.positions, cell.positions)
    f = transformer.transform([supercell(cell), supercell(moved)])
    assert relative_l2(f[0], f[1]) < 0.05
    cluster = supercell(cell)
    cluster.pbc = False  # a finite cluster: exact invariance
    far = cluster.copy()
    far.positions += np.array([3.7, -11.2, 0.9])
    g = transformer.transform([cluster, far])
    assert relative_l2(g[0], g[1]) < 1e-4


@pytest.mark.parametrize(
    "element, small, large",
    [
        ("Fe", (4, 4, 4), (4, 4, 8)),
        ("Cu", (2, 4, 4), (4, 4, 4)),
        ("Mg", (4, 4, 4), (8, 4, 4)),
        ("In", (4, 4, 4), (4, 8, 4)),
    ],
)
def test_fingerprint_is_nearly_independent_of_supercell_size_and_separates_classes(transformer, element, small, large):
    cell = unit_cell(element)
    pair = [cell.repeat(small), cell.repeat(large)]
    assert [len(a) for a in pair] == [128, 256]
    other = supercell(unit_cell("W" if element != "Fe" else "Cu"))  # bcc W, or fcc Cu against bcc Fe
    f = transformer.transform(pair + [other])
    assert relative_l2(f[0], f[1]) < 0.10
    assert relative_l2(f[0], f[2]) > 0.3


def test_layout5_roundtrip_and_clear_errors(tmp_path):
    atoms = [supercell(unit_cell("Cu")), supercell(unit_cell("W"))]
    write_structures(tmp_path, atoms, [4, 6])
    read, labels, names = read_structures(tmp_path)
    assert labels.tolist() == [4, 6] and len(read[1]) == len(atoms[1])
    assert CLASS_NAMES[labels[0]] == "fcc_225"
    (tmp_path / "structures" / names[1]).write_text("garbage\n")
    with pytest.raises(DataLayoutError, match=names[1]):
        read_structures(tmp_path)
    (tmp_path / "labels.csv").write_text("structure,label\nnope.cif,fcc_225\n")
    with pytest.raises(DataLayoutError, match="row 2"):
        read_structures(tmp_path)
