"""Standard methods: equality with pytorch-grad-cam, torchcam, captum and zennit, signed regression maps, hooks,
normalisation of tiny and empty maps."""

import copy
import warnings

import numpy as np
import pytest
import torch
from captum.attr import Deconvolution as CaptumDeconvolution
from captum.attr import GuidedBackprop as CaptumGuidedBackprop
from captum.attr import IntegratedGradients as CaptumIG
from pytorch_grad_cam import AblationCAM as PGCAblationCAM
from pytorch_grad_cam import GradCAM as PGCGradCAM
from pytorch_grad_cam import GradCAMPlusPlus as PGCGradCAMPlusPlus
from pytorch_grad_cam import HiResCAM as PGCHiResCAM
from pytorch_grad_cam import LayerCAM as PGCLayerCAM
from pytorch_grad_cam import ScoreCAM as PGCScoreCAM
from pytorch_grad_cam import XGradCAM as PGCXGradCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection
from torch import nn
from torchcam.methods import LayerCAM as TorchcamLayerCAM
from torchcam.methods import XGradCAM as TorchcamXGradCAM
from zennit.attribution import Gradient
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import EpsilonPlusFlat

from matsight.models import build_model
from matsight.saliency import (
    LRP,
    AblationCAM,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
    minmax,
)
from matsight.saliency.captum_methods import Deconvolution, GuidedBackprop, IntegratedGradients, SmoothGrad
from matsight.saliency.faithfulness import deletion_insertion, randomisation_check
from matsight.saliency.normalise import normalise

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Setting backward hooks")


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return build_model("resnet18", "classification", 4).eval()


@pytest.mark.parametrize("ours, theirs", [(GradCAM, PGCGradCAM), (GradCAMPlusPlus, PGCGradCAMPlusPlus)])
def test_gradcam_equals_pytorch_grad_cam(resnet, ours, theirs):
    x = torch.rand(3, 3, 96, 96)
    mine = ours(resnet).attribute(x, target=2).numpy()
    with theirs(model=resnet, target_layers=[resnet.backbone.layer4]) as ref:
        expected = ref(input_tensor=x, targets=[ClassifierOutputTarget(2)] * 3)
    assert mine.shape == expected.shape == (3, 96, 96)
    np.testing.assert_allclose(mine, expected, atol=1e-4)


def test_ig_and_guided_backprop_equal_captum(resnet):
    x = torch.rand(2, 1, 32, 32)
    ig = IntegratedGradients(resnet, n_steps=8).raw(x, target=1)
    ref = CaptumIG(resnet).attribute(x.clone().requires_grad_(True), target=1, n_steps=8).sum(dim=1)
    torch.testing.assert_close(ig, ref.detach(), atol=1e-6, rtol=1e-5)
    gb = GuidedBackprop(resnet).raw(x, target=3)
    ref = CaptumGuidedBackprop(resnet).attribute(x.clone().requires_grad_(True), target=3)
    torch.testing.assert_close(gb, ref.detach().sum(dim=1), atol=1e-6, rtol=1e-5)
    # guided backprop clamps gradients, so the sign=-1 map is not the negated sign=+1 map
    assert not torch.allclose(GuidedBackprop(resnet).raw(x, target=3, sign=-1), -gb, atol=1e-4)


def test_hooks_removed_after_exception(resnet):
    x = torch.rand(1, 3, 32, 32)
    for explainer in (GradCAM(resnet), GradCAMPlusPlus(resnet)):
        with pytest.raises(Exception, match="out of range"):
            explainer.attribute(x, target=9)
    assert all(not m._forward_hooks and not m._backward_hooks for m in resnet.modules())


class Tiny(nn.Module):
    """A tiny regressor with stages, for the signed-map test."""

    def __init__(self):
        super().__init__()
        self.z1 = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.z2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.stages = {"Z1": self.z1, "Z2": self.z2}
        self.fc = nn.Linear(8 * 6 * 6, 1)

    def forward(self, x):
        return self.fc(self.z2(self.z1(x)).flatten(1))


