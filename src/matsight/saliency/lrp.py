"""Layer-wise relevance propagation through zennit (adapter; the rules are zennit's).

The explained scalar ``Y = select_output(model(x), target, sign)`` is turned into output relevance
``dY/d(output) * output`` (the one-hot times the output for a class or attribute, the signed output
of a regressor) and propagated to the input with the composite's rules, as zennit's
``Gradient(model, composite)(x, attr_output)``. Batch norm is merged into the preceding layer
(zennit canonizers; ``ResNetCanonizer`` for torchvision ResNets) and restored afterwards.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import EpsilonAlpha2Beta1Flat, EpsilonPlus, EpsilonPlusFlat, LayerMapComposite, layer_map_base
from zennit.rules import Epsilon
from zennit.torchvision import ResNetCanonizer
from zennit.types import Convolution

from matsight.errors import ConfigError
from matsight.saliency.base import Explainer, Target, select_output


def _epsilon(canonizers):
    """LRP-epsilon on every convolution and linear layer (``epsilon = 1e-6``)."""
    rules = [(Convolution, Epsilon()), (nn.Linear, Epsilon())]
    return LayerMapComposite(layer_map=layer_map_base() + rules, canonizers=canonizers)


COMPOSITES = {
    "epsilon-plus-flat": EpsilonPlusFlat,
    "epsilon-plus": EpsilonPlus,
    "epsilon-alpha2-beta1-flat": EpsilonAlpha2Beta1Flat,
    "epsilon": _epsilon,
}


class LRP(Explainer):
    """LRP with a zennit ``composite`` (``"epsilon-plus-flat"``: flat rule on the first layer, z+ on the
    other convolutions, epsilon on dense layers; also ``"epsilon-plus"``, ``"epsilon-alpha2-beta1-flat"``,
    ``"epsilon"``). Raw map: relevance summed over input channels (signed, sums to about ``Y``);
    normalised map: its positive part."""

    norm = "positive"

    def __init__(self, model: nn.Module, composite: str = "epsilon-plus-flat"):
        super().__init__(model)
        if composite not in COMPOSITES:
            raise ConfigError(f"unknown LRP composite {composite!r}: choose one of {', '.join(COMPOSITES)}")
        self.composite = composite

    def _composite(self):
        resnet = any(isinstance(m, (BasicBlock, Bottleneck)) for m in self.model.modules())
        return COMPOSITES[self.composite](canonizers=[ResNetCanonizer() if resnet else SequentialMergeBatchNorm()])

    def maps(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> torch.Tensor:
        with torch.enable_grad(), self._composite().context(self.model) as modified:
            inputs = x.detach().clone().requires_grad_(True)
            output = modified(inputs)
            (direction,) = torch.autograd.grad(select_output(output, target, sign).sum(), output, retain_graph=True)
            (relevance,) = torch.autograd.grad(output, inputs, grad_outputs=direction * output)
        return relevance.detach().sum(dim=1)
