"""Building blocks of synthetic x-ray scattering images (all vectorised numpy, one image at a time).

Units: ``q`` in inverse nanometres on a detector whose edge (half the image width from the
centre) sits at ``Q_EDGE``; ``chi`` (azimuth) in radians. Every intensity function returns
``float64 [H, W]`` expected photon counts per pixel (before Poisson noise), or a mask in [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

Q_EDGE = 1.0  # nm^-1 at half the detector width from the centre
BCC_RATIOS = np.sqrt([1, 2, 3, 4, 5, 6, 7, 8])  # q/q0 of the bcc sequence
FCC_RATIOS = np.array([1, 1.1547, 1.633, 1.915, 2.0, 2.309, 2.517, 2.582])


def q_map(size: int, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """``(q, chi)`` of every pixel of a ``size``×``size`` detector for a beam at ``centre`` (x, y pixels)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = x - centre[0], y - centre[1]
    return np.hypot(dx, dy) * (2 * Q_EDGE / size), np.arctan2(dy, dx)


def low_q(q: np.ndarray, kind: str, amplitude: float, length: float, exponent: float = 3.0) -> np.ndarray:
    """Diffuse low-q scattering.

    ``power`` law A·(q·ℓ)^-p, ``oz`` Ornstein–Zernike A/(1+ℓ²q²), or ``guinier`` A·exp(-q²ℓ²/3).
    """
    if kind == "power":
        return amplitude * np.minimum((np.maximum(q, 1e-3) * length) ** -exponent, 1e3)
    if kind == "oz":
        return amplitude / (1 + (length * q) ** 2)
    return amplitude * np.exp(-((q * length) ** 2) / 3)


def high_q(q: np.ndarray, amplitude: float, sigma: float) -> np.ndarray:
    """Diffuse high-q scattering ``c·(1 − exp(−σ²q²))``."""
    return amplitude * (1 - np.exp(-((sigma * q) ** 2)))


def anisotropy(chi: np.ndarray, eta: float, symmetry: int, angle: float) -> np.ndarray:
    """Angular factor ``(1−η²)/((1+η)² − 4η cos²(sym·(χ−χ0)/2))`` (1 everywhere when η = 0)."""
    return (1 - eta**2) / ((1 + eta) ** 2 - 4 * eta * np.cos(symmetry * (chi - angle) / 2) ** 2)


def ring(q: np.ndarray, q0: float, width: float, amplitude: float) -> np.ndarray:
    """A ring Gaussian in ``q`` centred on ``q0`` with standard deviation ``width``."""
    return amplitude * np.exp(-0.5 * ((q - q0) / width) ** 2)


def sphere_form_factor(q: np.ndarray | float, radius: float) -> np.ndarray:
    """Normalised sphere form factor ``[3(sin x − x cos x)/x³]²`` with ``x = qR``."""
    x = np.maximum(np.asarray(q, np.float64) * radius, 1e-2)  # below 1e-2, P = 1 − x²/5 to 1e-9
    return (3 * (np.sin(x) - x * np.cos(x)) / x**3) ** 2


def speckle(size: int, grain: int, rng: np.random.Generator) -> np.ndarray:
    """Grainy multiplicative field (mean ≈ 1): exponential noise on a ``grain``-pixel grid, upsampled."""
    cells = -(-size // grain)
    field = rng.exponential(1.0, (cells, cells)) ** 2
    return np.kron(field, np.ones((grain, grain)))[:size, :size]


def beamstop_mask(kind: str, size: int, centre: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A blurred beamstop shadow in [0, 1] (1 = fully blocked): ``linear`` bar from the centre to an
    edge, ``circular`` disc with a holder arm, or ``wedge`` angular sector from the centre."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = x - centre[0], y - centre[1]
    angle = rng.uniform(0, 2 * np.pi)
    along = dx * np.cos(angle) + dy * np.sin(angle)  # distance along the arm direction
    across = np.abs(-dx * np.sin(angle) + dy * np.cos(angle))
    if kind == "linear":
        mask = (along > -0.03 * size) & (across < rng.uniform(0.02, 0.05) * size)
    elif kind == "circular":
        radius = rng.uniform(0.04, 0.09) * size
        mask = (np.hypot(dx, dy) < radius) | ((along > 0) & (across < rng.uniform(0.005, 0.015) * size + 0.5))
    else:
        half = rng.uniform(0.08, 0.25)
        mask = (np.abs(np.angle(np.exp(1j * (np.arctan2(dy, dx) - angle)))) < half) | (np.hypot(dx, dy) < 0.03 * size)
    return np.clip(gaussian_filter(mask.astype(np.float64), sigma=max(size / 256, 0.5)), 0, 1)
