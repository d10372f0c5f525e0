"""The same methods from the field's libraries, each called through its own API.

pytorch-grad-cam and torchcam explain the last stage (the layer matsight's Grad-CAM uses); captum
and zennit explain the input. Every adapter returns maps ``float32 [N, H, W]`` at the input's size
on the CPU: pytorch-grad-cam's own [0, 1] scaling, torchcam's normalised CAM resized bilinearly,
captum's and zennit's attributions summed over input channels (signed, as the library gives them).
Integrated gradients and SmoothGrad use matsight's defaults (32 steps; 16 samples, σ = 0.15).
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr

import torch
from torch import nn

from matsight.benchmark.metrics import Explain, Signed
from matsight.saliency.normalise import resize
from matsight.saliency.stages import find_stages

IG_STEPS, SMOOTH_SAMPLES, SMOOTH_STDEV = 32, 16, 0.15


def last_stage(model: nn.Module) -> nn.Module:
    return list(find_stages(model).values())[-1]


def pytorch_grad_cam(name: str) -> Explain:
    """A ``pytorch_grad_cam`` class by name (``GradCAM``, ``ScoreCAM``, …) at the last stage."""

    def explain(model, x, target, sign):
        import pytorch_grad_cam as pgc
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        with getattr(pgc, name)(model=Signed(model, target, sign), target_layers=[last_stage(model)]) as cam:
            with redirect_stderr(io.StringIO()):  # ScoreCAM and AblationCAM draw tqdm bars per batch
                maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(0)] * len(x))
        return torch.from_numpy(maps).float()

    return explain


def torchcam(name: str) -> Explain:
    """A ``torchcam.methods`` class by name at the last stage, resized to the input."""

    def explain(model, x, target, sign):
        import torchcam.methods as tcm

        wrapped = Signed(model, target, sign)
        extractor = getattr(tcm, name)(wrapped, target_layer=last_stage(model), input_shape=tuple(x.shape[1:]))
        try:
            with torch.enable_grad():
                scores = wrapped(x)
                cam = extractor(class_idx=0, scores=scores)[0]
        finally:
            extractor.remove_hooks()
        return resize(cam.detach().float(), x.shape[-2:]).cpu()

    return explain


def captum(name: str) -> Explain:
    """``integrated-gradients``, ``guided-backprop`` or ``smoothgrad`` (NoiseTunnel over Saliency)."""

    def explain(model, x, target, sign):
        from captum import attr

        wrapped = Signed(model, target, sign)
        x = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            if name == "integrated-gradients":
                out = attr.IntegratedGradients(wrapped).attribute(x, target=0, n_steps=IG_STEPS)
            elif name == "guided-backprop":
                out = attr.GuidedBackprop(wrapped).attribute(x, target=0)
            else:
                out = attr.NoiseTunnel(attr.Saliency(wrapped)).attribute(
                    x, target=0, nt_type="smoothgrad", nt_samples=SMOOTH_SAMPLES, stdevs=SMOOTH_STDEV
                )
        return out.detach().sum(dim=1).cpu()

    return explain


def zennit_lrp(model, x, target, sign) -> torch.Tensor:
    """LRP with zennit's ``EpsilonPlusFlat`` composite (batch norm merged by ``ResNetCanonizer``)."""
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlusFlat
    from zennit.torchvision import ResNetCanonizer

    wrapped = Signed(model, target, sign)
    with Gradient(model=wrapped, composite=EpsilonPlusFlat(canonizers=[ResNetCanonizer()])) as attributor:
        _, relevance = attributor(x.detach().clone().requires_grad_(True), torch.ones(len(x), 1, device=x.device))
    return relevance.detach().sum(dim=1).cpu()


PEERS: dict[str, dict[str, Explain]] = {
    "pytorch-grad-cam": {
        "gradcam": pytorch_grad_cam("GradCAM"),
        "gradcam++": pytorch_grad_cam("GradCAMPlusPlus"),
        "scorecam": pytorch_grad_cam("ScoreCAM"),
        "layercam": pytorch_grad_cam("LayerCAM"),
        "hirescam": pytorch_grad_cam("HiResCAM"),
        "xgradcam": pytorch_grad_cam("XGradCAM"),
        "eigencam": pytorch_grad_cam("EigenCAM"),
        "ablationcam": pytorch_grad_cam("AblationCAM"),
    },
    "torchcam": {
        "gradcam": torchcam("GradCAM"),
        "gradcam++": torchcam("GradCAMpp"),
        "scorecam": torchcam("ScoreCAM"),
        "layercam": torchcam("LayerCAM"),
        "xgradcam": torchcam("XGradCAM"),
    },
    "captum": {name: captum(name) for name in ("integrated-gradients", "guided-backprop", "smoothgrad")},
    "zennit": {"lrp": zennit_lrp},
}
"""library → method name → ``explain(model, x [N,C,H,W], target, sign) -> float32 [N,H,W]`` (CPU)."""
