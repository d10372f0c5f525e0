import numpy as np
import pytest
import torch

from matsight.errors import ConfigError
from matsight.models import CrystalConvNet, build_model, keras_parameter_count, load_model, save_checkpoint


def test_crystal_convnet_has_the_papers_parameter_count():
    assert keras_parameter_count(CrystalConvNet()) == 365_719


def test_crystal_convnet_shapes():
    model = CrystalConvNet().eval()
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 7)
    assert list(model.stages) == ["Z1", "Z2", "Z3"]


@pytest.mark.parametrize("arch,first_channels", [("resnet18", 64), ("densenet121", 64)])
def test_stages_are_named_and_ordered(arch, first_channels):
    model = build_model(arch, "regression", 1).eval()
    seen = {}
    handles = [
        m.register_forward_hook(lambda mod, i, o, z=z: seen.__setitem__(z, o.shape)) for z, m in model.stages.items()
    ]
    out = model(torch.rand(2, 1, 64, 64))  # grey input is repeated to RGB inside the model
    for h in handles:
        h.remove()
    assert out.shape == (2, 1)
    assert list(seen) == ["Z1", "Z2", "Z3", "Z4", "Z5"]
    assert seen["Z1"][1] == first_channels and seen["Z1"][-1] == 16
    assert seen["Z5"][-1] == 2


def test_checkpoint_round_trip(tmp_path):
    model = build_model("resnet18", "multilabel", 5).eval()
    save_checkpoint(tmp_path / "checkpoint.pt", model, {"arch": "resnet18", "task": "multilabel", "num_outputs": 5})
    loaded, spec = load_model(tmp_path)
    x = torch.rand(1, 3, 64, 64)
    assert spec.num_outputs == 5 and spec.task == "multilabel"
    torch.testing.assert_close(loaded(x), model(x))


def test_torchvision_state_dict_loads_without_head(tmp_path):
    source = build_model("resnet18", "classification", 10)
    torch.save(source.backbone.state_dict(), tmp_path / "tv.pth")
    target = build_model("resnet18", "regression", 1, weights=tmp_path / "tv.pth")
    torch.testing.assert_close(target.backbone.conv1.weight, source.backbone.conv1.weight)


def test_unknown_architecture_is_a_user_error():
    with pytest.raises(ConfigError, match="resnet18"):
        build_model("vgg99", "regression")


# -- the model contract -----------------------------------------------------------------------------


def _spec(**kw):
    from matsight.models import ModelSpec

    base = dict(arch="resnet18", task="regression", num_outputs=1, target_names=["yield_mpa"], image_size=40)
    return ModelSpec(**{**base, **kw})


def test_model_spec_round_trips_through_json_and_fills_defaults():
    from matsight.data.intensity import Intensity
    from matsight.models import ModelSpec

    spec = _spec(
        target_units=["MPa"],
        attribute_names=["porosity", "blobiness"],
        crop_size=36,
        intensity=Intensity(float_range=(0.5, 3.0), depths_seen=(12, 8)),
        target_mean=[300.0],
        target_std=[40.0],
        layout="lots",
    )
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec and hash(again) == hash(spec)
    assert again.intensity.depths_seen == (8, 12) and again.target == "yield_mpa" and again.unit() == "MPa"
    bare = _spec()
    assert bare.crop_size == 40 and bare.target_mean == (0.0,) and bare.target_std == (1.0,)
    assert bare.to_user_units(np.array([[1.0]]))[0, 0] == 1.0
    assert spec.to_user_units(np.array([[0.5]]))[0, 0] == pytest.approx(320.0)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(task="ranking"), "task 'ranking'"),
        (dict(num_outputs=0), "num_outputs"),
        (dict(crop_size=41), "crop_size"),
        (dict(channels=2), "channels"),
        (dict(target_std=[0.0]), "target_std"),
        (dict(target_mean=[1.0, 2.0]), "target_mean"),
        (dict(target_names=["a", "b"]), "2 target names for 1 outputs"),
        (dict(layout="folders"), "layout 'folders'"),
    ],
)
def test_model_spec_rejects_inconsistent_values(change, message):
    with pytest.raises(ConfigError, match=message):
        _spec(**change)


def test_model_spec_from_dict_rejects_unknown_keys():
    from matsight.models import ModelSpec

    with pytest.raises(ConfigError, match="unknown keys colour"):
        ModelSpec.from_dict({"arch": "resnet18", "task": "regression", "num_outputs": 1, "colour": "red"})


