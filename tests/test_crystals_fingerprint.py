"""Diffraction fingerprints: equality with a float64 reference and with ASE, invariances, known answers."""

import math

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

from matsight.crystals.defects import displace, vacancies
from matsight.crystals.fingerprint import (
    Diffraction2D,
    FingerprintTransformer,
    mean_nearest_neighbour_distance,
    windowed_cluster,
)
from matsight.crystals.geometry import supercell
from matsight.crystals.intensity import intensity_torch
from matsight.crystals.library import CLASS_NAMES, build
from matsight.errors import ConfigError

torch.set_num_threads(1)


def library_supercell(name: str, *elements: str) -> Atoms:
    return supercell(build(CLASS_NAMES.index(name), elements))


@pytest.fixture(scope="module")
def transformer():
    return FingerprintTransformer()


@pytest.fixture(scope="module")
def structures():
    """Elemental, binary, ternary, 2-D, defective and non-periodic structures (~200 atoms each)."""
    fcc = library_supercell("A1_fcc", "Cu")
    cluster = fcc.copy()
    cluster.pbc = False
    return [
        library_supercell("A2_bcc", "Fe"),
        library_supercell("A3_hcp", "Mg"),
        library_supercell("B1_rocksalt", "Na", "Cl"),
        library_supercell("E21_perovskite", "Sr", "Ti", "O"),
        library_supercell("2D_MoS2_2H", "Mo", "S"),
        displace(vacancies(fcc, 0.2, seed=1), 0.1, seed=2),
        cluster,
    ]


def reference_fingerprints(structures, settings=Diffraction2D()) -> torch.Tensor:
    """The phase-matrix algorithm of the previous implementation, in float64: ``[N, 3, 64, 64]``."""
    transformer = FingerprintTransformer(settings)
    q = transformer._q.double()
    f2 = torch.from_numpy(transformer._f2).double()
    out = []
    for atoms in structures:
        pos, weight = windowed_cluster(atoms, settings)
        patterns = intensity_torch(torch.from_numpy(pos.T)[None], torch.from_numpy(weight)[None], q)[0]
        intensity = (patterns * f2).view(3, 2, -1).sum(1)
        intensity = (intensity - intensity.min()) / (intensity.max() - intensity.min())
        image = torch.zeros(3, settings.pixels**2, dtype=torch.float64)
        image[:, transformer._kept] = intensity
        out.append(image.view(3, settings.pixels, settings.pixels))
    return torch.stack(out)


def test_fast_kernel_equals_the_float64_reference_within_1e5(transformer, structures):
    fast = transformer.transform(structures)
    assert fast.dtype == torch.float32 and fast.shape == (len(structures), 3, 64, 64)
    assert float((fast.double() - reference_fingerprints(structures)).abs().max()) < 1e-5


def test_mean_nearest_neighbour_distance_equals_ase_neighbor_list(structures):
    sparse = Atoms("Cu2", positions=[[0, 0, 0], [1.0, 0, 0]], cell=[30, 30, 30], pbc=True)  # 1 Å pair in a big cell
    single = Atoms("Po", cell=[3.35] * 3, pbc=True)  # one atom: its neighbours are its own images
    for atoms in [*structures[:-1], sparse, single]:
        i, d = neighbor_list("id", atoms, 4.0)
        nearest = np.full(len(atoms), np.inf)
        np.minimum.at(nearest, i, d)
        assert mean_nearest_neighbour_distance(atoms) == pytest.approx(nearest.mean(), rel=1e-12)
    assert mean_nearest_neighbour_distance(single) == pytest.approx(3.35)


def test_windowed_cluster_is_the_sphere_cut_from_the_periodic_crystal(structures):
    """Brute force: every image within 3 cells, cut at 3.75 NN around the cell centre, Gaussian window × rank/2."""
    settings = Diffraction2D()
    atoms = structures[2]  # rock salt NaCl
    pos, weight = windowed_cluster(atoms, settings)
    nn = mean_nearest_neighbour_distance(atoms)
    shifts = np.stack(np.meshgrid(*[np.arange(-3, 4)] * 3, indexing="ij"), -1).reshape(-1, 3)
    every = ((atoms.get_scaled_positions()[None] + shifts[:, None]).reshape(-1, 3) - 0.5) @ atoms.cell[:] / nn
    z = np.tile(atoms.numbers, len(shifts))
    radius = settings.window_sigma * settings.window_cutoff
    inside = (every**2).sum(1) < radius**2
    r2 = (every[inside] ** 2).sum(1)
    window = np.exp(-r2 / (2 * settings.window_sigma**2)) - math.exp(-(radius**2) / (2 * settings.window_sigma**2))
    expected = np.column_stack([every[inside], window * np.where(z[inside] == 17, 1.0, 0.5)])  # Na 11 < Cl 17
    found = np.column_stack([pos, weight])
    assert len(found) == len(expected) > 100
    order = lambda a: a[np.lexsort(np.round(a[:, :3], 6).T)]  # noqa: E731
    assert np.allclose(order(found), order(expected))


