"""Two-dimensional diffraction fingerprints (the ai4materials ``Diffraction2D`` defaults).

A structure (its supercell of ~128–256 atoms) is centred and scaled so that the mean
nearest-neighbour distance is 1. A plane wave of wavelength 5 pm hits it along +z; a
64×64 detector of 0.4 mm pixels sits 0.1 m away. For the pixel in direction ŝ the scattering
vector is ``q = (ŝ − ẑ)/λ`` (on the Ewald sphere, in units of 1/nearest-neighbour distance) and
the kinematic intensity is ``|Σ_j f(|q|) exp(−2πi q·r_j)|²`` with a smooth, element-independent
form factor ``f``. Channel R sums the patterns of the structure rotated by +45° and −45° about x,
G about y, B about z. Pixels at radius ≤ 10 px or ≥ 30 px are masked to 0 and the three channels
are min–max normalised jointly to [0, 1]. Batched in torch; runs on CPU or CUDA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms


@dataclass(frozen=True)
class Diffraction2D:
    """Fingerprint settings (SI units for the optics). ``form_factor_width`` is the 1/e width of
    the Gaussian form factor ``f(q) = exp(−|q|²/(2 w²))`` in 1/nearest-neighbour-distance."""

    wavelength: float = 5e-12
    detector_distance: float = 0.1
    pixels: int = 64
    pixel_size: float = 4e-4
    mask_inner: float = 10.0
    mask_outer: float = 30.0
    angle: float = 45.0
    form_factor_width: float = 2.0

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


def normalised_positions(atoms: Atoms) -> np.ndarray:
    """Cartesian positions ``[N, 3]`` centred on their mean, scaled so the mean nearest-neighbour
    distance (within the finite cluster) is 1."""
    pos = np.asarray(atoms.positions, dtype=np.float64)
    pos = pos - pos.mean(axis=0)
    d = torch.cdist(torch.from_numpy(pos), torch.from_numpy(pos))
    d.fill_diagonal_(math.inf)
    return pos / float(d.min(dim=1).values.mean())


class FingerprintTransformer:
    """``FingerprintTransformer(settings, device).transform(structures) -> float32 [N, 3, 64, 64]``."""

    def __init__(self, settings: Diffraction2D = Diffraction2D(), device: str | torch.device = "cpu",
                 batch_size: int = 8):
        self.settings = settings
        self.device = torch.device(device)
        self.batch_size = batch_size
        self._mask = settings.mask().to(self.device)
        q = settings.scattering_vectors()[settings.mask().flatten()]           # kept pixels only [K, 3]
        rot = settings.rotations()                                             # [3, 2, 3, 3]
        # q·(R r) = (Rᵀ q)·r  →  rotate the scattering vectors instead of the atoms
        self._q = torch.einsum("pi,ckij->ckpj", q, rot).to(self.device, torch.float32)  # [3, 2, P, 3]
        width = settings.form_factor_width
        self._f2 = torch.exp(-(q.norm(dim=1) ** 2) / width**2).to(self.device, torch.float32)  # f² [K]

    def _intensity(self, pos: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """pos ``[B, N, 3]`` (padded), weight ``[B, N]`` (1 atom / 0 pad) → ``[B, 3, K]`` on kept pixels."""
        phase = 2 * math.pi * torch.einsum("ckpj,bnj->bckpn", self._q, pos)
        re = torch.einsum("bckpn,bn->bckp", torch.cos(phase), weight)
        im = torch.einsum("bckpn,bn->bckp", torch.sin(phase), weight)
        return ((re**2 + im**2) * self._f2).sum(dim=2)

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
            batch = [normalised_positions(a) for a in structures[start:start + self.batch_size]]
            n = max(len(p) for p in batch)
            pos = torch.zeros(len(batch), n, 3)
            weight = torch.zeros(len(batch), n)
            for i, p in enumerate(batch):
                pos[i, :len(p)] = torch.from_numpy(p)
                weight[i, :len(p)] = 1
            out.append(self._normalise(self._intensity(pos.to(self.device), weight.to(self.device))).cpu())
        if not out:
            return torch.zeros(0, 3, self.settings.pixels, self.settings.pixels)
        return torch.cat(out)


def fingerprints(structures: Sequence[Atoms], device: str | torch.device = "cpu", batch_size: int = 8) -> torch.Tensor:
    """Shortcut: :class:`FingerprintTransformer` with the default settings."""
    return FingerprintTransformer(device=device, batch_size=batch_size).transform(structures)
