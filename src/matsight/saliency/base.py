"""Common explainer API: ``raw`` maps ``[N,H,W]`` and a normalised ``attribute`` view in ``[0,1]``."""

from __future__ import annotations

import torch
from torch import nn

from matsight.errors import ConfigError
from matsight.saliency.normalise import NORMS


def select_output(output: torch.Tensor, target: int | None = None, sign: int = 1) -> torch.Tensor:
    """The scalar per image that an explanation is about, ``[N]``.

    ``target=None``: the single output of a regressor (``[N]`` or ``[N,1]``); an int: that class
    logit or multilabel attribute. ``sign=-1`` explains what pushes that output down.
    """
    if sign not in (1, -1):
        raise ConfigError(f"sign must be +1 or -1, got {sign!r}")
    out = output.reshape(output.shape[0], -1)
    if target is None:
        if out.shape[1] != 1:
            raise ConfigError(f"the model has {out.shape[1]} outputs: pass target=<class or attribute index>")
        index = 0
    else:
        index = int(target)
        if not 0 <= index < out.shape[1]:
            raise ConfigError(f"target {index} is out of range for a model with {out.shape[1]} outputs")
    return sign * out[:, index]


class ScalarOutput(nn.Module):
    """Wrap ``model`` so that it returns ``sign * output[:, target]`` ``[N]`` (for captum)."""

    def __init__(self, model: nn.Module, target: int | None, sign: int):
        super().__init__()
        self.model, self.target, self.sign = model, target, sign

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return select_output(self.model(x), self.target, self.sign)


class Explainer:
    """Base class: ``raw(x, target, sign) -> Tensor[N,H,W]``; ``attribute`` = normalised ``raw``.

    ``x`` is ``float32 [N,C,H,W]`` in ``[0,1]`` on the model's device; maps stay on that device.
    ``norm`` names the per-image normalisation (see ``matsight.saliency.normalise.NORMS``).
    """

    norm = "minmax"

    def __init__(self, model: nn.Module):
        self.model = model

    def raw(self, x: torch.Tensor, target: int | None = None, sign: int = 1) -> torch.Tensor:
        raise NotImplementedError

    def attribute(self, x: torch.Tensor, target: int | None = None, sign: int = 1) -> torch.Tensor:
        """Normalised map ``[N,H,W]`` in ``[0,1]`` (per image)."""
        return NORMS[self.norm](self.raw(x, target, sign))
