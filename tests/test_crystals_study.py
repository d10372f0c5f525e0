"""Uncertainty, SOAP, the robustness table, the polycrystal map and the CLI of the crystal study (tiny sizes)."""

import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

from matsight.crystals.config import MapConfig, RobustnessConfig, TrainConfig, parse_grain
from matsight.crystals.descriptors import descriptor as make_descriptor
from matsight.crystals.geometry import random_rotation, rotate, supercell
from matsight.crystals.library import CLASS_NAMES, build
from matsight.crystals.polycrystal import polycrystal
from matsight.crystals.soap import SoapTransformer
from matsight.crystals.train import classifier_spec, load_classifier
from matsight.crystals.uncertainty import (
    Predictions,
    expected_calibration_error,
    mc_dropout_probabilities,
    mutual_information,
    predictive_entropy,
)
from matsight.errors import ConfigError
from matsight.models import ModelSpec, read_spec, save_checkpoint
from matsight.models.crystal import CrystalConvNet, SoapMLP

torch.set_num_threads(1)


def cell(name, *elements):
    return build(CLASS_NAMES.index(name), elements)


@pytest.fixture(scope="module")
def soap():
    return SoapTransformer()


def test_entropy_mutual_information_and_ece_known_answers():
    agree = torch.tensor([[0.7, 0.2, 0.1]]).repeat(5, 1)[:, None]  # [S=5, N=1, C=3], identical members
    assert float(mutual_information(agree)[0]) == pytest.approx(0, abs=1e-7)
    assert float(predictive_entropy(agree)[0]) == pytest.approx(
        -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    )
    disagree = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # two confident members that disagree
    assert float(mutual_information(disagree)[0]) == pytest.approx(math.log(2))
    confidence = np.full(10, 0.9)
    assert expected_calibration_error(confidence, np.arange(10) < 9) == pytest.approx(0.0)
    assert expected_calibration_error(confidence, np.arange(10) < 5) == pytest.approx(0.4)
    two_bins = np.array([0.95, 0.95, 0.55, 0.55])
    assert expected_calibration_error(two_bins, np.array([1, 1, 1, 0], bool)) == pytest.approx(0.5 * 0.05 + 0.5 * 0.05)
    p = Predictions.from_samples(disagree)
    assert p.summary(np.array([0]))["mutual_information"] == pytest.approx(math.log(2))


def test_mc_dropout_samples_vary_and_the_deterministic_pass_does_not():
    torch.manual_seed(0)
    model = SoapMLP(8, 4, hidden=(16,), dropout=0.5)
    x = torch.randn(6, 8)
    samples = mc_dropout_probabilities(model, x, samples=20, seed=1)
    assert samples.shape == (20, 6, 4) and torch.allclose(samples.sum(-1), torch.ones(20, 6))
    assert float(mutual_information(samples).mean()) > 1e-4
    assert torch.equal(samples, mc_dropout_probabilities(model, x, samples=20, seed=1))  # seeded
    single = mc_dropout_probabilities(model, x, samples=1)
    assert torch.allclose(single[0], model.eval()(x).softmax(-1))
    assert not model.classifier[2].training  # dropout switched off again


def test_soap_is_invariant_to_rotation_scale_and_element_choice_but_not_to_species_order(soap):
    nacl, kbr = supercell(cell("B1_rocksalt", "Na", "Cl")), supercell(cell("B1_rocksalt", "K", "Br"))
    sc = nacl.copy()
    sc.numbers = np.full(len(sc), 11)
    turned = rotate(nacl, random_rotation(np.random.default_rng(0), 40))
    bigger = nacl.copy()
    bigger.set_cell(nacl.cell[:] * 1.07, scale_atoms=True)
    x = soap.transform([nacl, kbr, turned, bigger, sc])
    assert x.shape == (5, soap.n_features)

    def rel(a, b):
        return float(np.linalg.norm(x[a] - x[b]) / np.linalg.norm(x[a]))

    assert rel(0, 1) < 1e-5 and rel(0, 3) < 1e-5  # chemistry- and scale-agnostic
    assert rel(0, 2) < 1e-3  # rotation
    assert rel(0, 4) > 0.1  # one species on the same sites is another structure
    with pytest.raises(ConfigError, match="max_species"):
        soap.transform([supercell(cell("E21_perovskite", "Sr", "Ti", "O"))[:20] + cell("A1_fcc", "Au")])


