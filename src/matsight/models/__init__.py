"""Model builders with named stages ``Z1..Z5`` and checkpoints (weights from local files only)."""

from matsight.models.backbones import ARCHITECTURES, TASKS, ImageNet, stage_names
from matsight.models.checkpoint import build_model, load_model, load_weights, read_checkpoint, save_checkpoint
from matsight.models.crystal import CrystalConvNet, keras_parameter_count

__all__ = [
    "ARCHITECTURES",
    "TASKS",
    "CrystalConvNet",
    "ImageNet",
    "build_model",
    "keras_parameter_count",
    "load_model",
    "load_weights",
    "read_checkpoint",
    "save_checkpoint",
    "stage_names",
]
