"""Adapters over captum: guided backprop, deconvnet, integrated gradients, SmoothGrad.

Each wraps the model so that captum sees ``sign`` times the explained output (``select_output``;
per-image target lists go to captum's own ``target``, which follows its batch expansion), calls
captum, and sums the input-channel dimension (grey inputs have one channel) to a map ``[N,H,W]``.
"""

from __future__ import annotations

import torch
from captum.attr import Deconvolution as _Deconvolution
from captum.attr import GuidedBackprop as _GuidedBackprop
from captum.attr import IntegratedGradients as _IntegratedGradients
from captum.attr import NoiseTunnel, Saliency
from torch import nn

from matsight.errors import ConfigError
from matsight.saliency.base import Explainer, Target, check_sign, per_image_targets, select_output


class ScalarOutput(nn.Module):
    """``model`` as captum sees it: ``sign * output`` ``[N,T]`` for a per-image target list (captum
    picks the columns), else ``select_output(output, target, sign)`` ``[N]``."""

    def __init__(self, model: nn.Module, target: Target, sign: int):
        super().__init__()
        self.model, self.target, self.sign = model, target, check_sign(sign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.model(x)
        if not isinstance(self.target, list):
            return select_output(output, self.target, self.sign)
        out = output.reshape(output.shape[0], -1)
        if max(self.target) >= out.shape[1]:
            raise ConfigError(f"target {self.target} is out of range for a model with {out.shape[1]} outputs")
        return self.sign * out


class CaptumExplainer(Explainer):
    """Base of the captum adapters: raw = channel-summed attribution ``[N,H,W]``; the normalised map
    keeps its positive part scaled to [0,1] (evidence for the target and sign)."""

    norm = "positive"
    method: type = Saliency

    def __init__(self, model: nn.Module, **kwargs):
        super().__init__(model)
        self.kwargs = kwargs

    def _attribute(self, method, x: torch.Tensor, target) -> torch.Tensor:
        return method.attribute(x, target=target, **self.kwargs)

    def maps(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> torch.Tensor:
        targets = per_image_targets(target, x.shape[0])
        method = self.method(ScalarOutput(self.model, target if targets is None else targets, sign))
        with torch.enable_grad():
            attr = self._attribute(method, x.detach().clone().requires_grad_(True), targets)
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

    ``nt_samples`` noisy copies with Gaussian noise ``stdevs`` (image units, inputs in [0,1]), drawn
    after seeding with ``seed`` inside ``torch.random.fork_rng`` (reproducible maps; the caller's
    random state is left as it was). The gradients are averaged with their sign (``abs=False``), so
    ``sign=-1`` shows what lowers the output; ``abs=True`` averages magnitudes (captum's default,
    the same map for either sign).
    """

    def __init__(
        self, model: nn.Module, nt_samples: int = 16, stdevs: float = 0.15, seed: int = 0, abs: bool = False, **kwargs
    ):
        super().__init__(model, nt_type="smoothgrad", nt_samples=nt_samples, stdevs=stdevs, abs=abs, **kwargs)
        self.seed = seed

    def _attribute(self, method, x: torch.Tensor, target) -> torch.Tensor:
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            return NoiseTunnel(method).attribute(x, target=target, **self.kwargs)
