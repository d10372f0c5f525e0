"""Attentive response maps and CLEAR on the crystal ConvNet and a multilabel ResNet."""

import warnings

import torch

from matsight.models import build_model
from matsight.saliency import CLEAR, ResponseMaps, minmax
from matsight.saliency.figures import clear_rgb

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Setting backward hooks")


def test_response_maps_crystal_convnet():
    torch.manual_seed(0)
    model = build_model("crystal_convnet", "classification", 7).eval()
    x = torch.rand(2, 3, 64, 64)
    res = ResponseMaps(model, top_n=3).explain(x)
    assert res.maps.shape == (2, 3, 64, 64) and res.units.shape == (2, 3)
    with torch.no_grad():
        z3 = model.block3(model.block2(model.block1(x)))
    assert torch.equal(res.units[:, 0], z3.amax(dim=(2, 3)).argmax(dim=1))
    assert torch.equal(res.dominant, res.maps.argmax(dim=1)) and res.maps.sum() > 0
    assert torch.allclose(res.raw, res.maps.amax(dim=1)) and torch.equal(res.level, res.raw)
    assert torch.allclose(ResponseMaps(model, top_n=3).attribute(x), minmax(res.maps.amax(dim=1)))
    assert all(not m._forward_hooks for m in model.modules())
    part = res.subset(slice(1, 2))  # every field indexed over the batch, same result type
    assert type(part) is type(res) and torch.equal(part.maps, res.maps[1:2]) and torch.equal(part.level, res.level[1:2])


def test_clear_classes_and_multilabel():
    torch.manual_seed(0)
    model = build_model("crystal_convnet", "classification", 7).eval()
    x = torch.rand(2, 3, 64, 64)
    res = CLEAR(model).explain(x)
    assert res.maps.shape == (2, 7, 64, 64) and res.outputs == list(range(7))
    assert torch.equal(res.level, res.maps.amax(dim=1))
    assert int(res.dominant.max()) < 7
    rgb = clear_rgb(res.dominant, res.level)
    assert rgb.shape == (2, 64, 64, 3) and 0 <= rgb.min() and rgb.max() <= 1
    tagger = build_model("resnet18", "multilabel", 5).eval()
    res = CLEAR(tagger, outputs=[0, 3]).explain(torch.rand(1, 1, 32, 32))
    assert res.maps.shape == (1, 2, 32, 32) and set(res.dominant.unique().tolist()) <= {0, 1}
