"""Dataset layouts (DATA_LAYOUTS.md) as torch Datasets, image decoding and validation."""

from matsight.data.dataset import ImageDataset, ImageTable
from matsight.data.images import IMAGE_EXTENSIONS, read_image
from matsight.data.layouts import read_classes, read_lots, read_multilabel

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageDataset",
    "ImageTable",
    "read_classes",
    "read_image",
    "read_lots",
    "read_multilabel",
]
