"""Every saliency method, one spec each: the batch runner, the app's overlays and the CLI's choices read this.

Adding a method = one module with an :class:`~matsight.saliency.base.Explainer` subclass + one line
here. The registry imports no torch: classes are named ``"module:Class"`` and imported on first use.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from matsight.errors import ConfigError


@dataclass(frozen=True)
class MethodSpec:
    """``key``: the name users type; ``explainer``: ``"module:Class"``; ``needs_target``: the map depends
    on the explained output (a classifier needs ``target``; a regressor's single output is the default);
    ``defaults``: constructor options; ``arrays``: result fields the batch runner stores per image;
    ``interactive``: cheap enough (one forward, at most one backward) for the app's on-demand overlays."""

    key: str
    explainer: str
    needs_target: bool
    description: str
    defaults: Mapping[str, object] = field(default_factory=dict)
    arrays: tuple[str, ...] = ("map", "empty")
    interactive: bool = False

    def load(self) -> type:
        """The explainer class (imports its module)."""
        module, name = self.explainer.split(":")
        return getattr(importlib.import_module(module), name)

    def build(self, model, **options):
        """``Class(model, **defaults, **options)``."""
        return self.load()(model, **{**self.defaults, **options})


_CAM = "matsight.saliency.gradcam"
_CAPTUM = "matsight.saliency.captum_methods"
_PERTURB = "matsight.saliency.perturbation"
_RESPONSE = "matsight.saliency.response_maps"
_FASTCAM = "matsight.saliency.fastcam:FastCAM"

METHODS: dict[str, MethodSpec] = {
    spec.key: spec
    for spec in (
        MethodSpec("gradcam", f"{_CAM}:GradCAM", True, "Grad-CAM at the deepest stage", interactive=True),
        MethodSpec("gradcam++", f"{_CAM}:GradCAMPlusPlus", True, "Grad-CAM++ at the deepest stage", interactive=True),
        MethodSpec("hirescam", f"{_CAM}:HiResCAM", True, "HiResCAM: gradient x activation", interactive=True),
        MethodSpec("xgradcam", f"{_CAM}:XGradCAM", True, "XGrad-CAM: activation-weighted gradients", interactive=True),
        MethodSpec("layercam", f"{_CAM}:LayerCAM", True, "LayerCAM: positive gradient x activation", interactive=True),
        MethodSpec("eigencam", "matsight.saliency.eigencam:EigenCAM", False, "first principal component of the stage"),
        MethodSpec("scorecam", f"{_PERTURB}:ScoreCAM", True, "Score-CAM: one forward pass per channel"),
        MethodSpec("ablationcam", f"{_PERTURB}:AblationCAM", True, "Ablation-CAM: one forward pass per channel"),
        MethodSpec("fastcam", _FASTCAM, False, "FastCAM: SMOE scale of every stage, forward only", interactive=True),
        MethodSpec(
            "fastcam-gradcam",
            _FASTCAM,
            True,
            "FastCAM x Grad-CAM at the deepest stage",
            {"combine_with": "gradcam"},
            interactive=True,
        ),
        MethodSpec("guided-backprop", f"{_CAPTUM}:GuidedBackprop", True, "guided backpropagation (captum)"),
        MethodSpec("deconvnet", f"{_CAPTUM}:Deconvolution", True, "deconvnet back-projection (captum)"),
        MethodSpec("integrated-gradients", f"{_CAPTUM}:IntegratedGradients", True, "integrated gradients (captum)"),
        MethodSpec("smoothgrad", f"{_CAPTUM}:SmoothGrad", True, "SmoothGrad (captum noise tunnel)"),
        MethodSpec("lrp", "matsight.saliency.lrp:LRP", True, "LRP epsilon-plus-flat (zennit)"),
        MethodSpec(
            "response-maps",
            f"{_RESPONSE}:ResponseMaps",
            False,
            "deconvnet response of the strongest units of the deepest stage",
            arrays=("map", "empty", "dominant"),
        ),
        MethodSpec(
            "clear",
            f"{_RESPONSE}:CLEAR",
            False,
            "CLEAR: dominant output and its level per pixel",
            arrays=("map", "empty", "dominant"),
        ),
    )
}


DEFAULT_METHOD: dict[str, str] = {
    "regression": "layercam",
    "classification": "fastcam",
    "multilabel": "layercam",
}
"""The method ``matsight saliency`` uses when ``--method`` is not given, per task: the ground-truth
benchmark's pick (``matsight benchmark``: beats the random, centre-Gaussian and Sobel baselines on
localisation and insertion - deletion in every seed where a method does, else the best mean rank;
docs/saliency.md gives the numbers and which method answers which question)."""


def default_method(task: str) -> str:
    """The default method key for a model of ``task`` (regression, classification or multilabel)."""
    if task not in DEFAULT_METHOD:
        raise ConfigError(f"no default saliency method for task {task!r}: pass --method ({', '.join(METHODS)})")
    return DEFAULT_METHOD[task]


def method_spec(key: str) -> MethodSpec:
    """The spec of ``key``; an unknown key raises :class:`ConfigError` naming the closest keys."""
    if key not in METHODS:
        close = difflib.get_close_matches(key, list(METHODS), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"--method {key!r}: unknown saliency method{hint}; choose one of {', '.join(METHODS)}")
    return METHODS[key]


def build_explainer(key: str, model, **options):
    """The explainer of method ``key`` for ``model`` (registry defaults, then ``options``)."""
    return method_spec(key).build(model, **options)
