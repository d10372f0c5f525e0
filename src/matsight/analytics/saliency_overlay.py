"""Saliency overlays for the app's detail view: one image, one attribute, one method → a cached PNG.

The run's model (``<run>/checkpoint.pt``) is loaded on the first request (torch is imported only
then), the image is prepared as at evaluation time (resize to ``image_size``, centre crop to
``crop_size``) and the map of a ``matsight.saliency`` method (the registry's ``interactive`` ones:
FastCAM × Grad-CAM, Grad-CAM, ...) is blended over the log-scaled crop.
"""

from __future__ import annotations

import io
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from matsight.saliency.registry import METHODS as REGISTRY

DEFAULT_METHOD = "fastcam-gradcam"
METHODS = (DEFAULT_METHOD, *(k for k, spec in REGISTRY.items() if spec.interactive and k != DEFAULT_METHOD))
ALPHA = 0.55  # weight of the colour-mapped saliency over the grey image


def log_grey(pixels: np.ndarray) -> np.ndarray:
    """``float [H, W]`` intensities in [0, 1] (16-bit scale) → ``log1p``-scaled ``uint8 [H, W]`` (min-max)."""
    scaled = np.log1p(pixels * 65535.0)
    low, high = float(scaled.min()), float(scaled.max())
    return ((scaled - low) / (high - low) * 255 if high > low else np.zeros_like(scaled)).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    """``uint8 [H, W]`` or ``[H, W, 3]`` → PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def blend(grey: np.ndarray, saliency: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """``uint8 [H, W]`` image and ``float [H, W]`` map in [0, 1] → ``uint8 [H, W, 3]``: the map in the
    report's saliency colour map, weighted by ``alpha * map`` over the grey image (cold areas stay grey)."""
    from matplotlib import colormaps

    from matsight.report.style import SALIENCY_CMAP

    colour = colormaps[SALIENCY_CMAP](np.clip(saliency, 0, 1))[..., :3] * 255
    weight = alpha * np.clip(saliency, 0, 1)[..., None]
    return (grey[..., None] * (1 - weight) + colour * weight).round().astype(np.uint8)


class SaliencyOverlays:
    """Saliency overlays of the model in ``run`` (a run folder with ``checkpoint.pt``) on images under
    ``image_root``. ``png(image, attribute, method)`` is cached (``cache_size`` PNGs, LRU) under the
    image file's size and modification time as well as its name, so a file replaced while the app runs
    is explained afresh; one map is computed at a time (a lock), on ``device``."""

    def __init__(self, run: Path, image_root: Path, device: str = "cpu", cache_size: int = 256):
        self.run, self.image_root, self.device = Path(run), Path(image_root), device
        self._lock = threading.Lock()
        self._model = None
        self._cached_png = lru_cache(maxsize=cache_size)(self._png)

    @staticmethod
    def available(run: Path) -> bool:
        """Whether ``run`` holds a model checkpoint to explain."""
        return (Path(run) / "checkpoint.pt").is_file()

    def _load(self):
        from matsight.models import load_model

        if self._model is None:
            self._model = load_model(self.run, device=self.device)
            self._decoder = self._model[1].intensity.decoder()  # the model's decoding, one survey per folder
        return self._model

    def png(self, image: str, attribute: int, method: str) -> bytes:
        """The overlay PNG (see the class docstring), from the cache while the image file is unchanged."""
        stat = (self.image_root / image).stat()
        return self._cached_png(image, attribute, method, (stat.st_size, stat.st_mtime_ns))

    def _png(self, image: str, attribute: int, method: str, file_version: tuple[int, int]) -> bytes:
        """PNG ``[crop, crop, 3]`` of ``method``'s map for output ``attribute`` over the model's view of ``image``."""
        import torch

        from matsight.saliency.registry import build_explainer

        with self._lock:
            model, spec = self._load()
            pixels = torch.from_numpy(self._decoder.read(self.image_root / image, spec.channels))
            crop = spec.prepare(pixels[None])[0]
            x = crop[None].contiguous().to(self.device)
            saliency = build_explainer(method, model).attribute(x, attribute, 1)[0].detach().float().cpu().numpy()
        return png_bytes(blend(log_grey(crop.mean(0).numpy()), saliency))