def blobs(n: int, seed: int) -> torch.Tensor:
    """Grey background 0.3 with bright 4x4 squares at random places, ``[n,1,24,24]``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.full((n, 1, 24, 24), 0.3)
    for i in range(n):
        for r, c in torch.randint(0, 20, (6, 2), generator=gen).tolist():
            x[i, 0, r : r + 4, c : c + 4] = 0.9
    return x


@pytest.fixture(scope="module")
def trained_tiny():
    """Target = mean brightness of the left half minus the right half (known answer)."""
    torch.manual_seed(0)
    model = Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(200):
        x = blobs(32, step) + 0.05 * torch.randn(32, 1, 24, 24)
        y = x[..., :12].mean(dim=(1, 2, 3)) - x[..., 12:].mean(dim=(1, 2, 3))
        loss = ((model(x).squeeze(1) - 4 * y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * (4 * y).var().item()  # it learnt the known answer
    return model.eval()


@pytest.mark.parametrize("method", [IntegratedGradients])
def test_signed_regression_maps(trained_tiny, method):
    torch.manual_seed(1)
    x = blobs(8, 1000)
    explainer = method(trained_tiny)
    up, down = explainer.attribute(x, sign=1), explainer.attribute(x, sign=-1)
    assert (up - down).abs().mean() > 0.02
    assert up[..., :12].mean() > up[..., 12:].mean() and down[..., 12:].mean() > down[..., :12].mean()
    rand = torch.rand(8, 24, 24)
    for sign, maps in ((1, up), (-1, down)):
        # deleting the top 30% of the signed map moves sign*prediction down more than random masks
        ours = deletion_insertion(trained_tiny, x, maps, sign=sign, steps=10, kind="mean")["deletion"][:, 3]
        base = deletion_insertion(trained_tiny, x, rand, sign=sign, steps=10, kind="mean")["deletion"][:, 3]
        full = deletion_insertion(trained_tiny, x, maps, sign=sign, steps=10, kind="mean")["deletion"][:, 0]
        assert (full - ours).mean() > (full - base).mean() + 0.05


def test_randomisation_changes_maps(trained_tiny):
    x = torch.rand(4, 1, 24, 24)
    corr = randomisation_check(lambda m: SmoothGrad(m, nt_samples=4), trained_tiny, x)
    assert corr.shape == (4,) and corr.mean() < 0.5


def test_deconvolution_equals_captum(resnet):
    x = torch.rand(2, 1, 32, 32)
    ours = Deconvolution(resnet).raw(x, target=[1, 3])
    ref = CaptumDeconvolution(resnet).attribute(x.clone().requires_grad_(True), target=[1, 3]).sum(dim=1)
    torch.testing.assert_close(ours, ref.detach(), atol=1e-6, rtol=1e-5)


class SmallCNN(nn.Module):
    """24 px -> an 8-channel post-ReLU stage on a 12x12 grid -> 3 outputs (positive biases: scores > 0)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.stage = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 3)
        nn.init.constant_(self.head.bias, 5.0)

    def forward(self, x):
        return self.head(self.stage(self.stem(x)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(3)
    return SmallCNN().eval()


PGC_EQUAL = [
    (HiResCAM, PGCHiResCAM),
    (XGradCAM, PGCXGradCAM),
    (LayerCAM, PGCLayerCAM),
    (ScoreCAM, PGCScoreCAM),
    (AblationCAM, PGCAblationCAM),
]


@pytest.mark.parametrize("ours, theirs", PGC_EQUAL, ids=[c.__name__ for c, _ in PGC_EQUAL])
def test_new_cams_equal_pytorch_grad_cam(small, ours, theirs):
    x = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    targets = [0, 2]
    assert bool((small(x)[[0, 1], targets] > 0).all())  # Ablation-CAM: pytorch-grad-cam divides by the score
    mine = ours(small, layer="stage").explain(x, target=targets)
    assert not mine.empty.any()
    with theirs(model=small, target_layers=[small.stage]) as ref:
        expected = ref(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in targets])
    np.testing.assert_allclose(mine.map.numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("ours, theirs", [(XGradCAM, TorchcamXGradCAM), (LayerCAM, TorchcamLayerCAM)])
def test_gradient_cams_equal_torchcam_on_the_grid(resnet, ours, theirs):
    """torchcam returns grid maps: compare the raw grid, min-max normalised (torchcam adds 1e-8 to the span)."""
    x = torch.rand(2, 3, 96, 96)
    grid = ours(resnet).maps(x, target=1)
    with theirs(resnet, target_layer="backbone.layer4") as extractor:
        expected = extractor(class_idx=1, scores=resnet(x))[0]
    torch.testing.assert_close(minmax(grid), expected.detach(), atol=1e-4, rtol=0)


def test_eigencam_equals_pytorch_grad_cam_projection(small):
    """The same first-component projection as pytorch-grad-cam's get_2d_projection, with the sign fixed so that
    the projection correlates positively with the activation summed over channels."""
    x = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    mine = EigenCAM(small, layer="stage").explain(x)
    with torch.no_grad():
        acts = small.stage(small.stem(x)).numpy()
    projection = get_2d_projection(acts)
    totals = acts.sum(axis=1)
    for i in range(len(x)):
        corr = np.corrcoef(projection[i].ravel(), totals[i].ravel())[0, 1]
        projection[i] *= np.sign(corr)
    expected = scale_cam_image(scale_cam_image(np.maximum(projection, 0), (24, 24)))
    np.testing.assert_allclose(mine.map.numpy(), expected, atol=1e-4)


def test_lrp_equals_zennit(small):
    x = torch.rand(2, 3, 24, 24)
    with Gradient(small, EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])) as attributor:
        _, relevance = attributor(x, lambda out: torch.eye(3)[[2, 2]] * out)
    torch.testing.assert_close(LRP(small).raw(x, target=2), relevance.sum(dim=1), atol=1e-6, rtol=1e-5)
    assert all(not m._forward_hooks and not m._backward_hooks for m in small.modules())


