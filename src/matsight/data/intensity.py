"""Intensity-faithful decoding: how stored pixel values become intensities in ``[0, 1]``.

Cameras store 10-, 12- or 14-bit values in 16-bit files. Scaling those by the container's maximum
(65535) makes a saturated 12-bit pixel read 0.06 instead of 1.0, so the same scene saved as an
8-bit PNG and as a 12-bit-in-16-bit TIFF would look like two different materials to a model.
matsight therefore reads

- **integer images** at the *effective bit depth* of their folder: the smallest common camera depth
  (8, 10, 12, 14, 16 bits, then the container's) whose full scale ``2**depth - 1`` holds the
  brightest pixel of up to :data:`SAMPLE_PER_FOLDER` images of that folder with the same file type
  (an image brighter than its folder's sample is read at its own depth, so no value exceeds 1);
- **float images** (float TIFFs) with one fixed range ``[low, high]``: the 0.1/99.9 percentiles of
  the training images, clipped to ``[0, 1]`` (a folder's own percentiles when the model saw no
  float images). NaN pixels read as ``low``; an image with no finite pixel is refused.
- **signed integer images with negative values** (e.g. int16 difference or CT images) like float
  images: a bit depth counts from 0, and reading them from 0 would clip every negative pixel to 0.

The rule and the fitted float range are an :class:`Intensity`, stored in every model's
:class:`~matsight.models.ModelSpec` and applied by one :class:`Decoder` in training, prediction,
saliency, textures, knobs and the app. ``matsight validate`` reports each folder's value range and
effective depth (:func:`folder_ranges`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matsight.data.images import decode_raw, to_channels
from matsight.errors import ConfigError

COMMON_BIT_DEPTHS = (8, 10, 12, 14, 16)
SAMPLE_PER_FOLDER = 32
FLOAT_PERCENTILES = (0.1, 99.9)
_FLOAT_SAMPLE_PIXELS = 20_000  # per image, for the percentiles


def container_bits(dtype: np.dtype) -> int:
    """Bits of an unsigned/signed integer dtype's value range (uint16 → 16, int16 → 15)."""
    info = np.iinfo(dtype)
    return int(info.max).bit_length()


def effective_bit_depth(max_value: float, bits: int) -> int:
    """The smallest common camera depth whose full scale ``2**depth - 1`` holds ``max_value``.

    Candidates: 8, 10, 12, 14, 16, 24, 32 bits, capped at the container's ``bits`` (a container of
    fewer than 8 bits, e.g. 1-bit, is its own depth). ``max_value`` 4095 in a uint16 → 12.
    """
    candidates = [d for d in (*COMMON_BIT_DEPTHS, 24, 32) if d < bits] + [bits]
    for depth in candidates:
        if max_value <= 2**depth - 1:
            return depth
    return bits


@dataclass(frozen=True)
class FolderRange:
    """What one folder's images of one file type hold: ``dtype`` (e.g. ``uint16``), the smallest and
    largest value seen, the effective ``depth`` (integer images; None for float images), the float
    percentile range (float images; None otherwise) and how many images were looked at."""

    folder: Path
    suffix: str
    dtype: str
    low: float
    high: float
    depth: int | None
    float_range: tuple[float, float] | None
    images: int

    def describe(self) -> str:
        """``uint16, values 0–4095 → 12-bit in 16-bit files`` or ``float32, values -0.2–3.1 (float)``."""
        values = f"values {self.low:.6g}–{self.high:.6g}"
        if self.depth is None:
            kind = "float" if np.dtype(self.dtype).kind == "f" else "signed values"
            return f"{self.dtype}, {values} ({kind}: read with a fixed range)"
        bits = 1 if self.dtype == "bool" else container_bits(np.dtype(self.dtype))
        return f"{self.dtype}, {values} → {self.depth}-bit" + (f" in {bits}-bit files" if self.depth < bits else "")


