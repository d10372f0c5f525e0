"""Adapters over captum: guided backprop, deconvnet, integrated gradients, SmoothGrad.

Each wraps the model as ``sign * output[:, target]`` (``ScalarOutput``), calls captum, and reduces
the input-channel dimension (sum; grey inputs have one channel) to a map ``[N,H,W]``.
"""

from __future__ import annotations

import torch
from captum.attr import Deconvolution as _Deconvolution
from captum.attr import GuidedBackprop as _GuidedBackprop
from captum.attr import IntegratedGradients as _IntegratedGradients
from captum.attr import NoiseTunnel, Saliency
from torch import nn

from matsight.saliency.base import Explainer, ScalarOutput


class CaptumExplainer(Explainer):
    """Base of the captum adapters: ``raw`` = channel-summed attribution ``[N,H,W]``;
    ``attribute`` keeps its positive part scaled to [0,1] (evidence for the target and sign)."""

    norm = "positive"
    method: type = Saliency

    def __init__(self, model: nn.Module, **kwargs):
        super().__init__(model)
        self.kwargs = kwargs

    def _attribute(self, method, x: torch.Tensor) -> torch.Tensor:
        return method.attribute(x, **self.kwargs)

    def raw(self, x: torch.Tensor, target: int | None = None, sign: int = 1) -> torch.Tensor:
        method = self.method(ScalarOutput(self.model, target, sign))
        with torch.enable_grad():
            attr = self._attribute(method, x.detach().clone().requires_grad_(True))
        return attr.detach().sum(dim=1)


class GuidedBackprop(CaptumExplainer):
    """Guided backpropagation (Springenberg et al. 2015) via ``captum.attr.GuidedBackprop``."""

    method = _GuidedBackprop


class Deconvolution(CaptumExplainer):
    """Deconvnet back-projection (Zeiler & Fergus 2014) via ``captum.attr.Deconvolution``."""

    method = _Deconvolution


class IntegratedGradients(CaptumExplainer):
    """Integrated gradients (black baseline by default; ``n_steps``, ``baselines`` passed to captum)."""

    method = _IntegratedGradients

    def __init__(self, model: nn.Module, n_steps: int = 32, internal_batch_size: int | None = None, **kwargs):
        super().__init__(model, n_steps=n_steps, internal_batch_size=internal_batch_size, **kwargs)


class SmoothGrad(CaptumExplainer):
    """SmoothGrad (Smilkov et al. 2017): ``NoiseTunnel`` over plain gradients.

    ``nt_samples`` noisy copies with Gaussian noise ``stdevs`` (image units, inputs in [0,1]).
    """

    def __init__(self, model: nn.Module, nt_samples: int = 16, stdevs: float = 0.15, **kwargs):
        super().__init__(model, nt_type="smoothgrad", nt_samples=nt_samples, stdevs=stdevs, **kwargs)

    def _attribute(self, method, x: torch.Tensor) -> torch.Tensor:
        return NoiseTunnel(method).attribute(x, **self.kwargs)
