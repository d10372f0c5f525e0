"""Faithfulness metrics: known answers on a linear model, equality with Quantus, no global reseeding."""

import numpy as np
import pytest
import quantus
import torch
from torch import nn

from matsight.saliency.base import select_output
from matsight.saliency.evaluation import METRICS, EvaluationConfig, ExplainedScalar, StillHolds, evaluate_maps
from matsight.saliency.faithfulness import isolated_rng, randomised_copy

torch.set_num_threads(1)
H = 16
CONFIG = EvaluationConfig(patch_size=4, regions=8, runs=20, steps=8, seed=3)


def linear_model() -> nn.Module:
    """s(x) = w . x with w = 1 on the top-left 6x6 pixels and 0.01 elsewhere."""
    w = torch.full((H, H), 0.01)
    w[:6, :6] = 1.0
    model = nn.Sequential(nn.Flatten(), nn.Linear(H * H, 1))
    with torch.no_grad():
        model[1].weight.copy_(w.flatten()[None])
        model[1].bias.zero_()
    return model.eval()


def spots(n: int = 8) -> torch.Tensor:
    """Bright spots (1) on a black background, ``[n,1,H,H]``."""
    return (torch.rand(n, 1, H, H, generator=torch.Generator().manual_seed(1)) > 0.7).float()


def follows_model(model: nn.Module, x: torch.Tensor, _target=None) -> torch.Tensor:
    """Each pixel's contribution w_i x_i to the output (positive part): what the model uses."""
    return (model[1].weight.view(1, H, H) * x[:, 0]).clamp_min(0)


def ignores_model(_model: nn.Module, x: torch.Tensor, _target=None) -> torch.Tensor:
    """A centre-weighted bump: plausible-looking, independent of the model (FastCAM's suspected border bias)."""
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(H), indexing="ij")
    bump = torch.exp(-((yy - H / 2 + 0.5) ** 2 + (xx - H / 2 + 0.5) ** 2) / 20.0)
    return bump.expand(x.shape[0], H, H)


def test_a_map_that_follows_the_model_wins_on_every_metric():
    model, x = linear_model(), spots()
    explain = {"follows": follows_model, "ignores": ignores_model}
    maps = {name: f(model, x) for name, f in explain.items()}
    table = evaluate_maps(model, x, maps, explain, config=CONFIG).set_index(["method", "metric"])
    assert sorted(table.index.get_level_values("metric").unique()) == sorted(METRICS)
    for metric in METRICS:
        follows, ignores = table.loc[("follows", metric)], table.loc[("ignores", metric)]
        sign = 1 if follows.higher_is_better else -1
        assert follows.beats_random, metric
        assert sign * (follows["mean"] - ignores["mean"]) > 0, metric
        assert follows.n == 8
    # known answers: on a linear model the contributions are exactly what FaithfulnessCorrelation measures
    assert table.loc[("follows", "faithfulness-correlation"), "mean"] == pytest.approx(1.0, abs=1e-5)
    assert table.loc[("follows", "road"), "mean"] == 0.0  # removing 10 % of the top pixels already breaks it
    # a map that ignores the model is the same for the randomised model: MPRT = 1, as for the (fixed) random map
    assert table.loc[("ignores", "mprt"), "mean"] == pytest.approx(1.0)
    assert table.loc[("follows", "mprt"), "random_baseline"] == pytest.approx(1.0)


def test_empty_maps_are_left_out_not_scored():
    """An all-zero map has no pixel order: NaN for that image (n counts the others), never a Quantus error;
    the other images keep exactly the scores they get alone."""
    model, x = linear_model(), spots(4)
    maps = follows_model(model, x)
    with_empty = maps.clone()
    with_empty[1] = 0
    config = EvaluationConfig(patch_size=4, regions=8, runs=20, steps=8, seed=3, metrics=METRICS[:4])
    table = evaluate_maps(model, x, {"m": with_empty}, config=config).set_index("metric")
    assert (table["n"] == 3).all()
    alone = evaluate_maps(model, x[[0, 2, 3]], {"m": maps[[0, 2, 3]]}, config=config).set_index("metric")
    # ROAD's tolerance comes from all images' outputs; the others do not depend on the batch
    for metric in ("insertion-minus-deletion", "region-perturbation"):
        assert table.loc[metric, "mean"] == pytest.approx(alone.loc[metric, "mean"], rel=1e-6), metric
    nothing = evaluate_maps(model, x, {"m": torch.zeros_like(maps)}, config=config)
    assert (nothing["n"] == 0).all() and nothing["mean"].isna().all() and not nothing["beats_random"].any()


class TinyClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.head(torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 4).flatten(1))