def test_prepare_is_the_datasets_view_and_differentiable(tmp_path):
    """The batch preprocessing (knobs, the app) equals what the datasets feed the model."""
    from PIL import Image

    from matsight.data import ImageTable

    pixels = (np.random.default_rng(0).random((50, 70)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    table = ImageTable(tmp_path, [tmp_path / "a.png"], np.zeros((1, 1), np.float32), ["x"], ["y"], "regression")
    spec = _spec(crop_size=36)
    from_dataset = spec.dataset(table)[0][0]
    x = torch.from_numpy(pixels / np.float32(255))[None, None].requires_grad_(True)
    prepared = spec.prepare(x)
    assert prepared.shape == (1, 1, 36, 36)
    torch.testing.assert_close(prepared[0], from_dataset, atol=1e-6, rtol=0)
    prepared.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert _spec(channels=3).prepare(torch.rand(2, 1, 50, 50)).shape == (2, 3, 40, 40)


# -- safe checkpoints ----------------------------------------------------------------------------------


class _CreatesAFile:
    """Unpickling this would create ``path``: what a hostile run folder could carry."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _exit_code(argv, capsys):
    import sys
    from unittest.mock import patch

    from matsight.cli.main import main

    with patch.object(sys, "argv", ["matsight", *argv]), pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


def _images(folder):
    from PIL import Image

    folder.mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(folder / "a.png")
    return folder


@pytest.mark.parametrize("container", ["zip", "plain pickle"])
def test_a_crafted_checkpoint_is_refused_and_runs_no_code(tmp_path, capsys, container):
    import pickle

    planted = tmp_path / "planted"
    run = tmp_path / "run"
    run.mkdir()
    payload = {"format": "matsight-checkpoint-2", "spec": "{}", "model": _CreatesAFile(planted)}
    if container == "zip":
        torch.save(payload, run / "checkpoint.pt")
    else:
        (run / "checkpoint.pt").write_bytes(pickle.dumps(payload))
    code, err = _exit_code(["predict", str(run), str(_images(tmp_path / "new"))], capsys)
    assert code == 2 and "Traceback" not in err and "never code" in err and str(run / "checkpoint.pt") in err
    assert len(err.strip().splitlines()) == 1
    assert not planted.exists()


def test_truncated_and_old_checkpoints_are_one_line_errors(tmp_path, capsys):
    from matsight.models import save_checkpoint

    images = _images(tmp_path / "new")
    good = tmp_path / "good"
    save_checkpoint(good / "checkpoint.pt", build_model("resnet18", "regression", 1), _spec())
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "checkpoint.pt").write_bytes((good / "checkpoint.pt").read_bytes()[:5000])
    code, err = _exit_code(["predict", str(cut), str(images)], capsys)
    assert code == 2 and "truncated or corrupt" in err and len(err.strip().splitlines()) == 1

    old = tmp_path / "old"
    old.mkdir()
    meta = {"arch": "resnet18", "task": "regression", "num_outputs": 1, "image_size": 40}
    torch.save({"format": "matsight-checkpoint-1", "model": {}, "meta": meta}, old / "checkpoint.pt")
    code, err = _exit_code(["predict", str(old), str(images)], capsys)
    assert code == 2 and "retrain or convert" in err and "Traceback" not in err


def test_no_torch_load_without_weights_only_in_the_package():
    from pathlib import Path

    import matsight

    offenders = [
        str(p)
        for p in Path(matsight.__file__).parent.rglob("*.py")
        if "weights_only=False" in p.read_text() or "pickle.load" in p.read_text()
    ]
    assert offenders == []


def test_crystal_convnet_starts_input_sensitive_unlike_torch_default_init():
    """He initialisation: random-weight last-stage features of different sparse peak images differ by
    tens of %; PyTorch's default init (reset_parameters) washes the input out to < 1 % (biases dominate)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(4, 3, 64, 64, generator=g) > 0.98).float() * torch.rand(4, 3, 64, 64, generator=g)

    def spread(model):
        with torch.no_grad():
            f = model.eval().features(x).flatten(1)
        return float((f - f.mean(0)).norm(dim=1).mean() / f.mean(0).norm())

    model = CrystalConvNet(54)
    assert all(
        float(m.bias.abs().max()) == 0 for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    )
    he = spread(model)
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.reset_parameters()
    assert he > 0.1 > 0.02 > spread(model)
