"""Any CNN and vision transformer: stages found without ``layers=`` on the torchvision zoo (random
weights), Grad-CAM and Grad-CAM++ equal to pytorch-grad-cam on every model, token and channels-last
layouts read as maps with 2-D structure, layouts that are not maps rejected."""

import warnings

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM as PGCGradCAM
from pytorch_grad_cam import GradCAMPlusPlus as PGCGradCAMPlusPlus
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torchvision import models as tvm
from torchvision.models.vision_transformer import VisionTransformer

from matsight.errors import ConfigError
from matsight.saliency import FastCAM, GradCAM, GradCAMPlusPlus, find_stages
from matsight.saliency.layout import candidate_layouts
from matsight.saliency.normalise import flat

torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

RESNET = ["relu", "layer1", "layer2", "layer3", "layer4"]
VIT = [f"encoder.layers.encoder_layer_{i}" for i in range(6, 11)]  # the last block feeds only the class token
# name: (builder options, input size, discovered stages Z1..Z5 (fewer where the model has fewer grids))
ZOO = {
    "resnet18": ({}, 96, RESNET),
    "resnext50_32x4d": ({}, 96, RESNET),
    "wide_resnet50_2": ({}, 96, RESNET),
    "densenet121": ({}, 96, ["features.relu0"] + [f"features.denseblock{i}" for i in range(1, 5)]),
    "vgg11": ({"init_weights": False}, 96, ["features.4", "features.9", "features.14", "features.19", "avgpool"]),
    "efficientnet_b0": ({}, 96, ["features.1", "features.2", "features.3", "features.5", "features"]),
    "mobilenet_v3_small": ({}, 96, ["features.0", "features.1", "features.3", "features.8", "features"]),
    "convnext_tiny": ({}, 96, ["features.1", "features.3", "features.5", "features"]),
    "regnet_y_400mf": (
        {},
        96,
        ["stem", "trunk_output.block1", "trunk_output.block2", "trunk_output.block3", "trunk_output"],
    ),
    "shufflenet_v2_x0_5": ({}, 96, ["conv1", "maxpool", "stage2", "stage3", "conv5"]),
    "squeezenet1_1": ({}, 96, ["features.1", "features.4", "features.7", "classifier.2"]),
    "googlenet": ({"init_weights": True}, 96, ["conv1", "conv3", "inception3b", "inception4e", "inception5b"]),
    "inception_v3": (
        {"init_weights": True},
        160,
        ["Conv2d_2b_3x3", "Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c"],
    ),
    "swin_t": ({}, 96, ["features.1", "features.3", "features.5", "permute"]),
    "vit_b_16": ({"image_size": 64}, 64, VIT),
}
_BUILT: dict[str, nn.Module] = {}


def zoo(name: str) -> nn.Module:
    """The torchvision model ``name`` with random weights (seeded), in eval mode, built once."""
    if name not in _BUILT:
        torch.manual_seed(0)
        model = getattr(tvm, name)(weights=None, **ZOO[name][0]).eval()
        if name == "vit_b_16":
            nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision starts the head at zero
        _BUILT[name] = model
    return _BUILT[name]


def images(size: int, n: int = 2) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", list(ZOO))
def test_fastcam_and_gradcam_without_layers(name):
    model, (_, size, expected) = zoo(name), ZOO[name]
    fast = FastCAM(model)
    assert [stage.path for stage in fast.stages.values()] == expected
    assert list(fast.stages) == [f"Z{i + 1}" for i in range(len(expected))]
    cam = GradCAM(model)
    assert cam.stage.path == expected[-1]
    x = images(size)
    result = fast.explain(x)
    assert result.map.shape == (2, size, size) and torch.isfinite(result.map).all()
    assert 0 <= result.map.min() and result.map.max() <= 1 and not result.empty.any()
    explanation = cam.explain(x, target=1)
    assert explanation.map.shape == (2, size, size) and 0 <= explanation.map.min() and explanation.map.max() <= 1


