"""Rendering of one synthetic SEM tile of packed crystals from physical attributes.

Grains are cells of a power-weighted Voronoi (Laguerre) diagram of random seeds with log-normal
radii, so their sizes follow a log-normal law and their faces are flat. ``facetness`` blends
flat, individually tilted facets with sharp edges (1) into rounded, dome-shaded grains with soft,
wider gaps (0). Pits are small dark pin-pricks on grain surfaces, cracks thin dark random-walk
lines. SEM look: bright edges (edge effect), a low-frequency topographic/illumination gradient,
slight blur and shot/detector noise.

:func:`render_tile_with_truth` also returns where each cause was planted (:class:`TileTruth`):
per-pixel masks of the pits, cracks, grain boundaries and grain faces (facets) and the number of
pits and cracks drawn. The masks come from the same arrays that darken or shade the tile, so they
cost a few comparisons and the tile is identical with or without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class TileAttributes:
    """Physical attributes of a lot (all tiles of a lot share them).

    ``size``: mean grain diameter in pixels; ``polydispersity``: σ of log grain diameter;
    ``porosity``: pits per 100 px² of grain surface; ``facetness``: 0 rounded … 1 faceted;
    ``cracks``: cracks per 100 × 100 px.
    """

    size: float
    porosity: float
    polydispersity: float
    facetness: float
    cracks: float


MASK_NAMES = ("pits", "cracks", "grain_boundaries", "facets")
"""The planted causes with a per-pixel mask, in bit order (see :mod:`matsight.synth.masks`)."""
VISIBLE_DARKENING = 0.1  # a pit or crack pixel: the feature darkens it by at least 10 %


@dataclass(frozen=True)
class TileTruth:
    """Where a tile's causes are: ``masks`` maps each of :data:`MASK_NAMES` to ``bool [side, side]``.

    ``pits``: pixels a pit darkens by ≥ 10 % (3–4 px discs); ``cracks``: pixels a crack darkens by
    ≥ 10 %; ``grain_boundaries``: the dark gaps between grains (within ``gap / 2 + 0.5`` px of a
    boundary; ``gap`` = 0.7 px for faceted … 2.5 px for rounded grains); ``facets``: the grain faces
    that carry the facet / dome shading, farther than ``gap + 0.5`` px from a boundary, where pits
    are placed (the bright rims in between belong to neither). ``n_pits``: pits drawn;
    ``n_cracks``: cracks drawn.
    """

    masks: dict[str, np.ndarray] = field(repr=False)
    n_pits: int
    n_cracks: int


def _laguerre_labels(shape: tuple[int, int], centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Label of the nearest seed by power distance ``|p - c|² - r²`` for every pixel ``[H, W]``.

    Lifting each seed to height ``sqrt(max r² - r²)`` turns the power distance into a Euclidean
    distance in 3-D, answered by a k-d tree.
    """
    from scipy.spatial import cKDTree

    h, w = shape
    # ≥ 0 in exact arithmetic; float32 rounding can leave −1e-5 for the largest seed (a NaN height)
    lift = np.sqrt(np.maximum(radii.max() ** 2 - radii**2, 0))
    tree = cKDTree(np.column_stack([centres, lift]))
    yy, xx = np.mgrid[0:h, 0:w]
    _, labels = tree.query(np.column_stack([yy.ravel(), xx.ravel(), np.zeros(h * w)]))
    return labels.reshape(h, w).astype(np.int32)


def _grain_seeds(rng: np.random.Generator, side: int, a: TileAttributes) -> tuple[np.ndarray, np.ndarray]:
    """Seed centres and radii covering a margin around the tile (so no grain is cut artificially)."""
    margin = 2 * a.size
    span = side + 2 * margin
    mean_area = np.pi * (a.size / 2) ** 2 * np.exp(a.polydispersity**2)
    n = max(4, int(span * span / mean_area))
    diameters = a.size * np.exp(a.polydispersity * rng.standard_normal(n) - a.polydispersity**2 / 2)
    centres = rng.uniform(-margin, side + margin, size=(n, 2)).astype(np.float32)
    return centres, (diameters / 2).astype(np.float32)


def _stratified_count(rng: np.random.Generator, expected: float) -> int:
    """floor(expected) plus one with probability frac(expected): mean ``expected``, variance ≤ 1/4.

    A Poisson count would make a tile's crack count so noisy (variance = mean) that no tile-level
    model could read the lot's crack density from one tile; this keeps the ground truth visible.
    """
    whole = int(np.floor(expected))
    return whole + int(rng.random() < expected - whole)


