"""One torch Dataset for every layout: image files with a target vector each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from matsight.data.intensity import Decoder, Intensity
from matsight.data.transforms import crop_size_for, model_view, random_crop, random_dihedral, resize_square


@dataclass
class ImageTable:
    """What a layout reader returns: one row per image.

    ``paths``: image files; ``targets``: ``float32 [N, T]`` (regression value(s), a class index
    in column 0, or 0/1 attributes; NaN where not measured); ``groups``: the lot / class name of each image (for
    lot-wise splits and per-lot metrics); ``target_names``: names of the T target columns
    (the property, or the attribute names); ``class_names``: for classification.
    ``attributes``: optional per-image lot attributes ``float32 [N, A]`` with ``attribute_names``.
    """

    root: Path
    paths: list[Path]
    targets: np.ndarray
    groups: list[str]
    target_names: list[str]
    task: str
    class_names: list[str] = field(default_factory=list)
    attributes: np.ndarray | None = None
    attribute_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def measured(self) -> ImageTable:
        """The rows whose targets are all known (finite); unmeasured lots are left out."""
        known = np.isfinite(self.targets).all(axis=1) if self.targets.shape[1] else np.zeros(len(self), bool)
        return self.subset(np.flatnonzero(known))

    def subset(self, indices: np.ndarray | list[int]) -> ImageTable:
        """The rows at ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=int)
        return ImageTable(
            root=self.root,
            paths=[self.paths[i] for i in idx],
            targets=self.targets[idx],
            groups=[self.groups[i] for i in idx],
            target_names=self.target_names,
            task=self.task,
            class_names=self.class_names,
            attributes=None if self.attributes is None else self.attributes[idx],
            attribute_names=self.attribute_names,
        )


class ImageDataset(Dataset):
    """Images of an :class:`ImageTable` as tensors.

    Item ``i`` is ``(image float32 [C, S, S] in [0,1], target float32 [T])``: the file decoded with
    ``intensity`` (:class:`~matsight.data.intensity.Intensity`; default: the effective bit depth of its
    folder), resized (short side ``image_size``, centre-cropped square) and cropped to ``crop_size``
    (default 352/384 of ``image_size``): randomly and then randomly rotated by k·90° and mirrored when
    ``augment``, else centrally (:func:`~matsight.data.transforms.model_view`).
    ``cache``: keep decoded, resized images in memory (small datasets, in-process loading);
    ``decoder``: share one :class:`~matsight.data.intensity.Decoder` (and its folder surveys) between
    datasets instead of making one from ``intensity``. A model's datasets come from
    :meth:`matsight.models.ModelSpec.dataset`.
    """

    def __init__(
        self,
        table: ImageTable,
        image_size: int,
        channels: int = 1,
        augment: bool = False,
        crop_size: int | None = None,
        cache: bool = False,
        intensity: Intensity | None = None,
        decoder: Decoder | None = None,
    ):
        self.table = table
        self._cache: dict[int, torch.Tensor] | None = {} if cache else None
        self.image_size = image_size
        self.crop_size = crop_size or crop_size_for(image_size)
        self.channels = channels
        self.augment = augment
        self.decoder = decoder or (intensity or Intensity()).decoder()

    def __len__(self) -> int:
        return len(self.table)

    def load(self, index: int) -> torch.Tensor:
        """The decoded, resized (uncropped) image ``[C, image_size, image_size]``."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        image = resize_square(
            torch.from_numpy(self.decoder.read(self.table.paths[index], self.channels)), self.image_size
        )
        if self._cache is not None:
            self._cache[index] = image
        return image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.load(index)
        if self.augment:
            image = random_dihedral(random_crop(image, self.crop_size))
        else:
            image = model_view(image, self.image_size, self.crop_size)
        return image.contiguous(), torch.from_numpy(self.table.targets[index])
