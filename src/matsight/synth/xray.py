"""Synthetic x-ray scattering images with 17 tags that are correct by construction (layout 2).

Each image draws a scene — beam centre, diffuse terms, rings or a bcc/fcc peak sequence, halo,
speckle, a beamstop, a background level and an exposure — then renders expected counts, adds
Poisson noise and log-scales to 16-bit. The tags are read off the scene, never guessed from pixels.

:func:`draw_scene` also returns where each local tag is in the image (:data:`LOCAL_TAGS`; the
tags of :data:`GLOBAL_TAGS` describe the whole image and have no region):

- a ring's region is where it reaches ≥ 10 % of its own maximum (about ±2 widths in q, only the
  arcs an anisotropic ring keeps); ``Ring`` = the first order, ``Higher orders`` = orders ≥ 2,
  ``Many rings`` = orders ≥ 5, ``BCC`` / ``FCC`` / ``Structure factor`` / ``Polycrystalline`` =
  every drawn peak;
- ``Halo``: where the halo reaches ≥ 10 % of its maximum;
- ``Diffuse low-q`` / ``Diffuse high-q``: where the term's counts reach the background's;
- a beamstop: where its shadow blocks ≥ 50 % of the beam; those pixels are removed from every
  other tag's region (nothing is seen behind the beamstop).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from matsight.report.style import styled
from matsight.store.atomic import atomic_path, atomic_write_json
from matsight.synth import xray_physics as phys
from matsight.synth.masks import write_masks

TAGS = [
    "BCC",
    "Beam Off Image",
    "Circular Beamstop",
    "Diffuse high-q",
    "Diffuse low-q",
    "FCC",
    "Halo",
    "High background",
    "Higher orders",
    "Linear beamstop",
    "Many rings",
    "Polycrystalline",
    "Ring",
    "Strong scattering",
    "Structure factor",
    "Weak scattering",
    "Wedge beamstop",
]
BEAMSTOP_TAGS = {"linear": "Linear beamstop", "circular": "Circular Beamstop", "wedge": "Wedge beamstop"}
COUNT_MAX = 2.0**16  # counts mapped to full scale by the log scaling
STRONG_COUNTS, WEAK_COUNTS, HIGH_BACKGROUND = 400.0, 20.0, 8.0  # p99 signal / background thresholds
VISIBLE = 0.05  # a peak counts as drawn when its amplitude is ≥ 5 % of the first one
PEAK_FRACTION = 0.1  # a ring's or halo's region: where it reaches ≥ 10 % of its own maximum
GLOBAL_TAGS = ("Beam Off Image", "High background", "Strong scattering", "Weak scattering")
LOCAL_TAGS = [tag for tag in TAGS if tag not in GLOBAL_TAGS]
"""Tags with a per-pixel region (13; ≤ 16, so one 16-bit mask PNG holds them all, bit i = LOCAL_TAGS[i])."""


def _centre(size: int, beam_off: bool, rng: np.random.Generator) -> tuple[float, float]:
    if not beam_off:
        return tuple(size * np.clip(0.5 + rng.normal(0, 0.1, 2), 0.2, 0.8))
    outside, along = -rng.uniform(0.05, 0.4) * size, rng.uniform(0, size)
    x, y = [(outside, along), (size - 1 - outside, along), (along, outside), (along, size - 1 - outside)][
        rng.integers(4)
    ]
    return float(x), float(y)


def _peaks(
    q: np.ndarray, q0: float, ratios: np.ndarray, width: float, damping: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sum of Gaussian rings at ``ratios·q0`` with relative amplitudes ``damping``, and each drawn
    ring on its own (those on the detector and at least :data:`VISIBLE` of the first), in order."""
    drawn = (ratios * q0 < q.max()) & (damping >= VISIBLE * damping[0])
    total = np.zeros_like(q)
    each = []
    for ratio, amplitude in zip(ratios[drawn], damping[drawn]):
        each.append(phys.ring(q, ratio * q0, width * ratio**0.5, amplitude))
        total += each[-1]
    return total, each


