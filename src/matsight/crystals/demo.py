"""Demo step: prototype library → ConvNet and SOAP MLP → robustness with uncertainty → polycrystal
map → response/CLEAR maps. The CPU preset (≈ 1 min on 2 cores) uses 12 prototypes and few
structures; ``--full`` (GPU) the whole library at the sizes of docs/crystals.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matsight.crystals.config import ExplainConfig, MapConfig, RobustnessConfig, TrainConfig
from matsight.crystals.dataset import DescriptorDataset
from matsight.crystals.descriptors import descriptor
from matsight.crystals.explain import run_explain
from matsight.crystals.library import CLASS_NAMES, library_set
from matsight.crystals.polycrystal import run_map
from matsight.crystals.robustness import METHOD_LABELS, run_robustness
from matsight.crystals.train import train_classifier

DEMO_CLASSES = (
    "A1_fcc",
    "A2_bcc",
    "A3_hcp",
    "A4_diamond",
    "B1_rocksalt",
    "B2_CsCl",
    "B3_zincblende",
    "B4_wurtzite",
    "C1_fluorite",
    "E21_perovskite",
    "L21_Heusler",
    "2D_graphene",
)


@dataclass(frozen=True)
class DemoPreset:
    """Sizes of one demo preset (``classes=None``: the whole library)."""

    classes: tuple[str, ...] | None
    per_class: int
    convnet_epochs: int | None  # None: the library's default (DEFAULT_EPOCHS)
    batch_size: int | None  # None: each classifier's default (DEFAULT_BATCH_SIZE)
    robustness: dict
    map_stride: float
    explained: tuple[str, ...]


CPU = DemoPreset(
    classes=DEMO_CLASSES,
    per_class=6,
    convnet_epochs=12,
    batch_size=8,
    robustness={
        "per_class": 1,
        "displacements": (0.02, 0.10),
        "vacancies": (0.20, 0.50),
        "combined": ((0.05, 0.20),),
        "strains": (0.05,),
        "rotations": (30.0,),
        "mc_samples": 20,
        "spglib_per_class": 1,
    },
    map_stride=1.5,
    explained=("A1_fcc", "B1_rocksalt"),
)
FULL = DemoPreset(
    classes=None,
    per_class=20,
    convnet_epochs=None,
    batch_size=None,
    robustness={"per_class": 3},
    map_stride=0.5,
    explained=("A1_fcc", "B1_rocksalt", "E21_perovskite", "2D_graphene"),
)


def run_demo(ctx) -> None:
    """Train both classifiers on pristine library structures, then robustness, map and explanations."""
    preset = FULL if ctx.full else CPU
    classes = [CLASS_NAMES.index(c) for c in preset.classes] if preset.classes else list(range(len(CLASS_NAMES)))
    sample = library_set(preset.per_class * len(classes), seed=ctx.seed, split="train", classes=classes)
    runs: dict[str, Path] = {}
    for name, epochs in (("fingerprint", preset.convnet_epochs), ("soap", None)):
        inputs = descriptor(name, ctx.device).transform(sample.structures)
        out = ctx.root / f"crystal-{name}"
        config = TrainConfig(
            data=None,
            out=out,
            descriptor=name,
            epochs=epochs,
            batch_size=preset.batch_size,
            seed=ctx.seed,
            device=ctx.device,
        )
        metrics = train_classifier(DescriptorDataset(inputs, sample.labels), config).read_json("metrics.json")
        ctx.console.print(f"crystals: {name} classifier, validation accuracy {100 * metrics['val_accuracy']:.0f} %")
        runs[name] = out
    robustness = run_robustness(
        RobustnessConfig(
            convnet=runs["fingerprint"],
            soap=runs["soap"],
            out=ctx.root / "crystal-robustness",
            classes=tuple(classes) if preset.classes else None,
            seed=ctx.seed + 1000,
            device=ctx.device,
            **preset.robustness,
        )
    )
    table = robustness.read_table("robustness")
    crystal_map = run_map(
        MapConfig(
            convnet=runs["fingerprint"],
            soap=runs["soap"],
            out=ctx.root / "crystal-map",
            stride=preset.map_stride,
            mc_samples=preset.robustness.get("mc_samples", 30),
            seed=ctx.seed,
            device=ctx.device,
        )
    )
    explain = run_explain(
        ExplainConfig(
            run=runs["fingerprint"],
            out=ctx.root / "crystal-explain",
            classes=preset.explained,
            seed=ctx.seed,
            device=ctx.device,
        )
    )
    ctx.report_runs += [*runs.values(), robustness.path, crystal_map.path, explain.path]
    held_out = table[table["axis"] == "held-out elements"].set_index("method")
    n = int(held_out.loc["convnet", "n"])
    agreement = ", ".join(
        f"{METHOD_LABELS[m]} {held_out.loc[m, 'accuracy']:.0f} %" for m in ("convnet", "soap_mlp", "spglib_medium")
    )
    windows = crystal_map.read_table("windows")
    interior = windows[windows["boundary_distance"] >= 2]
    in_grains = ", ".join(
        f"{METHOD_LABELS[m]} {100 * (interior[f'{m}_predicted'] == interior['grain_class']).mean():.0f} %"
        for m in ("convnet", "soap_mlp")
    )
    ctx.console.print(
        f"crystals: agreement with the planted prototype classes on {n} held-out-element structures "
        f"({len(classes)} prototypes): {agreement}; polycrystal windows ≥ 2 bonds inside a grain "
        f"({len(interior)}): {in_grains}"
    )
    ctx.headlines.append((f"Crystal classes recovered, held-out elements ({len(classes)} prototypes)", agreement))
    worst = table[table["axis"] != "held-out elements"].groupby("method")["accuracy"].min()
    ctx.headlines.append(
        (
            "Crystal classifiers, worst defective level",
            f"ConvNet {worst['convnet']:.0f} %, SOAP MLP {worst['soap_mlp']:.0f} %",
        )
    )
