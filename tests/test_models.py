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
    loaded, meta = load_model(tmp_path)
    x = torch.rand(1, 3, 64, 64)
    assert meta["num_outputs"] == 5
    torch.testing.assert_close(loaded(x), model(x))


def test_torchvision_state_dict_loads_without_head(tmp_path):
    source = build_model("resnet18", "classification", 10)
    torch.save(source.backbone.state_dict(), tmp_path / "tv.pth")
    target = build_model("resnet18", "regression", 1, weights=tmp_path / "tv.pth")
    torch.testing.assert_close(target.backbone.conv1.weight, source.backbone.conv1.weight)


def test_unknown_architecture_is_a_user_error():
    with pytest.raises(ConfigError, match="resnet18"):
        build_model("vgg99", "regression")