def test_species_amplitude_tells_a_binary_from_its_elemental_lattice():
    """Rock salt is simple cubic with alternating species: identical under uniform amplitudes, different under
    Z and rank; under Z a decoration of close elements (K 19, Ca 20) nearly vanishes, under rank it is the
    same as any other rock salt's."""
    far, close = library_supercell("B1_rocksalt", "K", "I"), library_supercell("B1_rocksalt", "K", "I")
    close.numbers = np.where(far.numbers == 53, 20, 19)
    sc = far.copy()
    sc.numbers = np.full(len(sc), 19)
    uniform = FingerprintTransformer(Diffraction2D(species="uniform")).transform([far, sc])
    assert float((uniform[0] - uniform[1]).abs().max()) < 1e-6
    z = FingerprintTransformer(Diffraction2D(species="atomic_number")).transform([far, close, sc])
    assert relative_l2(z[0], z[2]) > 0.1  # K (19) and I (53): superlattice spots
    assert relative_l2(z[1], z[2]) < 0.01  # K and Ca: nearly simple cubic
    rank = FingerprintTransformer().transform([far, close, sc])
    assert float((rank[0] - rank[1]).abs().max()) < 1e-5
    assert relative_l2(rank[1], rank[2]) > 0.05  # amplitudes 1/2 and 1: 0.09
    with pytest.raises(ConfigError, match="species"):
        Diffraction2D(species="colour")


def relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / a.norm())


def test_fingerprint_range_mask_and_bad_input(transformer):
    f = transformer.transform([library_supercell("A2_bcc", "Fe"), library_supercell("A5_beta_Sn", "Sn")])
    assert f.shape == (2, 3, 64, 64)
    assert torch.all(f.amin(dim=(1, 2, 3)) == 0) and torch.allclose(f.amax(dim=(1, 2, 3)), torch.ones(2))
    kept = Diffraction2D().mask()
    assert torch.all(f[:, :, ~kept] == 0)
    assert float(f[:, :, kept].max(dim=-1).values.min()) > 0  # every channel has signal
    with pytest.raises(ConfigError, match="structure 1: a fingerprint needs at least 2 atoms"):
        transformer.transform([library_supercell("A2_bcc", "Fe"), Atoms("Cu")])
    po = build(CLASS_NAMES.index("Ah_sc"), ("Po",))  # one atom in a periodic cell is a crystal
    single = transformer.transform([po, supercell(po)])
    assert relative_l2(single[0], single[1]) < 0.05  # window centred between atoms vs on one


@pytest.mark.parametrize("name, elements", [("A2_bcc", ("Fe",)), ("A3_hcp", ("Mg",)), ("C4_rutile", ("Ti", "O"))])
def test_fingerprint_is_invariant_to_translating_the_atoms_within_the_cell(transformer, name, elements):
    cell = build(CLASS_NAMES.index(name), elements)
    moved = cell.copy()
    moved.set_scaled_positions((cell.get_scaled_positions() + [0.37, 0.61, 0.18]) % 1.0)
    f = transformer.transform([supercell(cell), supercell(moved)])
    assert relative_l2(f[0], f[1]) < 0.1  # rutile measured 0.06: the finite window
    cluster = supercell(cell)
    cluster.pbc = False  # a finite cluster: exact invariance
    far = cluster.copy()
    far.positions += np.array([3.7, -11.2, 0.9])
    g = transformer.transform([cluster, far])
    assert relative_l2(g[0], g[1]) < 1e-4


def test_fingerprint_is_nearly_independent_of_supercell_size_and_separates_classes(transformer):
    fe = build(CLASS_NAMES.index("A2_bcc"), ("Fe",))
    pair = [fe.repeat((4, 4, 4)), fe.repeat((4, 4, 8))]
    f = transformer.transform(pair + [library_supercell("A1_fcc", "Fe"), library_supercell("B2_CsCl", "Fe", "Cs")])
    assert relative_l2(f[0], f[1]) < 0.10
    assert relative_l2(f[0], f[2]) > 0.3  # bcc vs fcc
    assert relative_l2(f[0], f[3]) > 0.05  # bcc vs its ordered B2 superstructure
