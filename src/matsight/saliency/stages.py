"""Find the stages ``Z1..Z5`` of a model: ``model.stages``, torchvision ResNet/DenseNet, or names."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from matsight.errors import ConfigError

_RESNET = {"Z1": "maxpool", "Z2": "layer1", "Z3": "layer2", "Z4": "layer3", "Z5": "layer4"}
_DENSENET = {
    "Z1": "features.pool0",
    "Z2": "features.denseblock1",
    "Z3": "features.denseblock2",
    "Z4": "features.denseblock3",
    "Z5": "features.denseblock4",
}


def find_stages(model: nn.Module, layers: Sequence[str] | None = None) -> dict[str, nn.Module]:
    """Ordered ``name -> module`` of the stages to explain (shallow to deep).

    ``layers=None``: ``model.stages`` when the model has it (matsight models), else the ResNet /
    Wide-ResNet or DenseNet stages found by module name. ``layers=[...]``: stage names of
    ``model.stages`` (``"Z3"``) or module names (``"layer3"``, ``"features.denseblock2"``).
    """
    stages = getattr(model, "stages", None)
    named = dict(model.named_modules())
    if layers is None:
        if isinstance(stages, dict) and stages:
            return dict(stages)
        for table in (_RESNET, _DENSENET):
            if all(name in named for name in table.values()):
                return {z: named[name] for z, name in table.items()}
        raise ConfigError(
            f"cannot find the stages of {type(model).__name__}: pass layers=[module names], "
            f"e.g. layers=['layer3', 'layer4'] (names from model.named_modules())"
        )
    found = {}
    for name in layers:
        if isinstance(stages, dict) and name in stages:
            found[name] = stages[name]
        elif name in named:
            found[name] = named[name]
        else:
            raise ConfigError(
                f"layer {name!r} is neither a stage ({', '.join(stages or [])}) nor a module "
                f"name of {type(model).__name__}; see model.named_modules()"
            )
    return found
