"""Where the model's input lies in the original image: map crop pixels back to the file's pixels.

:class:`matsight.data.ImageDataset` resizes an ``H x W`` image so its short side is ``image_size``
(bilinear, half-pixel centres: ``resized = (orig + 0.5) * new / old - 0.5``), centre-crops it to a
square, then centre-crops ``crop_size``. :class:`CropGeometry` inverts that chain, so peaks and
figure axes are given in the original image's pixels (row ``y``, column ``x``, 0 = top-left pixel).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CropGeometry:
    """The model crop of one image: ``original`` ``(H, W)`` pixels, resized to ``resized`` ``(h, w)``,
    of which rows ``top .. top + crop`` and columns ``left .. left + crop`` are the model's input."""

    original: tuple[int, int]
    resized: tuple[int, int]
    top: int
    left: int
    crop: int

    @classmethod
    def of(cls, original: tuple[int, int], image_size: int, crop_size: int) -> CropGeometry:
        """The geometry of ``resize_square(image_size)`` then ``center_crop(crop_size)`` (matsight.data)."""
        h, w = int(original[0]), int(original[1])
        scale = image_size / min(h, w)
        new_h, new_w = max(image_size, round(h * scale)), max(image_size, round(w * scale))
        inner = (image_size - crop_size) // 2
        return cls(
            (h, w), (new_h, new_w), (new_h - image_size) // 2 + inner, (new_w - image_size) // 2 + inner, crop_size
        )

    def to_original(self, y: np.ndarray | float, x: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Crop pixel centres ``(y, x)`` -> original pixel coordinates (floats; round for a pixel index)."""
        (h, w), (new_h, new_w) = self.original, self.resized
        oy = (np.asarray(y, dtype=np.float64) + self.top + 0.5) * h / new_h - 0.5
        ox = (np.asarray(x, dtype=np.float64) + self.left + 0.5) * w / new_w - 0.5
        return np.clip(oy, 0, h - 1), np.clip(ox, 0, w - 1)

    def extent(self) -> tuple[float, float, float, float]:
        """``imshow`` extent ``(left, right, bottom, top)`` that puts the crop in original pixel units."""
        (h, w), (new_h, new_w) = self.original, self.resized
        x0, x1 = self.left * w / new_w - 0.5, (self.left + self.crop) * w / new_w - 0.5
        y0, y1 = self.top * h / new_h - 0.5, (self.top + self.crop) * h / new_h - 0.5
        return x0, x1, y1, y0


def image_size_of(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image file from its header (no pixel decoding for PNG/JPEG/BMP; TIFF via tifffile)."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            shape = tif.series[0].shape
        if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
            return int(shape[1]), int(shape[2])  # channel-first
        return int(shape[0]), int(shape[1])
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
    return int(height), int(width)