def test_soap_classifier_checkpoint_roundtrip(tmp_path):
    model = SoapMLP(12, len(CLASS_NAMES), hidden=(8, 6), dropout=0.3)
    model.set_standardisation(torch.randn(40, 12) * 3 + 1)
    save_checkpoint(tmp_path / "checkpoint.pt", model, classifier_spec(model, "soap"))
    loaded, spec = load_classifier(tmp_path, name="soap")
    x = torch.randn(5, 12)
    assert spec.descriptor == "soap" and spec.arch == "soap_mlp"
    assert spec.arch_parameters == {"n_features": 12, "hidden": (8, 6), "dropout": 0.3}
    assert torch.allclose(loaded(x), model.eval()(x))
    assert torch.allclose(loaded.features(x).mean(), ((x - model.mean) / model.std).mean())
    assert ModelSpec.from_json(spec.to_json()) == spec and hash(spec) == hash(read_spec(tmp_path))
    with pytest.raises(ConfigError, match="crystal_convnet"):
        load_classifier(tmp_path, name="fingerprint")


def test_convnet_reads_the_square_root_and_its_checkpoint_keeps_the_input_power(tmp_path):
    """input_power 0.5 = the same weights on sqrt(x); the power travels in the spec's arch_params; a spec
    without it (checkpoints written before it existed) reads the fingerprint as it is."""
    model = make_descriptor("fingerprint").model(len(CLASS_NAMES)).eval()
    plain = CrystalConvNet(len(CLASS_NAMES)).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 64, 64) ** 4
    assert model.input_power == 0.5 and plain.input_power == 1.0
    assert torch.allclose(model(x), plain(x.clamp_min(1e-6).sqrt()), atol=1e-5)
    x.requires_grad_(True)
    model(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    save_checkpoint(tmp_path / "checkpoint.pt", model, classifier_spec(model, "fingerprint"))
    loaded, spec = load_classifier(tmp_path, name="fingerprint")
    assert spec.arch_parameters == {"input_power": 0.5} and loaded.input_power == 0.5
    from matsight.models import build_model

    assert build_model("crystal_convnet", "classification", 3).input_power == 1.0
    with pytest.raises(ConfigError, match="input_power"):
        build_model("crystal_convnet", "classification", 3, params={"input_power": 0.0})
    with pytest.raises(ConfigError, match="input_power"):
        build_model("crystal_convnet", "classification", 3, params={"power": 0.5})


def test_model_spec_arch_params_are_validated():
    base = {"arch": "soap_mlp", "task": "classification", "num_outputs": 3, "descriptor": "soap"}
    with pytest.raises(ConfigError, match="'dropout'"):
        ModelSpec(**base, arch_params={"n_features": 4, "dropout": float("nan")})
    with pytest.raises(ConfigError, match="'hidden'"):
        ModelSpec(**base, arch_params={"n_features": 4, "hidden": [8, "x"]})
    with pytest.raises(ConfigError, match="arch_params"):
        ModelSpec(**base, arch_params=3)
    with pytest.raises(ConfigError, match="descriptor"):
        ModelSpec(**{**base, "descriptor": ""})
    from matsight.models import build_model

    with pytest.raises(ConfigError, match="n_features"):
        build_model("soap_mlp", "classification", 3, params={"hidden": (8,)})
    with pytest.raises(ConfigError, match="dropout"):
        build_model("soap_mlp", "classification", 3, params={"n_features": 4, "dropout": 1.5})


def constant_classifier(model: nn.Module, cls: int) -> nn.Module:
    """Zero the head's weights and put all bias on ``cls``: always ``cls``, dropout or not."""
    head = model.classifier[-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-5.0)
        head.bias[cls] = 5.0
    return model


def test_robustness_table_known_answers(tmp_path):
    from matsight.crystals.robustness import robustness_table, run_robustness
    from matsight.store import RunFolder

    classes = tuple(CLASS_NAMES.index(c) for c in ("A1_fcc", "B1_rocksalt", "C1_fluorite"))
    convnet = constant_classifier(CrystalConvNet(len(CLASS_NAMES)), classes[0])
    save_checkpoint(tmp_path / "convnet" / "checkpoint.pt", convnet, classifier_spec(convnet, "fingerprint"))
    mlp = constant_classifier(SoapMLP(SoapTransformer().n_features, len(CLASS_NAMES)), classes[1])
    save_checkpoint(tmp_path / "soap" / "checkpoint.pt", mlp, classifier_spec(mlp, "soap"))
    config = RobustnessConfig(
        convnet=tmp_path / "convnet",
        soap=tmp_path / "soap",
        out=tmp_path / "out",
        classes=classes,
        displacements=(0.02,),
        vacancies=(0.25,),
        combined=((0.02, 0.1),),
        strains=(0.05,),
        rotations=(30.0,),
        mc_samples=3,
        spglib_per_class=1,
    )
    table = run_robustness(config).read_table("robustness")
    assert (tmp_path / "out" / "figures" / "robustness.png").exists()
    assert table["axis"].unique().tolist() == [
        "held-out elements",
        "displacement",
        "vacancies",
        "displacement+vacancies",
        "strain",
        "rotation",
    ]
    acc = table.pivot_table(index="axis", columns="method", values="accuracy", sort=False)
    assert np.allclose(acc["convnet"], 100 / 3) and np.allclose(acc["soap_mlp"], 100 / 3)
    assert acc.loc["held-out elements", ["spglib_tight", "spglib_medium", "spglib_loose"]].tolist() == [100] * 3
    assert acc.loc["vacancies", "spglib_tight"] == 0 and acc.loc["rotation", "spglib_tight"] == 100
    learned = table[table["method"].isin(["convnet", "soap_mlp"])]
    assert np.allclose(learned["mutual_information"], 0, atol=1e-6)  # zero weights: dropout changes nothing
    assert (learned["ece"] > 0.5).all()  # confident (p ≈ 0.9999) and right one time in three
    assert ((table["ci_low"] <= table["accuracy"]) & (table["accuracy"] <= table["ci_high"])).all()
    rerun = robustness_table(config, RunFolder(config.out))  # levels come from the cache
    assert rerun.equals(table)
    other = constant_classifier(mlp, CLASS_NAMES.index("A2_bcc"))  # a class none of the structures has
    save_checkpoint(tmp_path / "soap" / "checkpoint.pt", other, classifier_spec(other, "soap"))
    retrained = robustness_table(config, RunFolder(config.out))  # another model: the cached levels are stale
    assert (retrained.loc[retrained["method"] == "soap_mlp", "accuracy"] == 0).all()
    assert retrained[retrained["method"] != "soap_mlp"].equals(table[table["method"] != "soap_mlp"])


class CentroidModel(nn.Module):
    """Toy distance-aware classifier: logit −|x − μ_k|² / τ for the two grain classes (τ = |μ_a − μ_b|² / 16),
    −6 for every other class. On a grain's own spectrum it is confident (p ≈ 0.88); far from both
    spectra the probability spreads over all classes (entropy → ln 52)."""

    def __init__(self, centroids: np.ndarray, classes: tuple[int, int]):
        super().__init__()
        self.register_buffer("centroids", torch.from_numpy(centroids))
        self.tau = float(((centroids[0] - centroids[1]) ** 2).sum()) / 16
        self.classes = list(classes)
        self.classifier = nn.Identity()

    def features(self, x):
        logits = torch.full((len(x), len(CLASS_NAMES)), -6.0)
        logits[:, self.classes] = -(torch.cdist(x, self.centroids) ** 2) / self.tau
        return logits


def test_bicrystal_boundary_windows_are_the_uncertain_ones(soap):
    grains = (("A1_fcc", ("Ni",), 0.25, 0.5, 0.0), ("A2_bcc", ("Ni",), 0.75, 0.5, 0.0))
    crystal = polycrystal(grains, size=(24.0, 9.0, 9.0))  # boundary at x = 12 bonds
    assert set(np.unique(crystal.grain)) == {0, 1}
    x = np.arange(4.5, 19.6, 1.5) * crystal.bond
    centres = np.stack([x, np.full_like(x, crystal.box[1] / 2), np.full_like(x, crystal.box[2] / 2)], axis=1)
    windows = soap.transform_windows(crystal.atoms, centres, 1.0 * crystal.bond)
    pure = soap.transform([supercell(cell("A1_fcc", "Ni")), supercell(cell("A2_bcc", "Ni"))])
    model = CentroidModel(pure, (CLASS_NAMES.index("A1_fcc"), CLASS_NAMES.index("A2_bcc")))
    p = Predictions.from_samples(mc_dropout_probabilities(model, torch.from_numpy(windows), samples=1))
    distance = crystal.boundary_distance(centres[:, :2]) / crystal.bond
    truth = crystal.labels[crystal.grain_at(centres[:, :2])]
    interior = distance > 4  # beyond the windows' reach: 1 bond of centres + the 3-bond SOAP cutoff
    assert interior.sum() >= 4 and (distance < 1).sum() >= 1
    assert (p.predicted == truth)[interior].all()
    assert p.entropy[distance < 1].min() > p.entropy[interior].max()


def test_configs_name_the_option_at_fault(tmp_path):
    with pytest.raises(ConfigError, match="--descriptor"):
        TrainConfig(data=tmp_path, out=tmp_path, descriptor="xrd")
    with pytest.raises(ConfigError, match="--per-class"):
        RobustnessConfig(convnet=tmp_path, soap=tmp_path, out=tmp_path, per_class=0)
    with pytest.raises(ConfigError, match="--grain"):
        MapConfig(convnet=tmp_path, soap=tmp_path, out=tmp_path, grains=(parse_grain("A1_fcc:Ni-Cu:0.2:0.5"),) * 2)
    with pytest.raises(ConfigError, match="--grain"):
        parse_grain("A1_fcc:Ni")
    assert parse_grain("B1_rocksalt:Na-Cl:0.2:0.4:15") == ("B1_rocksalt", ("Na", "Cl"), 0.2, 0.4, 15.0)


def matsight(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``matsight`` console entry point in-process: ``(exit status, stdout, stderr)``."""
    from matsight.cli.main import main

    monkeypatch.setattr(sys, "argv", ["matsight", *args])
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code or 0
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_build_train_and_clear_errors(tmp_path, monkeypatch, capsys):
    data, run = tmp_path / "data", tmp_path / "run"
    status, _, err = matsight(monkeypatch, capsys, "crystals", "build", str(data), "--n", "3", "--device", "cpu")
    assert status == 0, err
    rows = (data / "labels.csv").read_text().splitlines()[1:]
    assert rows == [f"s{i:05d}.extxyz,{CLASS_NAMES[i]}" for i in range(3)]
    assert np.load(data / "fingerprints.npy").shape == (3, 3, 64, 64) and len(np.load(data / "soap.npy")) == 3
    for descriptor in ("soap", "fingerprint"):
        args = ["crystals", "train", str(data), "--out", str(run / descriptor), "--descriptor", descriptor]
        status, out, err = matsight(monkeypatch, capsys, *args, "--epochs", "1", "--device", "cpu")
        assert status == 0, err
        assert "validation accuracy" in out and (run / descriptor / "checkpoint.pt").exists()
    fresh = str(tmp_path / "fresh")
    status, _, err = matsight(monkeypatch, capsys, "crystals", "train", str(tmp_path / "nowhere"), "--out", fresh)
    assert status == 2 and "labels.csv" in err and "Traceback" not in err
    status, _, err = matsight(
        monkeypatch, capsys, "crystals", "train", str(data), "--out", fresh, "--descriptor", "xrd"
    )
    assert status == 2 and "--descriptor" in err and "Traceback" not in err


def test_descriptor_cache_is_keyed_by_content_not_by_row_count(tmp_path, monkeypatch, soap):
    from ase.io import read, write

    from matsight.crystals.dataset import read_structures
    from matsight.crystals.fingerprint import FingerprintTransformer
    from matsight.crystals.train import build, load_descriptors

    data = build(tmp_path / "data", n=2, seed=5)
    cached = np.load(data / "fingerprints.npy")
    with monkeypatch.context() as patch:  # a valid cache is read, not recomputed
        patch.setattr(FingerprintTransformer, "transform", lambda *a: pytest.fail("recomputed a valid cache"))
        assert torch.equal(load_descriptors(data, "fingerprint").inputs, torch.from_numpy(cached))
    edited = data / "structures" / "s00001.extxyz"  # the same number of rows, another structure
    write(edited, read(data / "structures" / "s00000.extxyz"), format="extxyz")
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    fresh = load_descriptors(data, "fingerprint").inputs
    structures, _, _ = read_structures(data)
    assert torch.allclose(fresh, FingerprintTransformer().transform(structures), atol=1e-6)
    assert torch.equal(fresh[0], torch.from_numpy(cached[0])) and not torch.allclose(
        fresh[1], torch.from_numpy(cached[1])
    )
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before  # the data folder is only read
    (data / "soap.npy").write_bytes(b"\x93NUMPY damaged")
    assert load_descriptors(data, "soap").inputs.shape == np.load(data / "fingerprints.npy").shape[:1] + (
        soap.n_features,
    )


def test_explain_draws_one_figure_per_class_and_finishes(tmp_path):
    from matsight.crystals.config import ExplainConfig
    from matsight.crystals.explain import run_explain

    torch.manual_seed(0)
    convnet = CrystalConvNet(len(CLASS_NAMES))
    save_checkpoint(tmp_path / "convnet" / "checkpoint.pt", convnet, classifier_spec(convnet, "fingerprint"))
    run = run_explain(ExplainConfig(out=tmp_path / "out", run=tmp_path / "convnet", classes=("B1_rocksalt",), top_n=2))
    assert [p.name for p in (run.path / "figures").iterdir()] == ["explain_B1_rocksalt.png"]
    assert run.read_manifest()["status"] == "finished"