def _crack_mask(rng: np.random.Generator, side: int, a: TileAttributes) -> tuple[np.ndarray, int]:
    """Darkening ``float32 [side, side]`` of the cracks (≈ 1 on a crack) and how many were drawn."""
    mask = np.zeros((side, side), np.float32)
    n_cracks = _stratified_count(rng, a.cracks * (side / 100) ** 2)
    for _ in range(n_cracks):
        y, x = rng.uniform(0, side, 2)
        heading = rng.uniform(0, 2 * np.pi)
        for _step in range(int(rng.uniform(0.5, 0.8) * side)):
            heading += rng.normal(0, 0.25)
            y, x = y + np.sin(heading), x + np.cos(heading)
            if 0 <= y < side and 0 <= x < side:
                mask[int(y), int(x)] = 1.0
    return ndimage.gaussian_filter(mask, 0.5) * 2.5, n_cracks


def render_tile(a: TileAttributes, side: int, rng: np.random.Generator) -> np.ndarray:
    """One tile ``uint8 [side, side]``."""
    return render_tile_with_truth(a, side, rng)[0]


def render_tile_with_truth(a: TileAttributes, side: int, rng: np.random.Generator) -> tuple[np.ndarray, TileTruth]:
    """One tile ``uint8 [side, side]`` and its :class:`TileTruth` (same random draws as :func:`render_tile`)."""
    centres, radii = _grain_seeds(rng, side, a)
    labels = _laguerre_labels((side, side), centres, radii)
    boundary = np.zeros(labels.shape, bool)
    boundary[:-1] |= labels[:-1] != labels[1:]
    boundary[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    depth = ndimage.distance_transform_edt(~boundary).astype(np.float32)  # px to the nearest grain boundary
    grain_radius = ndimage.maximum(depth, labels, index=np.arange(len(radii)))[labels] + 1e-3

    # facets: each grain a flat plane with its own tilt; domes: height grows smoothly towards the centre
    tilt = rng.normal(0, 0.5, size=(len(radii), 2)).astype(np.float32)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    facet = 0.62 + 0.35 * np.tanh(
        (tilt[labels, 0] * (yy - centres[labels, 0]) + tilt[labels, 1] * (xx - centres[labels, 1]))
        / (radii[labels] + 1)
    )
    relative = np.clip(depth / grain_radius, 0, 1)
    dome = (
        0.15
        + 0.55 * np.sqrt(1 - (1 - relative) ** 2)
        + 0.25 * np.clip(np.gradient(relative, axis=1) * grain_radius, -1, 1)
    )
    f = a.facetness
    surface = f * facet + (1 - f) * dome
    gap = 0.7 + 1.8 * (1 - f)  # rounded grains pack with wider dark gaps
    grains = np.clip((depth - gap * 0.5) / (0.5 + 1.5 * (1 - f)), 0, 1)
    image = 0.08 + surface * grains
    # SEM edge effect: bright rims where the surface drops into a gap, sharper for facets
    rim = np.exp(-((depth - gap) ** 2) / (2 * (0.6 + 1.2 * (1 - f)) ** 2))
    image += (0.25 + 0.2 * f) * rim
    # pits: dark pin-pricks on grain surfaces
    n_pits = rng.poisson(a.porosity * side * side / 100)
    pit = np.zeros((side, side), np.float32)
    py, px = rng.integers(0, side, n_pits), rng.integers(0, side, n_pits)
    keep = depth[py, px] > gap + 0.5
    pit[py[keep], px[keep]] = 1.0
    pit = ndimage.gaussian_filter(pit, 0.7) * 9
    image *= 1 - np.clip(pit, 0, 0.85)
    crack, n_cracks = _crack_mask(rng, side, a)
    image *= 1 - np.clip(crack, 0, 0.9)
    faces = depth > gap + 0.5
    truth = TileTruth(
        masks={
            "pits": pit >= VISIBLE_DARKENING,
            "cracks": crack >= VISIBLE_DARKENING,
            "grain_boundaries": depth <= gap / 2 + 0.5,
            "facets": faces,
        },
        n_pits=int(keep.sum()),
        n_cracks=n_cracks,
    )
    # topographic shading, blur, detector noise
    gy, gx = rng.normal(0, 0.15, 2)
    image *= 1 + gy * (yy / side - 0.5) + gx * (xx / side - 0.5)
    image = ndimage.gaussian_filter(image, 0.6)
    image = rng.poisson(np.clip(image, 0, None) * 120) / 120 + rng.normal(0, 0.02, image.shape)
    return (np.clip(image / 1.25, 0, 1) * 255).astype(np.uint8), truth
