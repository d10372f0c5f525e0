"""Robust image decoding: PNG/TIFF/JPEG/BMP, 8- or 16-bit, grey or RGB, any size."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from matsight.errors import ImageReadError

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like an image; macOS's ``._name.png`` companions (metadata, not pixels,
    left on shared disks) are not images."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith("._")


def read_image(path: str | os.PathLike, channels: int = 1) -> np.ndarray:
    """Decode an image to ``float32 [channels, H, W]`` in ``[0, 1]``.

    Integer images are scaled by their dtype's maximum (8-bit by 255, 16-bit by 65535); float
    TIFFs are min-max scaled: for a quick look. Models read images with
    :class:`matsight.data.intensity.Decoder` (each folder's effective bit depth, a fixed float range).
    ``channels=1`` converts colour to grey (luminance), ``channels=3`` repeats grey to RGB.
    Raises :class:`ImageReadError` naming the file.
    """
    path = Path(path)
    return to_channels(_to_unit_float(decode_raw(path), path), channels, path)


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as an image file: missing, a broken link, or a folder."""
    if path.is_symlink() and not path.exists():
        return f"{path}: a link to {os.readlink(path)}, which does not exist; fix or remove the link"
    return f"{path}: is a folder, not an image file" if path.is_dir() else f"{path}: file not found"


def decode_raw(path: str | os.PathLike) -> np.ndarray:
    """The file's pixels as stored (``[H, W]`` or ``[H, W, C]``, original dtype); raises :class:`ImageReadError`
    for a file that is missing, undecodable, empty, a stack of several images, or without one finite pixel."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(_not_a_file(path))
    with _decoding(path):
        array = _decode(path)
    if array.size == 0:
        raise ImageReadError(f"{path}: the image is empty; replace or remove the file")
    if array.dtype.kind in "fc" and not np.isfinite(array).any():
        raise ImageReadError(f"{path}: no pixel holds a finite value (all NaN or infinite); replace or remove the file")
    return array


def _decode(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        return _decode_tiff(path)
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if image.mode == "P":
            image = image.convert("RGB")
        elif image.mode in ("I;16", "I;16B", "I;16L"):
            return np.asarray(image, dtype=np.uint16)
        elif image.mode == "CMYK":
            image = image.convert("RGB")
        return np.asarray(image)


def _decode_tiff(path: Path) -> np.ndarray:
    """The TIFF's main image as ``[H, W]`` or ``[H, W, S]`` (samples last, also for planar files); reduced-
    resolution pages (thumbnails) are ignored, and a stack (pages, z, time, channels as separate images) is
    refused: one file is one image."""
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        series = _single_image(tiff, path)
        axes, shape = series.axes, series.shape
        array = np.asarray(series.asarray()).reshape([n for axis, n in zip(axes, shape) if axis in "YXS"])
    kept = [axis for axis in axes if axis in "YXS"]
    return np.moveaxis(array, kept.index("S"), -1) if "S" in kept else array


def _single_image(tiff, path: Path):
    """The open TIFF's main series, when it is one 2-D image (with samples); ImageReadError for a stack."""
    series = tiff.series[0]
    axes, shape = series.axes, series.shape
    stacked = [f"{axis}={n}" for axis, n in zip(axes, shape) if axis not in "YXS" and n > 1]
    stacked += [f"{len(tiff.series)} series"] if len(tiff.series) > 1 else []
    if stacked:
        raise ImageReadError(
            f"{path}: a stack of images ({', '.join(stacked)}; axes {axes}, shape {tuple(shape)}); matsight "
            "reads one 2-D image per file: save each image of the stack as a file of its own"
        )
    return series


def check_header(path: str | os.PathLike) -> None:
    """Whether ``path`` looks decodable from its header alone (no pixels read: fast enough for every file of
    a large folder before a long run): it exists, is not empty, is an image of a known format and, for a
    TIFF, one image rather than a stack. Raises :class:`ImageReadError` naming the file; a file damaged
    further in is found when it is decoded."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(_not_a_file(path))
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: the image is empty; replace or remove the file")
    with _decoding(path):
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tiff:
                _single_image(tiff, path)
        else:
            from PIL import Image

            with Image.open(path):
                pass


@contextmanager
def _decoding(path: Path) -> Iterator[None]:
    """Any decoder's exception inside as one :class:`ImageReadError` naming ``path`` and the fix."""
    try:
        yield
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(
            f"{path}: cannot decode image ({exc.__class__.__name__}: {exc}); replace or remove the file"
        ) from None


def _to_unit_float(array: np.ndarray, path: Path) -> np.ndarray:
    if array.size == 0:
        raise ImageReadError(f"{path}: the image is empty")
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    array = array.astype(np.float32)
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def to_channels(array: np.ndarray, channels: int, path: Path) -> np.ndarray:
    """``[H, W]``, ``[H, W, C]`` or channel-first ``[C, H, W]`` values → ``float32 [channels, H, W]``
    (colour → grey by luminance for ``channels=1``, grey repeated for ``channels=3``, alpha dropped)."""
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channel-first TIFF
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ImageReadError(f"{path}: expected a 2-D grey or colour image, got an array of shape {array.shape}")
    array = array[..., :1] if array.shape[-1] == 2 else array[..., :3]  # drop alpha (grey + alpha, or colour + alpha)
    if array.shape[-1] == 1:
        grey = array[..., 0]
    else:
        grey = array @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if channels == 1:
        return np.ascontiguousarray(grey[None])
    if array.shape[-1] == 1:
        return np.ascontiguousarray(np.repeat(grey[None], 3, axis=0))
    return np.ascontiguousarray(np.moveaxis(array, -1, 0))