def gradient_times_input(model: nn.Module, x: torch.Tensor, target=2) -> torch.Tensor:
    """Gradient x input of ``output[:, target]`` (one index, or one per image), ``[N,H,W]``."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(select_output(model(x), target).sum(), x)
    return (grad * x).detach()[:, 0]


def test_the_explained_scalar_gives_quantus_own_scores_on_a_classifier():
    """On a classifier (target 2) the wrapped model and Quantus's own reading must agree exactly."""
    torch.manual_seed(0)
    model = TinyClassifier().eval()
    x = torch.rand(5, 1, H, H, generator=torch.Generator().manual_seed(2))
    maps = gradient_times_input(model, x)
    config = EvaluationConfig(patch_size=4, regions=6, runs=10, road_percentages=(20, 50, 80), seed=5)
    ours = evaluate_maps(
        model, x, {"gxi": maps}, {"gxi": gradient_times_input}, target=2, task="classification", config=config
    )
    ours = ours.set_index("metric")["mean"]
    xn, an, y = x.numpy(), maps.numpy()[:, None], np.full(5, 2)
    common = dict(model=model, x_batch=xn, y_batch=y, a_batch=an, device="cpu", softmax=False, batch_size=5)

    def direct(metric, **kwargs):
        with isolated_rng(5):
            return metric(**common, **kwargs)

    fc = direct(
        quantus.FaithfulnessCorrelation(
            nr_runs=10, subset_size=16, normalise=False, return_aggregate=False, disable_warnings=True
        )
    )
    rp = direct(quantus.RegionPerturbation(patch_size=4, regions_evaluation=6, normalise=False, disable_warnings=True))
    mprt = direct(
        quantus.MPRT(skip_layers=True, return_last_correlation=True, normalise=False, abs=False, disable_warnings=True),
        explain_func=lambda model, inputs, targets, **_: gradient_times_input(model, torch.as_tensor(inputs))[
            :, None
        ].numpy(),
    )
    road = []
    for i in range(5):
        with isolated_rng(5):
            curve = quantus.ROAD(percentages=[20, 50, 80], normalise=False, disable_warnings=True)(
                **{**common, "x_batch": xn[i : i + 1], "y_batch": y[:1], "a_batch": an[i : i + 1], "batch_size": 1}
            )
        road.append(np.mean(list(curve.values())))
    assert ours["faithfulness-correlation"] == pytest.approx(
        np.mean(np.asarray(fc, dtype=np.float64)), rel=1e-6, abs=1e-9
    )
    assert ours["region-perturbation"] == pytest.approx(np.mean(np.asarray(rp, dtype=np.float64)), rel=1e-6, abs=1e-9)
    assert ours["mprt"] == pytest.approx(np.mean(np.asarray(mprt, dtype=np.float64)), rel=1e-6, abs=1e-9)
    assert ours["road"] == pytest.approx(np.mean(np.asarray(road, dtype=np.float64)), rel=1e-6, abs=1e-9)


def test_wrappers_read_the_signed_output():
    model, x = linear_model(), spots(3)
    raw = model(x).detach()
    assert torch.allclose(ExplainedScalar(model, None, -1)(x), -raw)
    threshold = float(raw.mean())
    logits = StillHolds(ExplainedScalar(model, None, 1), threshold).eval()(x)
    assert logits.shape == (3, 2) and torch.allclose(logits[:, 0], raw[:, 0] - threshold)
    holds = [int(v < threshold) for v in raw[:, 0]]  # class 0 = still above the threshold
    assert logits.argmax(1).tolist() == holds and 0 < sum(holds) < 3


def test_no_global_reseeding():
    model, x = linear_model(), spots(2)
    maps = {"follows": follows_model(model, x)}
    np.random.seed(11)
    torch.manual_seed(11)
    expect_np, expect_torch = np.random.rand(), torch.rand(1)
    np.random.seed(11)
    torch.manual_seed(11)
    evaluate_maps(model, x, maps, {"follows": follows_model}, config=CONFIG)
    randomised_copy(model, seed=4)
    assert np.random.rand() == expect_np and torch.equal(torch.rand(1), expect_torch)


def test_per_image_targets_score_each_image_on_its_own_output():
    """Targets [0, 1, 2, 0, 1] (e.g. each image's top class): every image scores what it scores alone with
    its target as the one target (metrics whose per-image score does not depend on the other images)."""
    torch.manual_seed(0)
    model = TinyClassifier().eval()
    x = torch.rand(5, 1, H, H, generator=torch.Generator().manual_seed(2))
    targets = [0, 1, 2, 0, 1]
    maps = torch.cat([gradient_times_input(model, x[i : i + 1], t) for i, t in enumerate(targets)])
    metrics = ("insertion-minus-deletion", "region-perturbation", "road", "mprt")
    config = EvaluationConfig(patch_size=4, regions=6, runs=10, road_percentages=(20, 50, 80), seed=5, metrics=metrics)
    kwargs = dict(task="classification", config=config)
    explain = {"gxi": gradient_times_input}
    together = evaluate_maps(model, x, {"gxi": maps}, explain, target=targets, **kwargs).set_index("metric")
    alone = [
        evaluate_maps(model, x[i : i + 1], {"gxi": maps[i : i + 1]}, explain, target=t, **kwargs).set_index("metric")
        for i, t in enumerate(targets)
    ]
    for metric in metrics:
        expected = np.mean([a.loc[metric, "mean"] for a in alone])
        assert together.loc[metric, "mean"] == pytest.approx(expected, rel=1e-5, abs=1e-7), metric
    # a wrong target changes the answer: the scores are those of each image's own output
    shifted = evaluate_maps(model, x, {"gxi": maps}, explain, target=[(t + 1) % 3 for t in targets], **kwargs)
    assert shifted.set_index("metric").loc["insertion-minus-deletion", "mean"] != pytest.approx(
        together.loc["insertion-minus-deletion", "mean"], rel=1e-3
    )