@dataclass(frozen=True)
class XrayScene:
    """One drawn image: ``image`` ``uint16 [size, size]`` (log-scaled counts), ``tags`` (the 17
    :data:`TAGS` as 0/1) and ``masks``: ``tag -> bool [size, size]`` for every tag of
    :data:`LOCAL_TAGS` the image carries (see the module docstring for how each is drawn)."""

    image: np.ndarray
    tags: dict[str, int]
    masks: dict[str, np.ndarray] = field(repr=False)


def _above(component: np.ndarray, fraction: float = PEAK_FRACTION) -> np.ndarray:
    """Where ``component`` reaches ``fraction`` of its own maximum."""
    return component >= fraction * component.max()


def draw_image(size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, int]]:
    """One synthetic detector image ``uint16 [size, size]`` (log-scaled counts) and its 17 tags (0/1)."""
    scene = draw_scene(size, rng)
    return scene.image, scene.tags


def draw_scene(size: int, rng: np.random.Generator) -> XrayScene:
    """One image, its tags and the per-pixel mask of each local tag (same draws as :func:`draw_image`)."""
    tags = dict.fromkeys(TAGS, 0)
    beam_off = rng.random() < 0.1
    tags["Beam Off Image"] = int(beam_off)
    centre = _centre(size, beam_off, rng)
    q, chi = phys.q_map(size, centre)
    signal = np.zeros_like(q)
    diffuse: dict[str, np.ndarray] = {}  # diffuse terms before the exposure
    masks: dict[str, np.ndarray] = {}
    if rng.random() < 0.5:
        kind = ["power", "oz", "guinier"][rng.integers(3)]
        diffuse["Diffuse low-q"] = phys.low_q(q, kind, rng.uniform(0.3, 1.0), rng.uniform(8, 30), rng.uniform(2.5, 4))
        signal += diffuse["Diffuse low-q"]
        tags["Diffuse low-q"] = 1
    if rng.random() < 0.3:
        diffuse["Diffuse high-q"] = phys.high_q(q, rng.uniform(0.1, 0.4), rng.uniform(1.5, 4))
        signal += diffuse["Diffuse high-q"]
        tags["Diffuse high-q"] = 1
    lattice = ["none", "ring", "bcc", "fcc"][rng.choice(4, p=[0.35, 0.35, 0.15, 0.15])]
    if lattice != "none":
        q0, width = rng.uniform(0.12, 0.4), rng.uniform(0.01, 0.025)
        if lattice == "ring":
            orders = np.arange(1, 1 + (1 if rng.random() < 0.5 else rng.integers(2, 9)), dtype=np.float64)
            damping = np.exp(-((rng.uniform(0.3, 2.0) * orders * q0) ** 2) / 2)  # Debye–Waller
            rings, peaks = _peaks(q, q0, orders, width, damping)
        else:
            ratios = phys.BCC_RATIOS if lattice == "bcc" else phys.FCC_RATIOS
            radius = rng.uniform(0.8, 1.6) / q0  # sphere radius (nm) whose first minimum lies beyond q0
            form = phys.sphere_form_factor(ratios * q0, radius)
            rings, peaks = _peaks(q, q0, ratios, width, form / form[0])
            rings += 0.3 * phys.sphere_form_factor(q, radius)
            tags["BCC" if lattice == "bcc" else "FCC"] = tags["Structure factor"] = 1
        if rng.random() < 0.4:
            angular = phys.anisotropy(chi, rng.uniform(0.3, 0.8), int(rng.choice([2, 4, 6])), rng.uniform(0, np.pi))
            rings *= angular
            peaks = [peak * angular for peak in peaks]
        if rng.random() < 0.3:
            rings *= phys.speckle(size, max(2, size // 64), rng)
            tags["Polycrystalline"] = 1
        signal += rng.uniform(0.5, 1.0) * rings
        drawn = len(peaks)
        tags["Ring"] = int(drawn >= 1)
        tags["Higher orders"] = int(drawn >= 2)
        tags["Many rings"] = int(drawn > 4)
        regions = np.stack([_above(peak) for peak in peaks] or [np.zeros(q.shape, bool)])
        for tag, first in (("Ring", 0), ("Higher orders", 1), ("Many rings", 4)):
            if tags[tag]:
                masks[tag] = regions[first:].any(axis=0)
        for tag in ("BCC", "FCC", "Structure factor", "Polycrystalline"):
            if tags[tag]:
                masks[tag] = regions.any(axis=0)
    if rng.random() < 0.25:
        q_halo = rng.uniform(0.5, 0.9)
        halo = phys.ring(q, q_halo, q_halo * rng.uniform(0.12, 0.25), rng.uniform(0.3, 0.8))
        signal += halo
        masks["Halo"] = _above(halo)
        tags["Halo"] = 1
    exposure = 10 ** rng.uniform(0.5, 3.5)  # peak counts
    signal *= exposure
    background = 10 ** rng.uniform(-1.0, 1.5)
    level = np.percentile(signal, 99)
    tags["Strong scattering"] = int(level > STRONG_COUNTS)
    tags["Weak scattering"] = int(level < WEAK_COUNTS)
    tags["High background"] = int(background > HIGH_BACKGROUND)
    floor = background * (1 + 0.3 * q)
    expected = signal + floor
    for tag, term in diffuse.items():  # a diffuse term's region: where it outshines the background
        masks[tag] = term * exposure >= floor
    if not beam_off and rng.random() < 0.7:
        kind = ["linear", "circular", "wedge"][rng.integers(3)]
        shadow = phys.beamstop_mask(kind, size, centre, rng)
        expected *= 1 - 0.995 * shadow
        tags[BEAMSTOP_TAGS[kind]] = 1
        blocked = shadow >= 0.5
        masks = {tag: mask & ~blocked for tag, mask in masks.items()}  # nothing is seen behind the beamstop
        masks[BEAMSTOP_TAGS[kind]] = blocked
    counts = rng.poisson(expected)
    image = np.log1p(counts) / np.log1p(COUNT_MAX)
    return XrayScene((np.clip(image, 0, 1) * 65535).astype(np.uint16), tags, masks)


def generate_xray(out: str | os.PathLike, n: int = 2000, size: int = 256, seed: int = 0, masks: bool = True) -> Path:
    """Write ``n`` images (``images/xray_NNNNN.png``, 16-bit grey) and ``labels.csv`` (``image`` + the
    17 :data:`TAGS` as 0/1) under ``out`` (layout 2). Image ``i`` depends only on ``(seed, i)``.

    ``masks``: also write ``masks/xray_NNNNN.png``, each local tag's region bit-packed in a 16-bit
    grey PNG (bit i = :data:`LOCAL_TAGS` [i], read with ``matsight.synth.masks.read_masks``), and
    ``masks/masks.json`` naming the bits. The images are the same with or without masks."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        scene = draw_scene(size, np.random.default_rng([seed, i]))
        name = f"xray_{i:05d}.png"
        with atomic_path(out / "images" / name) as tmp:
            Image.fromarray(scene.image).save(tmp, format="png", compress_level=1)
        if masks:
            write_masks(out / "masks" / name, scene.masks, LOCAL_TAGS, (size, size))
        rows.append({"image": name, **scene.tags})
    if masks:
        atomic_write_json(out / "masks" / "masks.json", {"bits": LOCAL_TAGS, "global_tags": list(GLOBAL_TAGS)})
    with atomic_path(out / "labels.csv") as tmp:
        pd.DataFrame(rows, columns=["image", *TAGS]).to_csv(tmp, index=False)
    return out


@styled
def contact_sheet(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Save a figure with one example image per tag (the image carrying it with the fewest other tags)."""
    import matplotlib.pyplot as plt

    from matsight.data.images import read_image
    from matsight.report.style import save_figure

    labels = pd.read_csv(Path(root) / "labels.csv")
    labels = labels.iloc[np.argsort(labels[TAGS].sum(axis=1).to_numpy(), kind="stable")].reset_index(drop=True)
    fig, axes = plt.subplots(3, 6, figsize=(12, 6.6))
    for ax in axes.flat:
        ax.axis("off")
    for ax, tag in zip(axes.flat, TAGS):
        rows = labels.index[labels[tag] == 1]
        if len(rows):
            ax.imshow(
                read_image(Path(root) / "images" / labels.at[rows[0], "image"])[0], cmap="inferno", vmin=0, vmax=1
            )
        ax.set_title(tag, fontsize=9)
    with plt.rc_context({"savefig.dpi": 64}):
        return save_figure(fig, path)
