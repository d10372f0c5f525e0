"""matsight.saliency: explainers with one API, ``Explainer(model).attribute(x, target=None, sign=1)``.

Maps are ``Tensor[N,H,W]`` on the input's device; ``explain`` returns raw and normalised maps and
``empty`` flags. Every method is listed in :mod:`matsight.saliency.registry`. Names are imported on
first use (importing the package loads neither torch nor captum).
"""

from __future__ import annotations

from matsight.lazy import lazy_exports

_HOMES = {
    "Explainer": "base",
    "Explanation": "base",
    "select_output": "base",
    "CAM": "cam",
    "GradCAM": "gradcam",
    "GradCAMPlusPlus": "gradcam",
    "HiResCAM": "gradcam",
    "XGradCAM": "gradcam",
    "LayerCAM": "gradcam",
    "EigenCAM": "eigencam",
    "ScoreCAM": "perturbation",
    "AblationCAM": "perturbation",
    "FastCAM": "fastcam",
    "FastCAMResult": "fastcam",
    "PAPER_WEIGHTS": "fastcam",
    "Deconvolution": "captum_methods",
    "GuidedBackprop": "captum_methods",
    "IntegratedGradients": "captum_methods",
    "SmoothGrad": "captum_methods",
    "LRP": "lrp",
    "CLEAR": "response_maps",
    "ResponseMaps": "response_maps",
    "gamma_cdf": "normalise",
    "gamma_fit": "normalise",
    "gaussian_cdf": "normalise",
    "minmax": "normalise",
    "smoe": "smoe_scale",
    "find_stages": "stages",
    "locate_stages": "stages",
    "METHODS": "registry",
    "DEFAULT_METHOD": "registry",
    "build_explainer": "registry",
    "SaliencyConfig": "config",
    "run": "runner",
}

__all__ = sorted(_HOMES)

__getattr__ = lazy_exports(__name__, _HOMES)
