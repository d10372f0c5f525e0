"""Procedural describable-texture bank in the DTD layout (``images/<class>/<class>_NNNN.png``).

Each class is a small generator drawn with its own random scale (period in pixels), orientation,
contrast, brightness, blur and noise, so images of one class vary the way photographs of a
texture do. The real DTD (47 classes, 5,640 images) cannot be downloaded here; this stands in for
it in tests and the demo, and the readers accept the real one unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree

Generator = Callable[[np.random.Generator, int], np.ndarray]


# -- helpers: all return float arrays [S, S] ----------------------------------------------------
def _frame(rng: np.random.Generator, size: int, period: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, float]:
    """Rotated coordinates ``(u, v)`` in units of a random period drawn from ``period`` × size/64."""
    p = rng.uniform(*period) * size / 64.0
    theta = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    u = (x * np.cos(theta) + y * np.sin(theta)) / p
    v = (-x * np.sin(theta) + y * np.cos(theta)) / p
    return u + rng.uniform(0, 1), v + rng.uniform(0, 1), p


def _noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Smooth noise with correlation length ``sigma`` px, zero mean and unit std."""
    n = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-9)


def _points(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    return rng.uniform(0, size, (max(count, 2), 2))


def _voronoi(rng: np.random.Generator, size: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the nearest cell edge (px) and the cell index of every pixel."""
    pts = _points(rng, size, count)
    y, x = np.mgrid[0:size, 0:size]
    d, i = cKDTree(pts).query(np.c_[y.ravel(), x.ravel()], k=2)
    return ((d[:, 1] - d[:, 0]) / 2).reshape(size, size), i[:, 0].reshape(size, size)


def _disks(
    rng: np.random.Generator, size: int, count: int, radius: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance-to-rim ratio of random disks: ``(r_norm, inside)`` with r_norm = dist/radius."""
    pts = _points(rng, size, count)
    radii = rng.uniform(*radius, len(pts)) * size / 64.0
    y, x = np.mgrid[0:size, 0:size]
    d, i = cKDTree(pts).query(np.c_[y.ravel(), x.ravel()], k=1)
    r = (d / radii[i]).reshape(size, size)
    return r, r < 1.0


_HEX = np.array([(i + 0.5 * (j % 2), j * np.sqrt(0.75)) for i in range(-60, 60) for j in range(-70, 70)])


def _lattice_dist(u: np.ndarray, v: np.ndarray, hexagonal: bool = False, k: int = 1) -> np.ndarray:
    """Distance (in periods) to the nearest lattice point of a square or hexagonal lattice.

    ``k=2`` returns ``[..., 2]`` distances to the nearest and second-nearest point (hexagonal only).
    """
    if not hexagonal:
        return np.hypot(u - np.round(u), v - np.round(v))
    d, _ = cKDTree(_HEX).query(np.c_[u.ravel(), v.ravel()], k=k)
    return d.reshape(u.shape + ((k,) if k > 1 else ()))


def _tri(t: np.ndarray) -> np.ndarray:
    """Triangle wave with period 1 in [0, 1]."""
    return 2 * np.abs(t - np.floor(t + 0.5))


def _line(t: np.ndarray, width: float) -> np.ndarray:
    """1 on thin lines at integer ``t`` (width in periods), 0 elsewhere, soft edges."""
    return np.clip(1.5 - np.abs(t - np.round(t)) / width, 0, 1)


# -- the classes ---------------------------------------------------------------------------------
def _dotted(rng, s):
    u, v, _ = _frame(rng, s, (6, 11))
    return (_lattice_dist(u, v) > rng.uniform(0.12, 0.2)).astype(float)


def _polka(rng, s):
    u, v, _ = _frame(rng, s, (14, 24))
    return (_lattice_dist(u, v, hexagonal=True) > rng.uniform(0.28, 0.4)).astype(float)


def _perforated(rng, s):
    u, v, _ = _frame(rng, s, (7, 12))
    d = _lattice_dist(u, v, hexagonal=rng.random() < 0.5)
    r = rng.uniform(0.2, 0.3)
    return np.where(d < r, 0.05, 0.7 + 0.3 * np.clip((d - r) / 0.08, 0, 1) * (d < r + 0.08)) + 0.1 * _noise(rng, s, 4)


def _porous(rng, s):
    r, inside = _disks(rng, s, int(rng.uniform(30, 70) * (s / 64) ** 2), (1.0, 3.5))
    return 0.75 + 0.15 * _noise(rng, s, 3) - 0.6 * inside * (1.2 - r)


def _pitted(rng, s):
    r, inside = _disks(rng, s, int(rng.uniform(60, 140) * (s / 64) ** 2), (0.5, 1.5))
    return 0.6 + 0.2 * _noise(rng, s, 6) - 0.5 * inside


def _bubbly(rng, s):
    r, inside = _disks(rng, s, int(rng.uniform(8, 20) * (s / 64) ** 2), (4, 10))
    return 0.3 + 0.7 * np.exp(-(((r - 0.9) / 0.12) ** 2)) + 0.2 * inside * (1 - r)


def _flecked(rng, s):
    img = 0.5 + 0.1 * _noise(rng, s, 8)
    for _ in range(int(rng.uniform(40, 90) * (s / 64) ** 2)):
        y, x = rng.integers(0, s, 2)
        h, w = rng.integers(1, 3), rng.integers(2, 6)
        img[y : y + h, x : x + w] = rng.uniform(0, 1)
    return img


def _freckled(rng, s):
    r, inside = _disks(rng, s, int(rng.uniform(15, 35) * (s / 64) ** 2), (1.0, 2.5))
    return 0.8 - 0.4 * np.clip(1.3 - r, 0, 1) + 0.05 * _noise(rng, s, 10)


def _sprinkled(rng, s):
    img = np.full((s, s), rng.uniform(0.2, 0.8))
    for _ in range(int(rng.uniform(60, 120) * (s / 64) ** 2)):
        y, x = rng.integers(0, s - 4, 2)
        length, angle = rng.integers(2, 5), rng.uniform(0, np.pi)
        ys = (y + np.arange(length) * np.sin(angle)).astype(int)
        xs = (x + np.arange(length) * np.cos(angle)).astype(int)
        img[ys, xs] = rng.choice([0.0, 1.0, rng.uniform()])
    return img


def _striped(rng, s):
    u, _, _ = _frame(rng, s, (8, 16))
    return (np.sin(2 * np.pi * u) > rng.uniform(-0.3, 0.3)).astype(float)


def _banded(rng, s):
    u, _, _ = _frame(rng, s, (20, 40))
    levels = rng.uniform(0, 1, 64)
    return levels[np.floor(u).astype(int) % 64] + 0.05 * _noise(rng, s, 2)


def _lined(rng, s):
    u, _, _ = _frame(rng, s, (4, 8))
    return 0.85 - 0.7 * _line(u, rng.uniform(0.05, 0.12))


def _zigzag(rng, s):
    u, v, _ = _frame(rng, s, (8, 14))
    return (np.sin(2 * np.pi * (u + rng.uniform(0.5, 1.2) * _tri(v * 0.5))) > 0).astype(float)


def _grid(rng, s):
    u, v, _ = _frame(rng, s, (7, 14))
    w = rng.uniform(0.05, 0.1)
    return 0.85 - 0.75 * np.maximum(_line(u, w), _line(v, w))


def _chequered(rng, s):
    u, v, _ = _frame(rng, s, (8, 16))
    return ((np.floor(u) + np.floor(v)) % 2).astype(float)


def _crosshatched(rng, s):
    u, v, _ = _frame(rng, s, (3, 6))
    w = rng.uniform(0.08, 0.15)
    return 0.9 - 0.45 * _line(u + v, w) - 0.45 * _line(u - v, w)


def _woven(rng, s):
    u, v, _ = _frame(rng, s, (6, 10))
    over = (np.floor(u) + np.floor(v)) % 2
    thread = np.where(over > 0, np.cos(np.pi * (v - np.round(v))), np.cos(np.pi * (u - np.round(u))))
    return 0.2 + 0.7 * thread**2


def _meshed(rng, s):
    u, v, _ = _frame(rng, s, (5, 9))
    w = rng.uniform(0.12, 0.2)
    return 0.1 + 0.8 * np.maximum(_line(u + v, w), _line(u - v, w))


def _honeycombed(rng, s):
    u, v, _ = _frame(rng, s, (8, 14))
    d = _lattice_dist(u, v, hexagonal=True, k=2)
    wall = (d[..., 1] - d[..., 0]) < rng.uniform(0.06, 0.12)
    return np.where(wall, 0.9, 0.35) + 0.05 * _noise(rng, s, 3)


def _cracked(rng, s):
    edge, _ = _voronoi(rng, s, int(rng.uniform(8, 20) * (s / 64) ** 2))
    return 0.75 + 0.1 * _noise(rng, s, 5) - 0.6 * (edge < rng.uniform(0.6, 1.2))


def _veined(rng, s):
    n = _noise(rng, s, rng.uniform(5, 10) * s / 64)
    return 0.8 - 0.6 * np.exp(-((n / 0.12) ** 2)) + 0.05 * _noise(rng, s, 2)


def _wrinkled(rng, s):
    u, v, _ = _frame(rng, s, (3, 5))
    return 0.5 + 0.4 * np.sin(2 * np.pi * (u + 1.5 * _noise(rng, s, 6 * s / 64)))


def _bumpy(rng, s):
    h = _noise(rng, s, rng.uniform(2.5, 5) * s / 64)
    gy, gx = np.gradient(h)
    return 0.5 + 2.0 * (gx + gy)


def _stratified(rng, s):
    u, _, _ = _frame(rng, s, (5, 12))
    u = u + 0.8 * _noise(rng, s, 12 * s / 64)
    levels = rng.uniform(0.1, 0.9, 64)
    return levels[np.floor(u).astype(int) % 64] * (0.8 + 0.2 * _noise(rng, s, 1.5))


def _crystalline(rng, s):
    _, cell = _voronoi(rng, s, int(rng.uniform(10, 25) * (s / 64) ** 2))
    return rng.uniform(0.1, 1.0, cell.max() + 1)[cell]


def _marbled(rng, s):
    u, _, _ = _frame(rng, s, (20, 40))
    turbulence = np.abs(_noise(rng, s, 6 * s / 64)) + 0.5 * np.abs(_noise(rng, s, 2 * s / 64))
    return 0.5 + 0.5 * np.sin(2 * np.pi * (u + rng.uniform(0.8, 1.6) * turbulence))


def _swirly(rng, s):
    y, x = np.mgrid[0:s, 0:s] / (s / 4.0)
    a = 3 * _noise(rng, s, 10 * s / 64)
    return 0.5 + 0.5 * np.sin(rng.uniform(2, 4) * (x * np.cos(a) + y * np.sin(a)))


def _spiralled(rng, s):
    y, x = np.mgrid[0:s, 0:s].astype(float)
    cy, cx = rng.uniform(0.3, 0.7, 2) * s
    r, phi = np.hypot(y - cy, x - cx), np.arctan2(y - cy, x - cx)
    arms, pitch = rng.integers(1, 4), rng.uniform(5, 10) * s / 64
    return 0.5 + 0.5 * np.sin(arms * phi + rng.choice([-1, 1]) * r / pitch * 2 * np.pi / arms)


CLASSES: dict[str, Generator] = {
    "dotted": _dotted,
    "polka-dotted": _polka,
    "perforated": _perforated,
    "porous": _porous,
    "pitted": _pitted,
    "bubbly": _bubbly,
    "flecked": _flecked,
    "freckled": _freckled,
    "sprinkled": _sprinkled,
    "striped": _striped,
    "banded": _banded,
    "lined": _lined,
    "zigzagged": _zigzag,
    "grid": _grid,
    "chequered": _chequered,
    "crosshatched": _crosshatched,
    "woven": _woven,
    "meshed": _meshed,
    "honeycombed": _honeycombed,
    "cracked": _cracked,
    "veined": _veined,
    "wrinkled": _wrinkled,
    "bumpy": _bumpy,
    "stratified": _stratified,
    "crystalline": _crystalline,
    "marbled": _marbled,
    "swirly": _swirly,
    "spiralled": _spiralled,
}
"""DTD class name → generator ``(rng, size) -> float [size, size]``."""

# The pits-and-holes family that a porosity-driven property should light up.
POROSITY_FAMILY = ("dotted", "polka-dotted", "perforated", "porous", "pitted", "freckled", "sprinkled", "flecked")


def render_texture(name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """One image of class ``name``: ``uint8 [size, size]`` with random contrast, brightness, blur, noise."""
    img = CLASSES[name](rng, size)
    img = (img - img.mean()) / (img.std() + 1e-9)
    img = ndimage.gaussian_filter(img, rng.uniform(0.0, 0.8))
    img = 0.5 + rng.uniform(0.12, 0.25) * img + rng.uniform(-0.1, 0.1)
    img = img + rng.uniform(0.0, 0.05) * rng.standard_normal(img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def generate_bank(
    out: str | os.PathLike, per_class: int = 40, size: int = 128, seed: int = 0, classes: list[str] | None = None
) -> Path:
    """Write ``out/images/<class>/<class>_NNNN.png`` for every class (default: all of :data:`CLASSES`)."""
    out = Path(out)
    names = list(CLASSES) if classes is None else classes
    unknown = sorted(set(names) - set(CLASSES))
    if unknown:
        from matsight.errors import ConfigError

        raise ConfigError(f"unknown texture classes {unknown}: choose from {', '.join(CLASSES)}")
    for c, name in enumerate(names):
        folder = out / "images" / name
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, c])
        for i in range(per_class):
            Image.fromarray(render_texture(name, rng, size)).save(folder / f"{name}_{i + 1:04d}.png")
    return out
