"""The validated configs of the ``matsight crystals`` workflows (frozen; light imports, so the CLI
reads its defaults here). Each ``__post_init__`` raises :class:`ConfigError` naming the CLI option.

``train``, ``robustness``, ``map`` and ``explain`` are workflows (:class:`matsight.workflow.WorkflowConfig`
subclasses, run with ``run_*(config) -> RunFolder``); ``build`` writes a dataset, not a run folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from matsight import options
from matsight.errors import ConfigError
from matsight.workflow import WorkflowConfig

DESCRIPTOR_NAMES = ("fingerprint", "soap")
DEFAULT_EPOCHS = {"fingerprint": 12, "soap": 60}
DEFAULT_BATCH_SIZE = {"fingerprint": 8, "soap": 32}
# the learning-rate schedule of each classifier (matsight.training.FitConfig.schedule)
SCHEDULE = {"fingerprint": "cosine", "soap": "exponential"}
PER_CLASS = 20
SPLITS = ("train", "test", "any")
# one elemental, binary, ternary and 2-D prototype
EXPLAINED_CLASSES = ("A1_fcc", "B1_rocksalt", "E21_perovskite", "2D_graphene")
# columnar grains: (prototype, elements, seed x, seed y as fractions of the box, rotation about z in degrees)
Grain = tuple[str, tuple[str, ...], float, float, float]
DEFAULT_GRAINS: tuple[Grain, ...] = (("A1_fcc", ("Ni",), 0.25, 0.5, 0.0), ("A2_bcc", ("Cr",), 0.75, 0.5, 0.0))
DEFAULT_SIZE = (30.0, 15.0, 9.5)  # box of the polycrystal in nearest-neighbour distances


def check(condition: bool, option: str, message: str) -> None:
    """Raise :class:`ConfigError` ``"<option> <message>"`` unless ``condition``."""
    if not condition:
        raise ConfigError(f"{option} {message}")


def _class_names() -> list[str]:
    from matsight.crystals.library import CLASS_NAMES

    return CLASS_NAMES


@dataclass(frozen=True)
class BuildConfig:
    """``matsight crystals build``: ``n`` pristine library structures (``None``: :data:`PER_CLASS`
    per class), elements of ``split``, random rotation up to ``max_rotation`` degrees."""

    out: Path
    n: int | None = None
    seed: int = 0
    split: str = "train"
    max_rotation: float = 0.0
    device: str = "cpu"

    def __post_init__(self):
        object.__setattr__(self, "out", Path(self.out))
        if self.n is not None:
            options.at_least("--n", self.n, 1, " structure")
        options.one_of("--split", self.split, SPLITS)
        options.non_negative("--max-rotation", self.max_rotation)
        check(self.max_rotation <= 180, "--max-rotation", f"{self.max_rotation!r}: must be degrees in [0, 180]")


@dataclass(frozen=True)
class TrainConfig(WorkflowConfig):
    """``matsight crystals train``: ``out`` the run folder, ``data`` a layout-5 folder (``None`` when
    the caller hands the descriptors over in memory); ``epochs`` and ``batch_size`` ``None`` =
    :data:`DEFAULT_EPOCHS` / :data:`DEFAULT_BATCH_SIZE` of the descriptor; Adam with the descriptor's
    :data:`SCHEDULE`; ``val_fraction`` of the structures held out at random."""

    data: Path | None = None
    descriptor: str = "fingerprint"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = 1e-3
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "cpu"

    command: ClassVar[str] = "crystals train"
    input_fields: ClassVar[tuple[str, ...]] = ("data",)

    def __post_init__(self):
        _paths(self, "out", "data")
        options.one_of("--descriptor", self.descriptor, DESCRIPTOR_NAMES)
        if self.epochs is not None:
            options.at_least("--epochs", self.epochs, 1)
        if self.batch_size is not None:
            options.at_least("--batch-size", self.batch_size, 1)
        options.positive("--lr", self.lr)
        options.positive("--val-fraction", self.val_fraction)
        check(self.val_fraction < 1, "--val-fraction", f"{self.val_fraction!r}: must be a fraction below 1")


@dataclass(frozen=True)
class RobustnessConfig(WorkflowConfig):
    """``matsight crystals robustness``: ``out`` the run folder, the ConvNet and SOAP run folders,
    ``per_class`` structures per class and level, the levels of every axis (displacement σ and
    strain as fractions of the nearest-neighbour distance / unity, vacancy fractions, (σ, η)
    pairs, rotations in degrees), ``mc_samples`` MC-dropout passes, ``classes`` (indices; ``None``:
    all) and ``spglib_per_class`` pristine training-element structures per class that teach the
    spglib baseline its symmetry keys."""

    convnet: Path
    soap: Path
    per_class: int = 1
    displacements: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10)
    vacancies: tuple[float, ...] = (0.05, 0.10, 0.20, 0.30, 0.50)
    combined: tuple[tuple[float, float], ...] = ((0.02, 0.10), (0.05, 0.20), (0.10, 0.50))
    strains: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10)
    rotations: tuple[float, ...] = (10.0, 30.0, 45.0)
    mc_samples: int = 30
    classes: tuple[int, ...] | None = None
    spglib_per_class: int = 2
    seed: int = 1000
    device: str = "cpu"

    command: ClassVar[str] = "crystals robustness"
    input_fields: ClassVar[tuple[str, ...]] = ("convnet", "soap")

    def __post_init__(self):
        _paths(self, "out", "convnet", "soap")
        options.at_least("--per-class", self.per_class, 1)
        options.at_least("--mc-samples", self.mc_samples, 1)
        options.at_least("spglib_per_class", self.spglib_per_class, 1)
        check(all(0 < s < 0.5 for s in self.displacements), "displacements", "must be fractions in (0, 0.5)")
        check(all(0 < v < 1 for v in self.vacancies), "vacancies", "must be fractions in (0, 1)")
        check(all(0 < s < 0.5 and 0 < v < 1 for s, v in self.combined), "combined", "needs (σ, η) pairs in range")
        check(all(0 < s < 0.5 for s in self.strains), "strains", "must be in (0, 0.5)")
        check(all(0 < r <= 180 for r in self.rotations), "rotations", "must be degrees in (0, 180]")
        if self.classes is not None:
            n = len(_class_names())
            check(len(self.classes) > 0 and all(0 <= c < n for c in self.classes), "classes", f"must be in 0..{n - 1}")

    def levels(self) -> list[tuple[str, float, str, list[tuple[str, float]]]]:
        """``(axis, level, label, defects)`` per level; ``defects`` are ``(defect, level)`` pairs for
        :func:`matsight.crystals.defects.apply_defect`. The combined axis is numbered 1, 2, ..."""
        out: list[tuple[str, float, str, list[tuple[str, float]]]] = [("held-out elements", 0.0, "pristine", [])]
        out += [("displacement", s, f"σ {100 * s:g} %", [("displacement", s)]) for s in self.displacements]
        out += [("vacancies", v, f"η {100 * v:g} %", [("vacancies", v)]) for v in self.vacancies]
        out += [
            (
                "displacement+vacancies",
                k + 1.0,
                f"σ {100 * s:g} % + η {100 * v:g} %",
                [("displacement", s), ("vacancies", v)],
            )
            for k, (s, v) in enumerate(self.combined)
        ]
        out += [("strain", s, f"ε {100 * s:g} %", [("strain", s)]) for s in self.strains]
        out += [("rotation", r, f"≤ {r:g}°", [("rotation", r)]) for r in self.rotations]
        return out


@dataclass(frozen=True)
class MapConfig(WorkflowConfig):
    """``matsight crystals map``: ``out`` the run folder, the ConvNet and SOAP run folders, the
    grains (:data:`DEFAULT_GRAINS`), the box ``size`` and window ``stride`` in nearest-neighbour
    distances, the window radii (bonds) and ``mc_samples`` MC-dropout passes."""

    convnet: Path
    soap: Path
    grains: tuple[Grain, ...] = DEFAULT_GRAINS
    size: tuple[float, float, float] = DEFAULT_SIZE
    stride: float = 1.0
    fingerprint_radius: float = 4.0
    soap_radius: float = 1.0
    mc_samples: int = 30
    seed: int = 0
    device: str = "cpu"

    command: ClassVar[str] = "crystals map"
    input_fields: ClassVar[tuple[str, ...]] = ("convnet", "soap")

    def __post_init__(self):
        from matsight.crystals.library import prototype

        _paths(self, "out", "convnet", "soap")
        for name, elements, x, y, _ in self.grains:
            check(name in _class_names(), "--grain", f"has unknown prototype {name!r}: see CLASS_NAMES")
            slots = prototype(name).n_slots
            check(len(elements) == slots, "--grain", f"{name} needs {slots} element(s), got {list(elements)}")
            unknown = [e for e in elements if e not in _element_symbols()]
            check(not unknown, "--grain", f"{name} has unknown element(s) {unknown}: give chemical symbols")
            check(0 <= x <= 1 and 0 <= y <= 1, "--grain", "seed positions are fractions of the box in [0, 1]")
        check(len(self.grains) >= 2, "--grain", "needs at least two grains")
        options.positive("--stride", self.stride)
        check(self.fingerprint_radius >= 3.75, "fingerprint_radius", "must hold the fingerprint's 3.75-bond sphere")
        options.positive("soap_radius", self.soap_radius)
        options.at_least("--mc-samples", self.mc_samples, 1)
        margin = self.margin
        check(
            2 * margin <= min(self.size[:2]) and self.size[2] >= 2 * margin,
            "--size",
            f"must leave {margin:g} bonds around every window",
        )

    @property
    def margin(self) -> float:
        """Bonds between a window centre and the box faces: the fingerprint sphere, or the SOAP
        centres plus the SOAP cutoff (3 bonds), plus half a bond."""
        return max(self.fingerprint_radius, self.soap_radius + 3.0) + 0.5


@dataclass(frozen=True)
class ExplainConfig(WorkflowConfig):
    """``matsight crystals explain``: ``out`` the run folder, ``run`` the ConvNet run folder, the
    classes (names) to explain and the number of top units of the response maps."""

    run: Path
    classes: tuple[str, ...] = EXPLAINED_CLASSES
    top_n: int = 4
    seed: int = 0
    device: str = "cpu"

    command: ClassVar[str] = "crystals explain"
    input_fields: ClassVar[tuple[str, ...]] = ("run",)

    def __post_init__(self):
        _paths(self, "out", "run")
        unknown = [c for c in self.classes if c not in _class_names()]
        check(not unknown and len(self.classes) > 0, "--class", f"has unknown names {unknown}: see CLASS_NAMES")
        options.at_least("--top-n", self.top_n, 1)


def _paths(config: WorkflowConfig, *names: str) -> None:
    """Turn the fields ``names`` of a frozen config into Paths (None stays None)."""
    for name in names:
        value = getattr(config, name)
        if value is not None:
            object.__setattr__(config, name, Path(value))


def _element_symbols() -> set[str]:
    from ase.data import chemical_symbols

    return set(chemical_symbols[1:])


def parse_grain(text: str) -> Grain:
    """``PROTOTYPE:EL1-EL2:X:Y[:DEGREES]`` → a grain tuple (validated by :class:`MapConfig`)."""
    parts = text.split(":")
    if len(parts) not in (4, 5):
        raise ConfigError(f"--grain {text!r}: write PROTOTYPE:ELEMENTS:X:Y[:DEGREES], e.g. A1_fcc:Ni:0.25:0.5")
    try:
        numbers = [float(p) for p in parts[2:]]
    except ValueError:
        raise ConfigError(f"--grain {text!r}: X, Y and DEGREES must be numbers") from None
    if not all(math.isfinite(v) for v in numbers):
        raise ConfigError(f"--grain {text!r}: X, Y and DEGREES must be finite numbers")
    return parts[0], tuple(parts[1].split("-")), numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 0.0
