"""Benchmark settings: a frozen, validated config and the two presets (``quick`` on CPU, ``full`` on a GPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from matsight import options
from matsight.benchmark.recovery import RecoveryPreset
from matsight.errors import ConfigError
from matsight.workflow import WorkflowConfig

TASK_NAMES = ("pits", "cps", "xray", "crystals")
"""(a) local-cause regression, (b) CPS lots, (c) x-ray multi-label, (d) crystal classes."""


@dataclass(frozen=True)
class Preset:
    """Sizes of one benchmark setting.

    ``image_size``: SEM tile / x-ray image side (px; fingerprints are always 64 px); ``pool``:
    images drawn once per task (each seed holds out its own evaluation images and trains on the
    rest); ``crystals_per_class``: structures per crystal class in the pool; ``n_eval``: explained
    instances per task and seed; ``targets_per_seed``: x-ray tags / crystal classes explained per
    seed (drawn at random; every method is called once per target); ``epochs`` (``crystal_epochs``),
    ``batch_size``, ``lr``: Adam with a one-cycle schedule for the task model; ``arch``: ``tiny``
    (:class:`~matsight.benchmark.models.TinyCNN`) or a matsight architecture, ``crystal_arch`` the
    crystal classifier's; ``steps``: deletion / insertion curve steps; ``fc_runs``, ``fc_subset``:
    FaithfulnessCorrelation's random subsets (count; pixels as a fraction of the image);
    ``road_percentages``: ROAD's removal levels (%); ``threads``: torch's intra-op CPU threads during the
    run (``0``: torch's default); ``recovery``: the sizes of the CPS task's concept and knob recovery
    (:mod:`matsight.benchmark.recovery`): the SEM recipe of ``matsight demo`` (``"cpu"``) or of ``demo
    --full`` (``"full"``), or a :class:`~matsight.benchmark.recovery.RecoveryPreset`.

    The quick preset's models are so small (2.8 M multiply-adds per 48-px
    image) that more threads only add synchronisation: on a shared machine, ``OMP_NUM_THREADS=2`` spent
    about 8× the CPU time of one thread on the same work.
    """

    name: str
    image_size: int
    pool: int
    crystals_per_class: int
    n_eval: int
    targets_per_seed: int
    epochs: int
    crystal_epochs: int
    batch_size: int
    lr: float
    arch: str
    crystal_arch: str
    steps: int
    fc_runs: int
    fc_subset: float
    road_percentages: tuple[int, ...]
    threads: int
    recovery: str | RecoveryPreset


PRESETS = {
    "quick": Preset(
        name="quick",
        image_size=48,
        pool=500,
        crystals_per_class=12,
        n_eval=8,
        targets_per_seed=2,
        epochs=14,
        crystal_epochs=40,
        batch_size=32,
        lr=5e-3,
        arch="tiny",
        crystal_arch="tiny",
        steps=6,
        fc_runs=10,
        fc_subset=0.1,
        road_percentages=(20, 50),
        threads=1,
        recovery="cpu",
    ),
    "full": Preset(
        name="full",
        image_size=96,
        pool=6000,
        crystals_per_class=60,
        n_eval=64,
        targets_per_seed=7,
        epochs=25,
        crystal_epochs=40,
        batch_size=64,
        lr=1e-3,
        arch="resnet18",
        crystal_arch="crystal_convnet",
        steps=16,
        fc_runs=100,
        fc_subset=0.1,
        road_percentages=(10, 20, 30, 40, 50, 60, 70, 80, 90),
        threads=0,
        recovery="full",
    ),
}


@dataclass(frozen=True)
class BenchmarkConfig(WorkflowConfig):
    """``matsight benchmark``: ``out`` run folder; ``preset`` ``quick`` or ``full``; ``seeds`` model
    instances per task (≥ 3 for a mean ± sd); ``tasks`` subset of :data:`TASK_NAMES`; ``methods``
    ``None`` = every method, library and baseline, else ``library:method`` keys; ``cache`` folder
    for task pools and trained models (default ``<out>/cache``; keyed by content, so it can be
    shared between runs); ``seed`` draws the pools; ``workers`` processes scoring (task, seed) units
    side by side (``None``: one per CPU core on the CPU, at most one per unit; one on a GPU; ``1``: in
    this process); ``recovery``: also run the CPS task's concept and knob recovery
    (:mod:`matsight.benchmark.recovery`; ``None``: with ``full`` only — on a CPU it takes minutes per
    seed); ``overrides`` replace preset fields (tests use tiny sizes)."""

    preset: str = "quick"
    seeds: int = 3
    tasks: tuple[str, ...] = TASK_NAMES
    methods: tuple[str, ...] | None = None
    cache: Path | None = None
    seed: int = 0
    device: str = "cpu"
    workers: int | None = None
    recovery: bool | None = None
    overrides: dict = field(default_factory=dict)

    command: ClassVar[str] = "benchmark"
    neutral_fields: ClassVar[tuple[str, ...]] = ("device", "cache", "workers")

    def __post_init__(self):
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        if self.methods is not None:
            object.__setattr__(self, "methods", tuple(self.methods))
        if self.cache is not None:
            object.__setattr__(self, "cache", Path(self.cache))
        if self.preset not in PRESETS:
            raise ConfigError(f"preset {self.preset!r}: choose --quick or --full")
        options.at_least("--seeds", self.seeds, 1, " (3 or more for a mean ± sd)")
        options.at_least("--seed", self.seed, 0)
        if self.workers is not None:
            options.at_least("--workers", self.workers, 1)
        unknown = [t for t in self.tasks if t not in TASK_NAMES]
        if unknown or not self.tasks:
            raise ConfigError(f"--tasks {','.join(self.tasks)}: choose from {', '.join(TASK_NAMES)}")
        if self.methods is not None:
            from matsight.benchmark.methods import all_methods

            if not self.methods:
                raise ConfigError("--methods is empty: give library:method keys, or leave it out for every method")
            all_methods(self.methods)  # an unknown key is a ConfigError naming the choices
        if self.cache is not None:
            _check_folder("--cache", self.cache)
        bad = set(self.overrides) - set(Preset.__dataclass_fields__)
        if bad:
            raise ConfigError(
                f"unknown preset fields {sorted(bad)}: choose from {', '.join(Preset.__dataclass_fields__)}"
            )

    @property
    def settings(self) -> Preset:
        """The preset with ``overrides`` applied."""
        return replace(PRESETS[self.preset], **self.overrides)

    @property
    def runs_recovery(self) -> bool:
        """Whether the run includes the CPS recovery: ``recovery``, else only with the ``full`` preset."""
        return self.preset == "full" if self.recovery is None else self.recovery

    @property
    def worker_count(self) -> int:
        """Processes for the units: ``workers``, else one per CPU core on the CPU and one on a GPU."""
        if self.workers is not None:
            return self.workers
        if self.device.startswith("cuda"):
            return 1
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, cores or 1)

    @property
    def cache_dir(self) -> Path:
        return self.cache if self.cache is not None else self.out / "cache"


def _check_folder(option: str, path: Path) -> None:
    """``path`` is a folder or can become one: not a regular file, not under one."""
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                what = "is a file" if part == path else f"is under the file {part}"
                raise ConfigError(f"{option} {path} {what}: give a folder")
            return
