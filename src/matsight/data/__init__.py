"""Dataset layouts (docs/data-layouts.md) as torch Datasets, intensity-faithful decoding, splits and validation."""

from matsight.data.dataset import ImageDataset, ImageTable
from matsight.data.images import IMAGE_EXTENSIONS, read_image
from matsight.data.intensity import Decoder, Intensity
from matsight.data.layouts import choose_target, read_classes, read_images, read_lots, read_multilabel
from matsight.data.split import split_indices

__all__ = [
    "IMAGE_EXTENSIONS",
    "Decoder",
    "ImageDataset",
    "ImageTable",
    "Intensity",
    "choose_target",
    "read_classes",
    "read_image",
    "read_images",
    "read_lots",
    "read_multilabel",
    "split_indices",
]
