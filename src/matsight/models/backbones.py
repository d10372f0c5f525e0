"""torchvision backbones with a task head, grey-to-RGB input and named stages ``Z1..Z5``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision import models as tvm

from matsight.errors import ConfigError

TASKS = ("regression", "classification", "multilabel")

# ImageNet statistics: backbones see inputs normalised as during their pretraining.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": tvm.resnet18,
    "resnet34": tvm.resnet34,
    "resnet50": tvm.resnet50,
    "wide_resnet50_2": tvm.wide_resnet50_2,
    "densenet121": tvm.densenet121,
}
ARCHITECTURES = tuple(_BUILDERS) + ("crystal_convnet",)


def stage_names(arch: str) -> dict[str, str]:
    """Module names (inside the torchvision backbone) of the stages ``Z1..Z5``.

    ResNet family: the first max-pool output and ``layer1..layer4``.
    DenseNet: ``features.pool0`` and the four dense blocks.
    """
    if arch.startswith("densenet"):
        return {
            "Z1": "features.pool0",
            "Z2": "features.denseblock1",
            "Z3": "features.denseblock2",
            "Z4": "features.denseblock3",
            "Z5": "features.denseblock4",
        }
    return {"Z1": "maxpool", "Z2": "layer1", "Z3": "layer2", "Z4": "layer3", "Z5": "layer4"}


class ImageNet(nn.Module):
    """A torchvision backbone whose classifier is replaced by a task head.

    Input: ``float32 [N, 1 or 3, H, W]`` in ``[0, 1]``; grey input is repeated to 3 channels and
    the ImageNet normalisation is applied inside the model, so explainers and baselines work in
    image units. Output: ``[N, num_outputs]`` (a regressor's standardised prediction, class
    logits, or per-attribute logits).

    ``stages`` maps ``Z1..Z5`` to modules; ``backbone`` is the plain torchvision model.
    """

    def __init__(self, arch: str, task: str, num_outputs: int):
        super().__init__()
        if arch not in _BUILDERS:
            raise ConfigError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)}")
        if task not in TASKS:
            raise ConfigError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
        self.arch, self.task, self.num_outputs = arch, task, num_outputs
        backbone = _BUILDERS[arch](weights=None)
        if arch.startswith("densenet"):
            backbone.classifier = nn.Linear(backbone.classifier.in_features, num_outputs)
        else:
            backbone.fc = nn.Linear(backbone.fc.in_features, num_outputs)
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        modules = dict(backbone.named_modules())
        self.stages: dict[str, nn.Module] = {z: modules[name] for z, name in stage_names(arch).items()}

    @property
    def head(self) -> nn.Linear:
        """The final linear layer."""
        return self.backbone.classifier if self.arch.startswith("densenet") else self.backbone.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.backbone((x - self.mean) / self.std)
