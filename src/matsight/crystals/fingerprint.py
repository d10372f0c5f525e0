"""Two-dimensional diffraction fingerprints (the ai4materials ``Diffraction2D`` defaults).

Positions are scaled so that the mean nearest-neighbour distance (periodic images included) is 1.
The scattering cluster is a sphere cut from the periodic crystal around the cell centre, radius
``window_cutoff · window_sigma`` (3.75 nearest-neighbour distances by default: ~135–320 atoms),
each atom weighted by a Gaussian window that falls smoothly to 0 at the sphere's surface. The
window, fixed in nearest-neighbour units, makes every Bragg peak the same Gaussian whatever the
supercell, so the fingerprint does not depend on the supercell size or on where the atoms sit in
the cell (a box-shaped finite cluster gives sinc² peaks whose width and side lobes change with
both). A structure without periodic boundary conditions is used as the given cluster, windowed
around its centroid.

A plane wave of wavelength 5 pm hits the cluster along +z; a 64×64 detector of 0.4 mm pixels sits
0.1 m away. For the pixel in direction ŝ the scattering vector is ``q = (ŝ − ẑ)/λ`` (on the Ewald
sphere, in units of 1/nearest-neighbour distance) and the kinematic intensity is
``|Σ_j w_j a_j f(|q|) exp(−2πi q·r_j)|²`` with a smooth form factor ``f`` shared by all elements
and an amplitude ``a_j`` per atom: the rank of its atomic number among the structure's species,
divided by their number (``species="rank"``, the default: chemistry-agnostic but species-aware, as
the SOAP descriptor's species renaming; a binary differs from its elemental parent lattice by the
same contrast whatever its elements), its atomic number Z (``"atomic_number"``, x-ray-like: a
decoration of elements close in Z is nearly invisible) or 1 for every atom (``"uniform"``, the
paper's element-blind choice). For a one-element structure all three give the same fingerprint.
Channel R sums the patterns of the structure rotated by +45° and −45° about x, G about y, B about
z. Pixels at radius ≤ 10 px or ≥ 30 px are masked to 0 and the three channels are min–max
normalised jointly to [0, 1]. On CPU a fused numba kernel computes the intensities
(:mod:`matsight.crystals.intensity`), on CUDA batched torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from scipy.spatial import cKDTree

from matsight.crystals.intensity import intensity_cpu, intensity_torch
from matsight.errors import ConfigError

SPECIES_AMPLITUDES = ("rank", "atomic_number", "uniform")


@dataclass(frozen=True)
class Diffraction2D:
    """Fingerprint settings (SI units for the optics). ``form_factor_width`` is the 1/e width of
    the Gaussian form factor ``f(q) = exp(−|q|²/(2 w²))`` in 1/nearest-neighbour-distance;
    ``window_sigma`` is the standard deviation of the Gaussian atom window in nearest-neighbour
    distances and ``window_cutoff`` the cluster radius in units of ``window_sigma``; ``species``
    the scattering amplitude per atom (one of :data:`SPECIES_AMPLITUDES`)."""

    wavelength: float = 5e-12
    detector_distance: float = 0.1
    pixels: int = 64
    pixel_size: float = 4e-4
    mask_inner: float = 10.0
    mask_outer: float = 30.0
    angle: float = 45.0
    form_factor_width: float = 2.0
    window_sigma: float = 1.5
    window_cutoff: float = 2.5
    species: str = "rank"

    def __post_init__(self):
        if self.species not in SPECIES_AMPLITUDES:
            raise ConfigError(f"species={self.species!r}: choose one of {', '.join(SPECIES_AMPLITUDES)}")
        positive = ("wavelength", "detector_distance", "pixels", "pixel_size", "form_factor_width", "window_sigma")
        for name in positive + ("window_cutoff",):
            if not getattr(self, name) > 0:
                raise ConfigError(f"Diffraction2D.{name} must be > 0, got {getattr(self, name)}")

    def scattering_vectors(self) -> torch.Tensor:
        """``q`` for every pixel, ``float64 [P, 3]`` (P = pixels², row-major), in 1/NN-distance."""
        c = (torch.arange(self.pixels, dtype=torch.float64) - (self.pixels - 1) / 2) * self.pixel_size
        y, x = torch.meshgrid(c, c, indexing="ij")
        s = torch.stack([x, y, torch.full_like(x, self.detector_distance)], -1).reshape(-1, 3)
        s = s / s.norm(dim=1, keepdim=True)
        # wavelength in the same length unit as positions: positions are in NN units, treated as Å.
        lam = self.wavelength / 1e-10
        return (s - torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)) / lam

    def mask(self) -> torch.Tensor:
        """``bool [pixels, pixels]``: True where the pixel is kept (mask_inner < r < mask_outer)."""
        c = torch.arange(self.pixels, dtype=torch.float64) - (self.pixels - 1) / 2
        r = torch.sqrt(c[:, None] ** 2 + c[None, :] ** 2)
        return (r > self.mask_inner) & (r < self.mask_outer)

    def rotations(self) -> torch.Tensor:
        """``float64 [3, 2, 3, 3]``: ±angle about x, y, z (channel, sign)."""
        out = torch.zeros(3, 2, 3, 3, dtype=torch.float64)
        for axis in range(3):
            for k, sign in enumerate((1, -1)):
                a = math.radians(sign * self.angle)
                i, j = [d for d in range(3) if d != axis]
                rot = torch.eye(3, dtype=torch.float64)
                rot[i, i], rot[i, j], rot[j, i], rot[j, j] = math.cos(a), -math.sin(a), math.sin(a), math.cos(a)
                out[axis, k] = rot
        return out


def is_periodic(atoms: Atoms) -> bool:
    """True when ``atoms`` is periodic along all three cell vectors of a non-degenerate cell."""
    return bool(np.all(atoms.pbc)) and atoms.cell.rank == 3


def check_structure(atoms: Atoms, index: int | None = None) -> None:
    """Raise :class:`ConfigError` unless ``atoms`` has ≥ 2 atoms, or ≥ 1 in a periodic cell."""
    if len(atoms) == 0 or (len(atoms) < 2 and not is_periodic(atoms)):
        where = "" if index is None else f"structure {index}: "
        raise ConfigError(
            f"{where}a fingerprint needs at least 2 atoms, or 1 in a periodic cell; got {len(atoms)} "
            f"atom(s) with pbc={atoms.pbc.tolist()}"
        )


def _images(frac: np.ndarray, cell: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Fractional positions ``[S·N, 3]`` of ``frac [N, 3]`` shifted by every lattice vector ``n``
    with ``|n_i| ≤ reach[i]`` (shift-major order)."""
    shifts = np.stack(np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij"), -1).reshape(-1, 3)
    return (frac[None] + shifts[:, None]).reshape(-1, 3)


def _periodic_nearest(atoms: Atoms) -> float:
    """Mean nearest-neighbour distance (Å) of a periodic structure.

    Only images within ``cutoff`` of the cell (in every fractional direction) enter the k-d tree;
    when every atom finds its neighbour within ``cutoff`` that neighbour is the nearest, otherwise the
    cutoff doubles."""
    cell = np.asarray(atoms.cell[:], dtype=np.float64)
    frac = atoms.get_scaled_positions(wrap=True)
    spacing = 1 / np.linalg.norm(np.linalg.inv(cell), axis=0)  # distance between lattice planes
    cutoff = 1.5 * (abs(np.linalg.det(cell)) / len(atoms)) ** (1 / 3)
    while True:
        margin = cutoff / spacing  # in fractional units per axis
        images = _images(frac, cell, np.ceil(margin).astype(int))
        near = np.all((images > -margin) & (images < 1 + margin), axis=1)
        nearest = cKDTree(images[near] @ cell).query(frac @ cell, k=2)[0][:, 1]
        if nearest.max() <= cutoff:
            return float(nearest.mean())
        cutoff *= 2


def mean_nearest_neighbour_distance(atoms: Atoms) -> float:
    """Mean over atoms of the distance (Å) to the nearest other atom, periodic images included."""
    check_structure(atoms)
    if not is_periodic(atoms):
        pos = np.asarray(atoms.positions, dtype=np.float64)
        return float(cKDTree(pos).query(pos, k=2)[0][:, 1].mean())
    return _periodic_nearest(atoms)


def species_amplitudes(atoms: Atoms, settings: Diffraction2D) -> np.ndarray:
    """Scattering amplitude per atom, ``float64 [N]`` in (0, 1]: rank of Z among the k species / k,
    Z / max Z, or 1 (``settings.species``)."""
    if settings.species == "uniform":
        return np.ones(len(atoms))
    if settings.species == "rank":
        species = np.unique(atoms.numbers)
        return (np.searchsorted(species, atoms.numbers) + 1) / len(species)
    z = atoms.numbers.astype(np.float64)
    return z / z.max()


def windowed_cluster(atoms: Atoms, settings: Diffraction2D) -> tuple[np.ndarray, np.ndarray]:
    """The scattering cluster: positions ``float64 [M, 3]`` in nearest-neighbour units relative to
    the window centre (the cell centre, or the centroid of a non-periodic structure) and atom weights
    ``float64 [M]`` in (0, 1]: the Gaussian window shifted to reach 0 at the cluster radius, times
    the species amplitude."""
    nn = mean_nearest_neighbour_distance(atoms)
    radius = settings.window_sigma * settings.window_cutoff  # NN units
    amplitude = species_amplitudes(atoms, settings)
    if is_periodic(atoms):
        cell = np.asarray(atoms.cell[:], dtype=np.float64)
        # Atoms n cells away along i are ≥ (|n_i| − ½) plane spacings from the cell centre: the
        # sphere needs |n_i| ≤ ceil(R / spacing_i + ½) − 1.
        reach = np.ceil(radius * nn * np.linalg.norm(np.linalg.inv(cell), axis=0) + 0.5).astype(int) - 1
        pos = (_images(atoms.get_scaled_positions(wrap=True), cell, reach) - 0.5) @ cell
        amplitude = np.tile(amplitude, len(pos) // len(atoms))
    else:
        pos = np.asarray(atoms.positions, dtype=np.float64)
        pos = pos - pos.mean(axis=0)
    pos = pos / nn
    r2 = (pos**2).sum(axis=1)
    keep = r2 < radius**2
    if keep.sum() < 2:
        raise ConfigError(
            f"{atoms.get_chemical_formula()}: fewer than 2 atoms within {radius:g} nearest-neighbour distances of "
            "the cell centre, where the scattering window sits: centre the slab or cluster in its cell"
        )
    two_s2 = 2 * settings.window_sigma**2
    weight = np.exp(-r2[keep] / two_s2) - math.exp(-(radius**2) / two_s2)
    return pos[keep], weight * amplitude[keep]


class FingerprintTransformer:
    """``FingerprintTransformer(settings, device).transform(structures) -> float32 [N, 3, 64, 64]``.

    ``batch_size`` structures are padded into one array per kernel call (CPU: the numba kernel on
    torch's thread count; CUDA: one phase matrix per batch, so keep it ≤ 64 on a large GPU)."""

    def __init__(
        self, settings: Diffraction2D = Diffraction2D(), device: str | torch.device = "cpu", batch_size: int = 16
    ):
        self.settings = settings
        self.device = torch.device(device)
        self.batch_size = batch_size
        mask = settings.mask()
        self._kept = np.flatnonzero(mask.numpy().ravel())  # kept pixel indices, row-major [K]
        q = settings.scattering_vectors()[mask.flatten()]  # [K, 3]
        rot = settings.rotations()  # [3, 2, 3, 3]
        # q·(R r) = (Rᵀ q)·r  →  rotate the scattering vectors instead of the atoms; [3·2, 3, K]
        self._q = torch.einsum("pi,ckij->ckjp", q, rot).reshape(6, 3, -1).contiguous()
        width = settings.form_factor_width
        self._f2 = torch.exp(-(q.norm(dim=1) ** 2) / width**2).numpy().astype(np.float32)  # f² [K]

    def intensities(self, clusters: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """``float32 [B, 3, K]`` on the kept pixels: the f²-weighted sums of the ±angle patterns."""
        n = max(len(p) for p, _ in clusters)
        pos = np.zeros((len(clusters), 3, n), np.float32)
        weight = np.zeros((len(clusters), n), np.float32)
        for i, (p, w) in enumerate(clusters):
            pos[i, :, : len(p)] = p.T
            weight[i, : len(p)] = w
        if self.device.type == "cpu":
            patterns = intensity_cpu(pos, weight, np.array([len(p) for p, _ in clusters]), self._q.numpy())
        else:
            to = {"device": self.device, "dtype": torch.float32}
            patterns = intensity_torch(
                torch.from_numpy(pos).to(**to), torch.from_numpy(weight).to(**to), self._q.to(**to)
            )
            patterns = patterns.cpu().numpy()
        return (patterns * self._f2).reshape(len(clusters), 3, 2, -1).sum(axis=2)

    def images(self, intensity: np.ndarray) -> torch.Tensor:
        """``float32 [B, 3, pixels, pixels]``: ``intensity [B, 3, K]`` min–max normalised per structure
        (three channels jointly) on the kept pixels, 0 elsewhere."""
        lo = intensity.min(axis=(1, 2), keepdims=True)
        hi = intensity.max(axis=(1, 2), keepdims=True)
        img = np.zeros((len(intensity), 3, self.settings.pixels**2), np.float32)
        img[:, :, self._kept] = (intensity - lo) / np.maximum(hi - lo, 1e-12)
        return torch.from_numpy(img).view(len(intensity), 3, self.settings.pixels, self.settings.pixels)

    @torch.no_grad()
    def transform(self, structures: Sequence[Atoms]) -> torch.Tensor:
        """Fingerprints ``float32 [len(structures), 3, 64, 64]`` in [0, 1] (on CPU)."""
        for i, atoms in enumerate(structures):
            check_structure(atoms, i)
        out = [
            self.images(
                self.intensities([windowed_cluster(a, self.settings) for a in structures[i : i + self.batch_size]])
            )
            for i in range(0, len(structures), self.batch_size)
        ]
        return torch.cat(out) if out else torch.zeros(0, 3, self.settings.pixels, self.settings.pixels)
