"""Crystal prototypes, defects, fingerprints and the spglib baseline (known answers)."""

import numpy as np
import pytest
import torch

from matsight.crystals.dataset import read_structures, write_structures
from matsight.crystals.defects import apply_defect, displace, substitute, vacancies
from matsight.crystals.fingerprint import Diffraction2D, FingerprintTransformer
from matsight.crystals.prototypes import CLASS_NAMES, ELEMENTS_BY_CLASS, random_prototype, supercell, unit_cell
from matsight.crystals.spglib_baseline import TOLERANCES, spglib_classify
from matsight.errors import ConfigError, DataLayoutError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def transformer():
    return FingerprintTransformer()


def test_every_pristine_prototype_is_labelled_by_spglib_at_every_tolerance():
    rng = np.random.default_rng(0)
    for cls, elements in ELEMENTS_BY_CLASS.items():
        for element in elements:
            atoms = supercell(unit_cell(element, scale=1.03, c_over_a=0.98))
            assert 128 <= len(atoms) <= 256, element
            for tol in TOLERANCES.values():
                assert spglib_classify([atoms], tol)[0] == cls, (element, tol)
    rotated, _ = random_prototype(4, rng, max_rotation=30)
    assert spglib_classify([rotated], 1e-5)[0] == 4


def test_defects_change_exactly_the_intended_number_of_atoms_and_are_deterministic():
    atoms = supercell(unit_cell("Cu"))          # 256 atoms
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


def test_fingerprint_range_mask_and_translation(transformer):
    atoms = supercell(unit_cell("Fe"))
    shifted = atoms.copy()
    shifted.positions += np.array([3.7, -11.2, 0.9])
    f = transformer.transform([atoms, shifted])
    assert f.shape == (2, 3, 64, 64)
    assert float(f.min()) == 0.0 and float(f.max()) == pytest.approx(1.0)
    kept = Diffraction2D().mask()
    assert torch.all(f[:, :, ~kept] == 0)
    assert torch.all(f[:, :, 31, 31] == 0)            # centre (r ≤ 10 px) masked
    assert torch.all(f[:, :, 0, 0] == 0)              # corner (r ≥ 30 px) masked
    assert float(f[:, :, kept].max(dim=-1).values.min()) > 0   # every channel has signal
    assert float((f[0] - f[1]).abs().sum() / f[0].abs().sum()) < 0.05


def test_fingerprint_is_nearly_independent_of_supercell_size_and_separates_classes(transformer):
    small, large = supercell(unit_cell("Fe"), 128), supercell(unit_cell("Fe"), 256)
    assert (len(small), len(large)) == (128, 250)
    fcc = supercell(unit_cell("Cu"))
    f = transformer.transform([small, large, fcc])
    kept = Diffraction2D().mask()
    a, b, c = (x[:, kept].flatten() for x in f)
    assert float((a - b).abs().mean()) < 0.10           # < 10 % of the [0, 1] range per pixel
    cos = lambda u, v: float(u @ v / u.norm() / v.norm())  # noqa: E731
    assert cos(a, b) > 0.95 > cos(a, c)


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
