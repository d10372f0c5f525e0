"""FastCAM: hand-computed SMOE and Gamma normalisation, stage discovery, hooks, one-pass outputs."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torchvision.models import densenet121, resnet18

from matsight.errors import ConfigError
from matsight.models import build_model
from matsight.saliency import FastCAM, find_stages, gamma_cdf, gamma_fit, gaussian_cdf, smoe

torch.set_num_threads(1)


def test_smoe_hand_computed():
    a = torch.tensor([1.0, 2.0, 4.0, 0.0]).view(1, 4, 1, 1)
    x = a.flatten() + 1e-7
    m = x.mean().item()
    expected = m * (math.log2(m) - sum(math.log2(v) for v in x.tolist()) / 4)
    assert smoe(a).shape == (1, 1, 1)
    assert smoe(a).item() == pytest.approx(expected, rel=1e-5)
    # equal channels: arithmetic == geometric mean, SMOE is zero
    assert smoe(torch.full((1, 3, 2, 2), 5.0)).abs().max().item() < 1e-5


def test_smoe_signed_activations():
    """Signed activations: ``clamp`` reads their positive part (the default), ``abs`` their magnitude."""
    a = torch.randn(2, 6, 3, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(smoe(a), smoe(a.clamp_min(0))) and torch.equal(smoe(a, "abs"), smoe(a.abs()))
    assert not torch.allclose(smoe(a), smoe(a, "abs"))
    assert torch.equal(smoe(a.abs(), "abs"), smoe(a.abs()))  # the same for non-negative activations
    with pytest.raises(ConfigError, match="signed"):
        FastCAM(build_model("resnet18", "regression", 1), signed="negative")


def test_gamma_fit_and_cdf_match_scipy():
    torch.manual_seed(0)
    maps = torch.distributions.Gamma(torch.tensor(2.5), torch.tensor(1 / 0.7)).sample((2, 6, 6))
    maps[1] *= 3
    k, theta = gamma_fit(maps)
    for i in range(2):
        k_ref, _, theta_ref = stats.gamma.fit(maps[i].flatten().double().numpy(), floc=0)
        assert k[i].item() == pytest.approx(k_ref, rel=1e-4)
        assert theta[i].item() == pytest.approx(theta_ref, rel=1e-4)
        expected = stats.gamma.cdf(maps[i].double().numpy() + 1e-7, k_ref, scale=theta_ref)
        np.testing.assert_allclose(gamma_cdf(maps)[i].numpy(), expected, atol=1e-5)


def test_gaussian_cdf_hand_computed():
    maps = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    std = torch.tensor([0.0, 1.0, 2.0, 3.0]).std().item()
    expected = 0.5 * (1 + math.erf((3.0 - 1.5) / (std * math.sqrt(2))))
    assert gaussian_cdf(maps)[0, 1, 1].item() == pytest.approx(expected, rel=1e-6)
    assert gaussian_cdf(maps).mean().item() == pytest.approx(0.5, abs=1e-6)


def test_stages_found_for_torchvision_and_names():
    """Discovery (saliency/stages.py): the tensor carried to the next grid, named by its outermost module."""
    rn = resnet18()
    assert find_stages(rn) == {"Z1": rn.relu, "Z2": rn.layer1, "Z3": rn.layer2, "Z4": rn.layer3, "Z5": rn.layer4}
    dn = densenet121()
    f = dn.features
    # Z5: DenseNet's forward changes ``features``' output in place (F.relu(inplace=True)), so the block before it
    expected = {"Z1": f.relu0, "Z2": f.denseblock1, "Z3": f.denseblock2, "Z4": f.denseblock3, "Z5": f.denseblock4}
    assert find_stages(dn) == expected
    assert list(find_stages(rn, ["layer3", "layer4"]).values()) == [rn.layer3, rn.layer4]
    with pytest.raises(ConfigError, match="layer9.*closest: layer4"):
        find_stages(rn, ["layer9"])
    with pytest.raises(ConfigError, match="layers="):
        find_stages(nn.Sequential(nn.Conv2d(1, 2, 3)))


def test_fastcam_one_pass_outputs_and_weights():
    model = build_model("resnet18", "regression", 1).eval()
    x = torch.rand(2, 1, 64, 64)
    cam = FastCAM(model)
    res = cam.explain(x)
    assert res.map.shape == (2, 64, 64) and 0 <= res.map.min() and res.map.max() <= 1
    assert res.activations["Z5"].shape == (2, 512, 2, 2) and res.stage_maps["Z3"].shape == (2, 8, 8)
    assert torch.equal(cam.attribute(x), res.map)
    # the salient vector is the activation at the argmax of the stage map
    vec = res.salient_vectors()["Z3"]
    idx = res.stage_maps["Z3"][1].flatten().argmax()
    assert torch.equal(vec[1], res.activations["Z3"][1].flatten(1)[:, idx])
    # weights: only Z5 weighted -> the map is the upsampled Z5 map
    only5 = FastCAM(model, weights=[0, 0, 0, 0, 1]).explain(x)
    assert torch.allclose(only5.map, only5.upsampled_stage_maps()[:, 4], atol=1e-6)
    assert torch.allclose(res.map, res.upsampled_stage_maps().mean(dim=1), atol=1e-6)
    with pytest.raises(ConfigError, match="3 weights"):
        FastCAM(build_model("crystal_convnet", "classification", 7), weights="paper")


def test_fastcam_times_gradcam_and_hooks_removed_on_error():
    model = build_model("resnet18", "classification", 3).eval()
    x = torch.rand(2, 3, 64, 64)
    res = FastCAM(model, combine_with="gradcam").explain(x, target=1)
    assert torch.allclose(res.map, FastCAM(model).explain(x).map * res.gradcam, atol=1e-6)
    with pytest.raises(ConfigError, match="target"):
        FastCAM(model, combine_with="gradcam++").attribute(x)  # 3 outputs, no target
    assert all(not m._forward_hooks for m in model.modules())


def _live_tensors() -> int:
    import gc

    gc.collect()
    return sum(1 for obj in gc.get_objects() if torch.is_tensor(obj))


def test_repeated_batches_keep_no_tensors_alive():
    """Memory stays flat over many batches: after warm-up, 15 more batches leave no tensor behind."""
    from matsight.saliency import GradCAM

    model = build_model("resnet18", "regression", 1).eval()
    x = torch.rand(2, 1, 32, 32)
    explainers = [FastCAM(model), FastCAM(model, combine_with="gradcam"), GradCAM(model)]

    def batches(n: int) -> None:
        for _ in range(n):
            for explainer in explainers:
                explainer.attribute(x)

    batches(2)
    before = _live_tensors()
    batches(15)
    assert _live_tensors() == before
