"""matsight.saliency: explainers with one API, ``Explainer(model).attribute(x, target=None, sign=1)``.

Maps are ``Tensor[N,H,W]`` on the input's device: ``raw`` values and a normalised view in [0,1].
"""

from matsight.saliency.base import Explainer, select_output
from matsight.saliency.captum_methods import Deconvolution, GuidedBackprop, IntegratedGradients, SmoothGrad
from matsight.saliency.fastcam import PAPER_WEIGHTS, FastCAM, FastCAMResult
from matsight.saliency.gradcam import GradCAM, GradCAMPlusPlus
from matsight.saliency.normalise import gamma_cdf, gamma_fit, gaussian_cdf, minmax
from matsight.saliency.response_maps import CLEAR, ResponseMaps
from matsight.saliency.smoe import smoe
from matsight.saliency.stages import find_stages

__all__ = [
    "CLEAR",
    "PAPER_WEIGHTS",
    "Deconvolution",
    "Explainer",
    "FastCAM",
    "FastCAMResult",
    "GradCAM",
    "GradCAMPlusPlus",
    "GuidedBackprop",
    "IntegratedGradients",
    "ResponseMaps",
    "SmoothGrad",
    "find_stages",
    "gamma_cdf",
    "gamma_fit",
    "gaussian_cdf",
    "minmax",
    "select_output",
    "smoe",
]