def value_sample(array: np.ndarray) -> np.ndarray:
    """What :func:`summarise` needs of one decoded image, in its dtype: the smallest and largest value of
    an integer image; up to 20,000 evenly strided finite values of a float image."""
    if array.dtype == np.bool_ or array.dtype.kind in "ui":
        return np.array([array.min(), array.max()], dtype=array.dtype)
    flat = array.ravel()
    flat = flat[np.isfinite(flat)]
    return flat[:: max(1, flat.size // _FLOAT_SAMPLE_PIXELS)]


def summarise(folder: Path, suffix: str, arrays: list[np.ndarray]) -> FolderRange:
    """The :class:`FolderRange` of one folder's decoded images (``arrays``: stored pixels or their
    :func:`value_sample`)."""
    dtypes = {a.dtype for a in arrays}
    widest = max(dtypes, key=lambda d: (d.kind == "f", d.itemsize))
    if widest == np.bool_:
        return FolderRange(folder, suffix, "bool", 0.0, 1.0, 1, None, len(arrays))
    low = float(min(a.min() for a in arrays)) if widest.kind in "ui" else 0.0
    if widest.kind in "ui" and low >= 0:
        high = float(max(a.max() for a in arrays))
        return FolderRange(
            folder, suffix, str(widest), low, high, effective_bit_depth(high, container_bits(widest)), None, len(arrays)
        )
    values = np.concatenate([value_sample(a).astype(np.float64) for a in arrays]) if arrays else np.zeros(1)
    if values.size == 0:
        values = np.zeros(1)
    # an integer sample is each image's smallest and largest value: its range is theirs, not percentiles
    percentiles = FLOAT_PERCENTILES if widest.kind == "f" else (0.0, 100.0)
    lo, hi = (float(v) for v in np.percentile(values, percentiles))
    return FolderRange(
        folder, suffix, str(widest), float(values.min()), float(values.max()), None, (lo, hi), len(arrays)
    )


def _sample(files: list[Path], n: int) -> list[Path]:
    """Up to ``n`` of ``files`` spread evenly over their sorted order (deterministic)."""
    if len(files) <= n:
        return files
    return [files[i] for i in np.unique(np.linspace(0, len(files) - 1, n).round().astype(int))]


def survey_folder(folder: Path, suffix: str, sample: int = SAMPLE_PER_FOLDER) -> FolderRange:
    """Decode up to ``sample`` images of ``folder`` with file type ``suffix`` and summarise their values."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == suffix)
    return summarise(folder, suffix, [value_sample(decode_raw(p)) for p in _sample(files, sample)])


@dataclass(frozen=True)
class Intensity:
    """The intensity normalisation of a model (see the module docstring); JSON via :meth:`to_dict`.

    ``float_range``: fixed ``(low, high)`` for float images, from the training images (None: the model
    saw no float images, so each folder's own percentiles are used); ``depths_seen``: the effective
    bit depths of the training folders (for the record and for judging new images); ``sample``:
    images looked at per folder to find its depth.
    """

    float_range: tuple[float, float] | None = None
    depths_seen: tuple[int, ...] = ()
    sample: int = SAMPLE_PER_FOLDER

    def __post_init__(self) -> None:
        if self.float_range is not None:
            low, high = (float(v) for v in self.float_range)
            if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
                raise ConfigError(f"intensity float range {self.float_range}: needs finite low < high")
            object.__setattr__(self, "float_range", (low, high))
        object.__setattr__(self, "depths_seen", tuple(sorted({int(d) for d in self.depths_seen})))
        if self.sample < 1:
            raise ConfigError(f"intensity sample must be at least 1, got {self.sample}")

    @classmethod
    def fit(cls, ranges: dict[tuple[Path, str], FolderRange], sample: int = SAMPLE_PER_FOLDER) -> Intensity:
        """The normalisation for training images whose folders were surveyed into ``ranges``
        (:func:`survey`): their depths and, when any are float images, the range spanned by their
        folders' percentiles."""
        floats = [r.float_range for r in ranges.values() if r.float_range is not None]
        float_range = (min(lo for lo, _ in floats), max(hi for _, hi in floats)) if floats else None
        if float_range is not None and float_range[1] <= float_range[0]:
            float_range = (float_range[0], float_range[0] + 1.0)
        return cls(float_range, tuple(r.depth for r in ranges.values() if r.depth is not None), sample)

    def decoder(self, ranges: dict[tuple[Path, str], FolderRange] | None = None) -> Decoder:
        """A :class:`Decoder` applying this normalisation; it surveys each folder once (``ranges``:
        surveys already made, e.g. by :func:`survey` at train time)."""
        return Decoder(self, dict(ranges or {}))

    def to_dict(self) -> dict:
        return {
            "float_range": None if self.float_range is None else list(self.float_range),
            "depths_seen": list(self.depths_seen),
            "sample": self.sample,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Intensity:
        unknown = set(data) - {"float_range", "depths_seen", "sample"}
        if unknown:
            raise ConfigError(f"intensity: unknown keys {sorted(unknown)}")
        rng = data.get("float_range")
        return cls(
            None if rng is None else tuple(rng),
            tuple(data.get("depths_seen", ())),
            data.get("sample", SAMPLE_PER_FOLDER),
        )


def survey(paths, sample: int = SAMPLE_PER_FOLDER) -> dict[tuple[Path, str], FolderRange]:
    """:func:`survey_folder` of every folder (and file type) holding one of ``paths``."""
    keys = sorted({(Path(p).parent, Path(p).suffix.lower()) for p in paths})
    return {key: survey_folder(*key, sample=sample) for key in keys}


@dataclass
class Decoder:
    """Reads image files as ``float32 [channels, H, W]`` in ``[0, 1]`` with an :class:`Intensity`.

    Each folder (and file type) is surveyed once, on its first image, and remembered; the surveys
    depend only on the files, so every process that reads the same folder reads it the same way.
    """

    intensity: Intensity = field(default_factory=Intensity)
    _ranges: dict[tuple[Path, str], FolderRange] = field(default_factory=dict, repr=False)

    def folder_range(self, path: Path) -> FolderRange:
        """The survey of ``path``'s folder (for its file type)."""
        key = (path.parent, path.suffix.lower())
        if key not in self._ranges:
            self._ranges[key] = survey_folder(*key, sample=self.intensity.sample)
        return self._ranges[key]

    def to_unit(self, array: np.ndarray, path: Path) -> np.ndarray:
        """Stored pixels of ``path`` → ``float32`` in ``[0, 1]`` (same shape)."""
        if array.dtype == np.bool_:
            return array.astype(np.float32)
        if array.dtype.kind in "ui" and self.folder_range(path).depth is not None:
            bits = container_bits(array.dtype)
            folder_depth = self.folder_range(path).depth
            depth = max(min(folder_depth, bits), effective_bit_depth(float(array.max()), bits))
            return np.clip(array.astype(np.float32) / float(2**depth - 1), 0.0, 1.0)
        low, high = self.intensity.float_range or self.folder_range(path).float_range or (0.0, 1.0)
        high = high if high > low else low + 1.0  # a folder of one constant value
        scaled = (np.nan_to_num(array.astype(np.float64), nan=low) - low) / (high - low)
        return np.clip(scaled, 0.0, 1.0).astype(np.float32)

    def read(self, path: str | os.PathLike, channels: int = 1) -> np.ndarray:
        """``path`` decoded to ``float32 [channels, H, W]`` in ``[0, 1]``; raises ImageReadError naming it."""
        path = Path(path)
        return to_channels(self.to_unit(decode_raw(path), path), channels, path)


def folder_ranges(paths: list[Path], arrays: list[np.ndarray]) -> list[FolderRange]:
    """:class:`FolderRange` per folder and file type of every image ``paths`` (``arrays``: their pixels
    or :func:`value_sample`)."""
    groups: dict[tuple[Path, str], list[np.ndarray]] = {}
    for path, array in zip(paths, arrays):
        groups.setdefault((Path(path).parent, Path(path).suffix.lower()), []).append(array)
    return [summarise(folder, suffix, group) for (folder, suffix), group in sorted(groups.items())]
