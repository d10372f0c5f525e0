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
``|Σ_j w_j f(|q|) exp(−2πi q·r_j)|²`` with a smooth, element-independent form factor ``f``.
Channel R sums the patterns of the structure rotated by +45° and −45° about x, G about y, B about
z. Pixels at radius ≤ 10 px or ≥ 30 px are masked to 0 and the three channels are min–max
normalised jointly to [0, 1]. Batched in torch; runs on CPU or CUDA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

from matsight.errors import ConfigError


@dataclass(frozen=True)
class Diffraction2D:
    """Fingerprint settings (SI units for the optics). ``form_factor_width`` is the 1/e width of
    the Gaussian form factor ``f(q) = exp(−|q|²/(2 w²))`` in 1/nearest-neighbour-distance;
    ``window_sigma`` is the standard deviation of the Gaussian atom window in nearest-neighbour
    distances and ``window_cutoff`` the cluster radius in units of ``window_sigma``."""

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


def mean_nearest_neighbour_distance(atoms: Atoms) -> float:
    """Mean over atoms of the distance (Å) to the nearest other atom, periodic images included."""
    if len(atoms) == 0 or (len(atoms) < 2 and not is_periodic(atoms)):
        raise ConfigError(
            f"a fingerprint needs at least 2 atoms, or 1 in a periodic cell; got {len(atoms)} "
            f"atom(s) with pbc={atoms.pbc.tolist()}"
        )
    if not is_periodic(atoms):
        pos = torch.from_numpy(np.asarray(atoms.positions, dtype=np.float64))
        d = torch.cdist(pos, pos)
        d.fill_diagonal_(math.inf)
        return float(d.min(dim=1).values.mean())
    cutoff = 1.5 * (abs(atoms.cell.volume) / len(atoms)) ** (1 / 3)
    while True:  # grow the cutoff until every atom has a neighbour (sparse, defective cells)
        i, d = neighbor_list("id", atoms, cutoff)
        nearest = np.full(len(atoms), np.inf)
        np.minimum.at(nearest, i, d)
        if np.isfinite(nearest).all():
            return float(nearest.mean())
        cutoff *= 1.5


def windowed_cluster(atoms: Atoms, settings: Diffraction2D) -> tuple[np.ndarray, np.ndarray]:
    """The scattering cluster: positions ``float64 [M, 3]`` in nearest-neighbour units relative to
    the window centre (the cell centre, or the centroid of a non-periodic structure) and atom weights
    ``float64 [M]`` in (0, 1], the Gaussian window shifted to reach 0 at the cluster radius."""
    nn = mean_nearest_neighbour_distance(atoms)
    radius = settings.window_sigma * settings.window_cutoff  # NN units
    if is_periodic(atoms):
        cell = np.asarray(atoms.cell[:], dtype=np.float64)
        # images needed along cell vector i: the lattice planes are 1/|b_i| apart
        reach = np.ceil(radius * nn * np.linalg.norm(np.linalg.inv(cell), axis=0)).astype(int) + 1
        shifts = np.stack(np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij"), -1).reshape(-1, 3)
        frac = atoms.get_scaled_positions(wrap=True)
        pos = (frac[None] + shifts[:, None]).reshape(-1, 3) @ cell - cell.sum(axis=0) / 2
    else:
        pos = np.asarray(atoms.positions, dtype=np.float64)
        pos = pos - pos.mean(axis=0)
    pos = pos / nn
    r2 = (pos**2).sum(axis=1)
    keep = r2 < radius**2
    two_s2 = 2 * settings.window_sigma**2
    weight = np.exp(-r2[keep] / two_s2) - math.exp(-(radius**2) / two_s2)
    return pos[keep], weight


class FingerprintTransformer:
    """``FingerprintTransformer(settings, device).transform(structures) -> float32 [N, 3, 64, 64]``."""

    def __init__(
        self, settings: Diffraction2D = Diffraction2D(), device: str | torch.device = "cpu", batch_size: int = 8
    ):
        self.settings = settings
        self.device = torch.device(device)
        self.batch_size = batch_size
        self._mask = settings.mask().to(self.device)
        q = settings.scattering_vectors()[settings.mask().flatten()]  # kept pixels only [K, 3]
        rot = settings.rotations()  # [3, 2, 3, 3]
        # q·(R r) = (Rᵀ q)·r  →  rotate the scattering vectors instead of the atoms
        self._q = torch.einsum("pi,ckij->ckpj", q, rot).to(self.device, torch.float32)  # [3, 2, P, 3]
        width = settings.form_factor_width
        self._f2 = torch.exp(-(q.norm(dim=1) ** 2) / width**2).to(self.device, torch.float32)  # f² [K]

    def _intensity(self, pos: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """pos ``[B, N, 3]`` (padded), weight ``[B, N]`` (window / 0 pad) → ``[B, 3, K]`` on kept pixels."""
        phase = 2 * math.pi * pos @ self._q.reshape(-1, 3).T  # [B, N, 3·2·K]
        w = weight[:, None, :]
        re, im = torch.bmm(w, torch.cos(phase)), torch.bmm(w, torch.sin(phase))  # [B, 1, 3·2·K]
        intensity = (re**2 + im**2).view(len(pos), 3, 2, -1) * self._f2
        return intensity.sum(dim=2)

    def _normalise(self, intensity: torch.Tensor) -> torch.Tensor:
        s = self.settings.pixels
        lo = intensity.amin(dim=(1, 2), keepdim=True)
        hi = intensity.amax(dim=(1, 2), keepdim=True)
        img = torch.zeros(len(intensity), 3, s, s, device=intensity.device)
        img[:, :, self._mask] = (intensity - lo) / (hi - lo).clamp_min(1e-12)
        return img

    @torch.no_grad()
    def transform(self, structures: Sequence[Atoms]) -> torch.Tensor:
        """Fingerprints ``float32 [len(structures), 3, 64, 64]`` in [0, 1] (on CPU)."""
        out = []
        for start in range(0, len(structures), self.batch_size):
            batch = [windowed_cluster(a, self.settings) for a in structures[start : start + self.batch_size]]
            n = max(len(p) for p, _ in batch)
            pos = torch.zeros(len(batch), n, 3)
            weight = torch.zeros(len(batch), n)
            for i, (p, w) in enumerate(batch):
                pos[i, : len(p)] = torch.from_numpy(p)
                weight[i, : len(p)] = torch.from_numpy(w)
            out.append(self._normalise(self._intensity(pos.to(self.device), weight.to(self.device))).cpu())
        if not out:
            return torch.zeros(0, 3, self.settings.pixels, self.settings.pixels)
        return torch.cat(out)


def fingerprints(structures: Sequence[Atoms], device: str | torch.device = "cpu", batch_size: int = 8) -> torch.Tensor:
    """Shortcut: :class:`FingerprintTransformer` with the default settings."""
    return FingerprintTransformer(device=device, batch_size=batch_size).transform(structures)
