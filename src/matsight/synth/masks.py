"""Ground-truth masks stored as one bit-packed grey PNG per image.

A generator plants several causes per image (pits and cracks in an SEM tile, rings and a beamstop
in a scattering image); each has a boolean mask ``[H, W]``. Bit ``i`` of the PNG's pixel holds the
mask of ``names[i]`` (8-bit PNG for up to 8 names, 16-bit for up to 16), so one small lossless
file carries every mask of an image and ``unpack`` reads them back exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from matsight.errors import ImageReadError
from matsight.store.atomic import atomic_path


def pack(masks: dict[str, np.ndarray], names: Sequence[str], shape: tuple[int, int]) -> np.ndarray:
    """Bit-pack ``masks`` (``name -> bool [H, W]``; a missing name is an empty mask) into
    ``uint8 [H, W]`` (≤ 8 names) or ``uint16 [H, W]`` (≤ 16 names); bit ``i`` = ``names[i]``."""
    if len(names) > 16:
        raise ValueError(f"at most 16 masks fit in one PNG, got {len(names)}")
    unknown = set(masks) - set(names)
    if unknown:
        raise ValueError(f"masks {sorted(unknown)} are not among {list(names)}")
    dtype = np.uint8 if len(names) <= 8 else np.uint16
    packed = np.zeros(shape, dtype)
    for bit, name in enumerate(names):
        if name in masks:
            packed |= (np.asarray(masks[name], bool).astype(dtype) << bit).astype(dtype)
    return packed


def unpack(packed: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``name -> bool [H, W]`` from a bit-packed array (inverse of :func:`pack`)."""
    packed = np.asarray(packed).astype(np.uint32)
    return {name: (packed >> bit & 1).astype(bool) for bit, name in enumerate(names)}


def write_masks(
    path: str | os.PathLike, masks: dict[str, np.ndarray], names: Sequence[str], shape: tuple[int, int]
) -> Path:
    """Write the bit-packed masks of an image of ``shape`` as a grey PNG (atomically, folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(pack(masks, names, shape)).save(tmp, format="PNG", optimize=True)
    return path


def read_masks(path: str | os.PathLike, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Masks of one image from a PNG written by :func:`write_masks` (``names`` in the same order,
    as listed in the dataset's ``ground_truth.json`` / ``masks.json``)."""
    try:
        with Image.open(path) as image:
            packed = np.asarray(image)
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"cannot read mask file {path} ({exc}): regenerate the dataset") from None
    return unpack(packed, names)