def test_lrp_epsilon_relevance_sums_to_the_output():
    """Conservation on a bias-free ReLU network: input relevance sums to the explained output (LRP-epsilon)."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 2, bias=False),
    ).eval()
    x = torch.rand(3, 3, 8, 8)
    relevance = LRP(net, composite="epsilon").raw(x, target=1).sum(dim=(1, 2))
    torch.testing.assert_close(relevance, net(x)[:, 1].detach(), rtol=1e-3, atol=1e-6)
    down = LRP(net, composite="epsilon").raw(x, target=1, sign=-1).sum(dim=(1, 2))
    torch.testing.assert_close(down, -net(x)[:, 1].detach(), rtol=1e-3, atol=1e-6)


def test_tiny_raw_maps_are_stretched_like_large_ones(small):
    """Exact min-max: a raw map of 1e-12 gives the same map as the same map at 1 (no epsilon dominates)."""
    x = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    tiny = copy.deepcopy(small)
    tiny.head.weight.data *= 1e-12
    big, small_map = GradCAM(small).explain(x, target=2), GradCAM(tiny).explain(x, target=2)
    assert 0 < small_map.raw.max() < 1e-10 and not small_map.empty.any()
    torch.testing.assert_close(small_map.map, big.map, atol=1e-5, rtol=0)


def test_maps_without_structure_are_zeros_and_flagged(small):
    x = torch.rand(2, 3, 24, 24)
    blind = copy.deepcopy(small)
    nn.init.zeros_(blind.head.weight)  # the output no longer depends on the image: all gradients are zero
    for method in (GradCAM, GradCAMPlusPlus, LayerCAM):
        explanation = method(blind).explain(x, target=0)
        assert explanation.empty.all() and not explanation.map.any() and not explanation.raw.any()
    raw, maps, empty = normalise(torch.stack([torch.full((3, 3), 0.7), torch.eye(3)]), "minmax", (6, 6))
    assert empty.tolist() == [True, False] and not maps[0].any() and maps[1].max() == 1 and raw[0].eq(0.7).all()
