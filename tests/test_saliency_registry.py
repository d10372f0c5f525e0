"""Every registered saliency method through the same checks (in the spirit of scikit-learn's
``parametrize_with_checks``): shape, range, dtype and device; per-image and callable targets;
regression and classification; hooks, grad mode, random state and parameters left as they were,
also after an exception inside the forward pass; the batch runner's worker for every key."""

import warnings

import pytest
import torch
from torch import nn

from matsight.errors import ConfigError
from matsight.saliency.base import Explanation
from matsight.saliency.registry import METHODS, build_explainer, method_spec
from matsight.saliency.runner import SaliencyWorker

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Setting backward hooks")

# cheap settings for the slow methods; the checks do not depend on them
OPTIONS = {"integrated-gradients": {"n_steps": 4}, "smoothgrad": {"nt_samples": 3}, "response-maps": {"top_n": 2}}


class Tripwire(nn.Module):
    """Identity that raises while ``armed`` (an error inside the forward pass)."""

    armed = False

    def forward(self, x):
        if self.armed:
            raise RuntimeError("tripwire")
        return x


class Net(nn.Module):
    """A small CNN without ``model.stages`` (stages are discovered): 24 px -> grids 12 and 6."""

    def __init__(self, outputs: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            Tripwire(),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(8, outputs)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def make(outputs: int, seed: int) -> Net:
    """Random weights; the seeds give every method a map with structure for the targets and signs used."""
    torch.manual_seed(seed)
    net = Net(outputs).eval()
    net.features[1].running_mean.uniform_(-0.1, 0.1)
    net.head.weight.data *= 20  # outputs that vary enough for Score-CAM's softmax over channels to tell targets apart
    return net


@pytest.fixture(scope="module")
def classifier():
    return make(3, seed=0)


@pytest.fixture(scope="module")
def regressor():
    return make(1, seed=1)


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))


def state(model: nn.Module) -> dict:
    """Everything an explainer must leave as it was."""
    hooks = [
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in model.modules()
    ]
    from torch.nn.modules import module as torch_module

    global_hooks = [
        len(getattr(torch_module, name))
        for name in dir(torch_module)
        if name.startswith("_global_") and name.endswith("hooks")
    ]
    return {
        "hooks": hooks,
        "global hooks": global_hooks,
        "grad mode": torch.is_grad_enabled(),
        "rng": torch.get_rng_state(),
        "training": [m.training for m in model.modules()],
        "params": [p.detach().clone() for p in model.state_dict().values()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
    }


def assert_same_state(before: dict, after: dict) -> None:
    for key in ("hooks", "global hooks", "grad mode", "training", "requires_grad"):
        assert before[key] == after[key], key
    assert torch.equal(before["rng"], after["rng"]), "global random state"
    assert all(torch.equal(a, b) for a, b in zip(before["params"], after["params"])), "parameters or buffers"
    assert all(g is None for g in after["grads"]), "parameter gradients"


def check_maps(explanation: Explanation, x: torch.Tensor, stretched: bool = True) -> None:
    """Shapes, dtype, device and range; ``stretched``: each map reaches 1 (min-max or positive-part norms)."""
    n, _, h, w = x.shape
    assert isinstance(explanation, Explanation)
    for maps in (explanation.map, explanation.raw):
        assert maps.shape == (n, h, w) and maps.dtype == torch.float32 and maps.device == x.device
        assert torch.isfinite(maps).all()
    assert explanation.map.min() >= 0 and explanation.map.max() <= 1
    assert explanation.empty.shape == (n,) and explanation.empty.dtype == torch.bool
    assert not explanation.empty.any()  # the test model has structure for every method
    if stretched:
        assert torch.allclose(explanation.map.flatten(1).amax(dim=1), torch.ones(n))


@pytest.mark.parametrize("key", list(METHODS))
def test_classification_targets(key, classifier, x):
    spec = method_spec(key)
    explainer = build_explainer(key, classifier, **OPTIONS.get(key, {}))
    before = state(classifier)
    one = explainer.explain(x, target=2)
    stretched = explainer.norm in ("minmax", "positive")
    check_maps(one, x, stretched)
    assert torch.equal(explainer.attribute(x, target=2), one.map)
    zero = explainer.attribute(x, target=0)
    # per-image targets: image 0 explains output 0, image 1 output 2
    mixed = explainer.attribute(x, target=[0, 2])
    torch.testing.assert_close(mixed[0], zero[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(mixed[1], one.map[1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(explainer.attribute(x, target=torch.tensor([0, 2])), mixed, atol=1e-5, rtol=1e-4)
    # a callable picks the same output
    torch.testing.assert_close(explainer.attribute(x, target=lambda out: out[:, 2]), one.map, atol=1e-5, rtol=1e-4)
    if spec.needs_target:
        assert not torch.allclose(zero, one.map, atol=1e-3), "the map should depend on the target"
        with pytest.raises(ConfigError, match="3 outputs"):
            explainer.attribute(x)
        with pytest.raises(ConfigError, match="out of range"):
            explainer.attribute(x, target=3)
    else:
        torch.testing.assert_close(zero, one.map)
        check_maps(explainer.explain(x), x, stretched)
    assert_same_state(before, state(classifier))


@pytest.mark.parametrize("key", list(METHODS))
def test_regression_and_sign(key, regressor, x):
    spec = method_spec(key)
    explainer = build_explainer(key, regressor, **OPTIONS.get(key, {}))
    before = state(regressor)
    up, down = explainer.explain(x), explainer.explain(x, sign=-1)
    stretched = explainer.norm in ("minmax", "positive")
    check_maps(up, x, stretched)
    if spec.needs_target:
        check_maps(down, x, stretched)
        assert not torch.allclose(up.map, down.map, atol=1e-3), "sign=-1 should change the map"
    else:
        torch.testing.assert_close(up.map, down.map)
    with pytest.raises(ConfigError, match="sign"):
        explainer.attribute(x, sign=2)
    assert_same_state(before, state(regressor))


@pytest.mark.parametrize("key", list(METHODS))
def test_state_restored_after_an_error_in_forward(key, classifier, x):
    explainer = build_explainer(key, classifier, **OPTIONS.get(key, {}))
    before = state(classifier)
    Tripwire.armed = True
    try:
        with pytest.raises(RuntimeError, match="tripwire"):
            explainer.explain(x, target=1)
    finally:
        Tripwire.armed = False
    assert_same_state(before, state(classifier))


@pytest.mark.parametrize("key", list(METHODS))
def test_runner_worker_arrays(key, classifier, x):
    """The batch runner's worker stores the registry's arrays for every key."""
    worker = SaliencyWorker(classifier, [], 24, 24, 3, method=key, target=2)
    arrays = worker.compute(classifier, x)
    assert set(arrays) == set(method_spec(key).arrays)
    assert arrays["map"].dtype == torch.float16 and arrays["map"].shape == (2, 24, 24)
    assert arrays["empty"].dtype == torch.bool and not arrays["empty"].any()
    if "dominant" in arrays:
        assert arrays["dominant"].dtype == torch.int16 and arrays["dominant"].shape == (2, 24, 24)


def test_unknown_method_names_the_closest():
    with pytest.raises(ConfigError, match="did you mean gradcam"):
        method_spec("gradcm")


def test_specs_build_their_class(classifier):
    for key, spec in METHODS.items():
        explainer = spec.build(classifier, **OPTIONS.get(key, {}))
        assert type(explainer) is spec.load() and spec.description
    assert build_explainer("fastcam-gradcam", classifier).combine_with == "gradcam"