def vit_tokens_to_grid(tensor: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam's documented ViT reshape: drop the class token, square grid, channels first."""
    side = int((tensor.shape[1] - 1) ** 0.5)
    return tensor[:, 1:, :].reshape(tensor.shape[0], side, side, tensor.shape[2]).permute(0, 3, 1, 2)


def pgc_raw(ref, x: torch.Tensor, layer: nn.Module, targets) -> np.ndarray:
    """pytorch-grad-cam's map before its normalisation (ReLU of the weighted activations), ``[N,h,w]``."""
    acts = ref.activations_and_grads.activations[0].numpy()
    grads = ref.activations_and_grads.gradients[0].numpy()
    return np.maximum(ref.get_cam_image(x, layer, targets, acts, grads), 0)


@pytest.mark.parametrize("ours, theirs", [(GradCAM, PGCGradCAM), (GradCAMPlusPlus, PGCGradCAMPlusPlus)])
@pytest.mark.parametrize("name", list(ZOO))
def test_cam_equals_pytorch_grad_cam(name, ours, theirs):
    """Same layer (the discovered Z5), same target: the raw map equals pytorch-grad-cam's, and so does the
    normalised map. Where random weights make the raw map tiny (EfficientNet, MobileNet, GoogLeNet: 1e-15..1e-10),
    pytorch-grad-cam's 1e-7 epsilon dominates its own normalisation, so there the reference is its pipeline (min-max
    on the grid, OpenCV resize, min-max) run on the raw map scaled to a maximum of 1."""
    model, (_, size, expected) = zoo(name), ZOO[name]
    x = images(size)
    explainer = ours(model, layer=expected[-1], input_shape=(3, size, size))
    for target in range(20):  # random weights: the first output whose maps are not all zero
        grid = explainer.maps(x, target=target)
        if not flat(grid).any():
            break
    mine = explainer.explain(x, target=target)
    layer, tokens = explainer.stage.module, explainer.stage.kind == "tokens"
    targets = [ClassifierOutputTarget(target)] * len(x)
    with theirs(model=model, target_layers=[layer], reshape_transform=vit_tokens_to_grid if tokens else None) as ref:
        expected_map = ref(input_tensor=x, targets=targets)
        raw = pgc_raw(ref, x, layer, targets)
    np.testing.assert_allclose(grid.numpy(), raw, rtol=1e-4, atol=1e-4 * raw.max())
    if raw.max() < 1e-3:
        peak = raw.reshape(len(raw), -1).max(axis=1)[:, None, None]
        expected_map = scale_cam_image(scale_cam_image(raw / peak, (size, size)))
    np.testing.assert_allclose(mine.map.numpy(), expected_map, atol=1e-4)


@pytest.fixture(scope="module")
def tiny_vit():
    torch.manual_seed(0)
    vit = VisionTransformer(64, 8, num_layers=3, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=4).eval()
    nn.init.normal_(vit.heads.head.weight, std=0.5)
    return vit


def test_transformer_maps_have_2d_structure(tiny_vit):
    """ViT tokens [N, 1 + 8*8, 32] are read as an 8x8 patch grid (class token dropped): the map varies down the
    rows and along them, and equals pytorch-grad-cam with its documented ViT reshape."""
    cam = GradCAM(tiny_vit)
    assert cam.stage.path == "encoder.layers.encoder_layer_1" and cam.stage.kind == "tokens"
    x = images(64)
    grid = cam.maps(x, target=2)
    assert grid.shape == (2, 8, 8)
    assert (grid[:, 1:] - grid[:, :-1]).abs().amax() > 1e-3 * grid.amax()  # rows are not identical
    assert (grid[:, :, 1:] - grid[:, :, :-1]).abs().amax() > 1e-3 * grid.amax()
    with PGCGradCAM(model=tiny_vit, target_layers=[cam.stage.module], reshape_transform=vit_tokens_to_grid) as ref:
        expected = ref(input_tensor=x, targets=[ClassifierOutputTarget(2)] * 2)
    np.testing.assert_allclose(cam.attribute(x, target=2).numpy(), expected, atol=1e-4)
    stage_maps = FastCAM(tiny_vit).explain(x).stage_maps
    assert list(stage_maps) == ["Z1", "Z2"] and all(m.shape == (2, 8, 8) for m in stage_maps.values())


class ChannelsLast(nn.Module):
    """Conv stem, then a per-pixel linear layer on [N, h, w, 8] (as in Swin / ConvNeXt blocks)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.mix = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(torch.relu(self.mix(self.stem(x).permute(0, 2, 3, 1))).mean(dim=(1, 2)))


def test_channels_last_stage_read_as_found():
    """At 16 px the stage is [N, 8, 8, 8], which also fits a [N,C,h,w] reading; the layout found on the probe
    (channels last, 8 channels) settles it, and the map equals pytorch-grad-cam's with a permuting reshape."""
    torch.manual_seed(0)
    model = ChannelsLast().eval()
    cam = GradCAM(model)
    assert (cam.stage.path, cam.stage.kind, cam.stage.channels) == ("mix", "nhwc", 8)
    x = images(16)
    assert candidate_layouts((2, 8, 8, 8), (16, 16))[0].kind == "nchw"  # the reading a shape alone suggests
    target = next(k for k in range(3) if not cam.explain(x, target=k).empty.any())
    with PGCGradCAM(model=model, target_layers=[model.mix], reshape_transform=lambda t: t.permute(0, 3, 1, 2)) as ref:
        expected = ref(input_tensor=x, targets=[ClassifierOutputTarget(target)] * 2)
    np.testing.assert_allclose(cam.attribute(x, target=target).numpy(), expected, atol=1e-4)


class Sequence1D(nn.Module):
    """A layer whose output is a 1-D sequence [N, 3, h*w], not a map."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.seq = nn.Conv1d(8, 3, 1)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.seq(self.stem(x).flatten(2)).mean(dim=2))


def test_layouts_that_are_not_maps_raise(tiny_vit):
    with pytest.raises(ConfigError, match=r"'heads.head' gave an activation of shape \[1, 4\]"):
        GradCAM(tiny_vit, layer="heads.head")
    with pytest.raises(ConfigError, match=r"'seq' gave an activation of shape \[1, 3, 50176\]"):
        FastCAM(Sequence1D(), layers=["seq"])
    with pytest.raises(ConfigError, match=r"candidate layers \(output shape\): 0 \[1, 2, 222, 222\]"):
        find_stages(nn.Sequential(nn.Conv2d(1, 2, 3)))  # the model returns a map: no head to explain
    with pytest.raises(ConfigError, match="closest: encoder.layers.encoder_layer_1"):
        GradCAM(tiny_vit, layer="encoder.layers.encoder_layer1")
