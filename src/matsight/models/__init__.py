"""Model builders with named stages ``Z1..Z5``, the typed model contract ``ModelSpec``, and safe checkpoints
(weights from local files only, loaded as data with ``weights_only=True``)."""

from matsight.models.backbones import ARCHITECTURES, TASKS, ImageNet, stage_names
from matsight.models.checkpoint import (
    build_model,
    load_model,
    load_weights,
    read_checkpoint,
    read_spec,
    safe_load,
    save_checkpoint,
)
from matsight.models.crystal import CrystalConvNet, keras_parameter_count
from matsight.models.spec import ModelSpec

__all__ = [
    "ARCHITECTURES",
    "TASKS",
    "CrystalConvNet",
    "ImageNet",
    "ModelSpec",
    "build_model",
    "keras_parameter_count",
    "load_model",
    "load_weights",
    "read_checkpoint",
    "read_spec",
    "safe_load",
    "save_checkpoint",
    "stage_names",
]
