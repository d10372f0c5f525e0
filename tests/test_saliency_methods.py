"""Standard methods: equality with pytorch-grad-cam and captum, signed regression maps, hooks."""

import warnings

import numpy as np
import pytest
import torch
from captum.attr import GuidedBackprop as CaptumGuidedBackprop
from captum.attr import IntegratedGradients as CaptumIG
from pytorch_grad_cam import GradCAM as PGCGradCAM
from pytorch_grad_cam import GradCAMPlusPlus as PGCGradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from matsight.models import build_model
from matsight.saliency import GradCAM, GradCAMPlusPlus
from matsight.saliency.captum_methods import GuidedBackprop, IntegratedGradients, SmoothGrad
from matsight.saliency.faithfulness import deletion_insertion, randomisation_check

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
