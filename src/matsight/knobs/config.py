"""What the three knobs workflows are asked to do: frozen, validated configs (:mod:`matsight.workflow`).

``EditorConfig`` → ``matsight knobs train`` (:func:`matsight.knobs.pipeline.run_train`),
``SweepConfig`` → ``matsight knobs sweep`` (:func:`~matsight.knobs.pipeline.run_sweep`),
``InverseConfig`` → ``matsight knobs inverse`` (:func:`~matsight.knobs.pipeline.run_inverse`).
Every check names the command-line option and what to give instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from matsight import options
from matsight.errors import ConfigError
from matsight.knobs.inverse import Goal
from matsight.knobs.losses import ADVERSARIAL, LossWeights
from matsight.knobs.transfer import VIEWS
from matsight.workflow import WorkflowConfig

DEFAULT_ATTRIBUTES = ("size", "porosity", "polydispersity", "facetness")
PER = ("tile", "lot")


def _paths(config: WorkflowConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None:
            object.__setattr__(config, name, Path(value))


@dataclass(frozen=True)
class EditorConfig(WorkflowConfig):
    """``matsight knobs train``: train the attribute editor ``G(I; A)`` and measure its control.

    ``regressor``: run folder of the property regressor the knobs will explain (its intensity
    normalisation decodes the tiles); ``lots``: layout-1 folder with the ``attributes`` columns;
    ``image_size``: tiles are resized to this (px, divisible by ``2**depth``); ``crop``: train on random
    ``crop`` px windows of those tiles (the editor is fully convolutional and edits whole tiles
    afterwards; attributes of a lot are the same in every window) — ``None``: whole tiles;
    ``steps``: editor updates; ``width``/``depth``: channels of the first conv and number of strided
    convs; ``attribute_weight``: weight of the attribute loss on edited tiles (AttGAN's λ2);
    ``guide_epochs``: when > 0, that loss reads the edits with a frozen attribute regressor (the *guide*,
    the editor's width and depth) trained for that many epochs on windows of the real training tiles
    before the editor, instead of the critic's attribute head, which learns alongside the editor;
    ``quality_epochs``: epochs of the independent attribute measurer, which reads tiles at
    ``measure_size`` px (``None``: the editor's size). :meth:`gpu` gives larger settings.
    """

    regressor: Path
    lots: Path
    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    image_size: int = 64
    crop: int | None = None
    steps: int = 300
    batch_size: int = 32
    width: int = 16
    depth: int = 3
    lr: float = 2e-4
    adversarial: str = "wgan-gp"
    attribute_weight: float = LossWeights.attribute_edit
    guide_epochs: int = 0
    jitter: float = 0.05
    held_out: float = 0.2
    checkpoint_every: int = 50
    quality_epochs: int = 60
    measure_size: int | None = None
    seed: int = 0
    device: str = "cpu"

    command: ClassVar[str] = "knobs train"
    input_fields: ClassVar[tuple[str, ...]] = ("regressor", "lots")
    neutral_fields: ClassVar[tuple[str, ...]] = ("device", "checkpoint_every")

    def __post_init__(self) -> None:
        _paths(self, "out", "regressor", "lots")
        object.__setattr__(self, "attributes", tuple(self.attributes))
        if not self.attributes:
            raise ConfigError("--attributes is empty: name at least one lots.csv column, e.g. size,porosity")
        if self.adversarial not in ADVERSARIAL:
            raise ConfigError(f"--adversarial {self.adversarial!r}: choose {' or '.join(ADVERSARIAL)}")
        for option, value in (("--steps", self.steps), ("--width", self.width), ("--depth", self.depth)):
            options.at_least(option, value, 1)
        options.image_side("--image-size", self.image_size, 8, " pixels")
        if self.image_size % 2**self.depth:
            raise ConfigError(f"--image-size {self.image_size} must be divisible by 2**depth = {2**self.depth}")
        if self.crop is not None and (self.crop % 2**self.depth or not 2**self.depth <= self.crop <= self.image_size):
            raise ConfigError(
                f"--crop {self.crop} must be divisible by 2**depth = {2**self.depth} and at most --image-size "
                f"{self.image_size}"
            )
        options.at_least("--batch-size", self.batch_size, 1)
        options.non_negative("--attribute-weight", self.attribute_weight)
        options.non_negative("--guide-epochs", self.guide_epochs)
        options.positive("--lr", self.lr)
        options.at_least("--quality-epochs", self.quality_epochs, 1)
        if self.measure_size is not None:
            options.image_side("--measure-size", self.measure_size, 8, " pixels")
        if not 0 < self.held_out < 1:
            raise ConfigError(f"held_out must lie between 0 and 1 (a fraction of the tiles), got {self.held_out}")
        options.at_least("checkpoint_every", self.checkpoint_every, 1)

    @classmethod
    def gpu(cls, **kw) -> EditorConfig:
        """Larger settings for a GPU: 128 px, 20k steps, wider and deeper networks."""
        return cls(**{"image_size": 128, "steps": 20000, "batch_size": 64, "width": 32, "depth": 4, **kw})


@dataclass(frozen=True)
class SweepConfig(WorkflowConfig):
    """``matsight knobs sweep``: turn every knob of the editor run ``editor`` across its range.

    ``levels``: knob values from the lowest to the highest of the lots; ``tiles``: held-out tiles,
    spread over the lots; ``pair``: the two knobs of the 2-D figure (indices); ``regressor``: judge the
    edits with this regression run instead of the editor's own; ``view``: what the regressor reads
    (:func:`~matsight.knobs.transfer.choose_view`); ``response_tiles``: when the regressor's lots come
    from the generator, tiles per lot it re-renders with one attribute changed for the regressor's real
    response (:mod:`~matsight.knobs.response`; 0: none).
    """

    editor: Path
    levels: int = 9
    tiles: int = 48
    pair: tuple[int, int] = (0, 1)
    regressor: Path | None = None
    view: str = "auto"
    response_tiles: int = 2
    device: str = "cpu"

    command: ClassVar[str] = "knobs sweep"
    input_fields: ClassVar[tuple[str, ...]] = ("editor", "regressor")

    def __post_init__(self) -> None:
        _paths(self, "out", "editor", "regressor")
        options.at_least("--levels", self.levels, 2, " (a sweep needs two ends)")
        options.at_least("--tiles", self.tiles, 1)
        options.at_least("--response-tiles", self.response_tiles, 0)
        options.one_of("--view", self.view, VIEWS)
        object.__setattr__(self, "pair", tuple(self.pair))


KNOB_CHOICES = ("all", "passing", "trusted")
"""The named knob sets of ``knobs inverse --knobs`` (else a list of attribute names)."""


@dataclass(frozen=True)
class InverseConfig(WorkflowConfig):
    """``matsight knobs inverse``: which attribute change reaches ``goal`` (Liu, Kailkhura et al., Eq. 2).

    ``goal``: a relative change (``"+10%"``: searched in both directions) or a value in the property's
    units; ``tiles``: held-out tiles; ``steps``: Adam steps; ``lam``: weight of the target term;
    ``knobs``: the knobs the search may turn — ``"all"``, ``"passing"`` (those that passed the control
    check), ``"trusted"`` (those that pass it and, by the ``sweep`` run's ``knob_agreement.csv``, do not
    misread the regressor; generator lots only) or attribute names; ``sweep``: the ``knobs sweep`` run
    that ``"trusted"`` reads (default ``<editor>/sweep``); ``per``: ``"tile"`` (each tile alone, the
    paper's search) or ``"lot"`` (one answer per lot for its mean prediction); ``show``: tiles in the
    figure; ``regressor``, ``view``: as in :class:`SweepConfig`.
    """

    editor: Path
    goal: str = "+10%"
    tiles: int = 32
    steps: int = 150
    lam: float = 10.0
    knobs: str | tuple[str, ...] = "all"
    sweep: Path | None = None
    per: str = "tile"
    show: int = 3
    regressor: Path | None = None
    view: str = "auto"
    device: str = "cpu"

    command: ClassVar[str] = "knobs inverse"
    input_fields: ClassVar[tuple[str, ...]] = ("editor", "regressor", "sweep")

    def __post_init__(self) -> None:
        _paths(self, "out", "editor", "regressor", "sweep")
        Goal.parse(self.goal)
        options.at_least("--tiles", self.tiles, 1)
        options.at_least("--steps", self.steps, 1)
        options.non_negative("--lam", self.lam)
        options.at_least("show", self.show, 0)
        if self.per not in PER:
            raise ConfigError(
                f"--per {self.per!r}: choose tile (each tile alone, the paper's search) or lot (one answer per lot)"
            )
        options.one_of("--view", self.view, VIEWS)
        if not isinstance(self.knobs, str):
            object.__setattr__(self, "knobs", tuple(self.knobs))
            if not self.knobs:
                raise ConfigError("--knobs is empty: give all, passing, trusted or attribute names, e.g. size,porosity")
        elif self.knobs not in KNOB_CHOICES:
            raise ConfigError(f"--knobs {self.knobs!r}: give all, passing, trusted or a list of attribute names")
        if self.sweep is not None and self.knobs != "trusted":
            raise ConfigError("--sweep names the sweep that --knobs trusted reads: add --knobs trusted or drop --sweep")
        if self.knobs == "trusted" and self.sweep is None:
            object.__setattr__(self, "sweep", self.editor / "sweep")
