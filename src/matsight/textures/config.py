"""``TexturesConfig``: what ``matsight textures`` is asked to do (validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from matsight import options
from matsight.scale import LOCAL, Engine
from matsight.workflow import WorkflowConfig

STAGES = ("Z1", "Z2", "Z3", "Z4", "Z5")


@dataclass(frozen=True)
class TexturesConfig(WorkflowConfig):
    """What ``matsight textures`` is asked to do.

    ``out``: the textures run folder; ``run``: the training run whose features are probed (a folder or
    its checkpoint file); ``lots``: a lots folder (layout 1); ``bank``: a texture bank (DTD layout);
    ``stage``: the stage whose salient-location features are compared (Z1..Z5); ``k``: nearest bank
    images per tile / lot; ``target``: the lots.csv column correlated with (``None``: the property the
    run was trained on, recorded in the manifest); ``n_boot`` / ``n_perm``: bootstrap and permutation
    draws; ``bank_per_class``: bank images per class (``None``: all); ``highlight``: textures marked
    in the score figure; ``engine``: where feature extraction runs (local or Ray).
    """

    run: Path
    lots: Path
    bank: Path
    stage: str = "Z5"
    k: int = 9
    target: str | None = None
    n_boot: int = 200
    n_perm: int = 999
    bank_per_class: int | None = None
    seed: int = 0
    highlight: tuple[str, ...] = ()
    device: str = "cpu"
    engine: Engine = LOCAL
    overwrite: bool = False

    command: ClassVar[str] = "textures"
    input_fields: ClassVar[tuple[str, ...]] = ("run", "lots", "bank")

    def __post_init__(self) -> None:
        for name in ("out", "run", "lots", "bank"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        object.__setattr__(self, "highlight", tuple(self.highlight))
        options.one_of("--stage", self.stage, STAGES)
        for option, value in (("--k", self.k), ("--n-boot", self.n_boot), ("--n-perm", self.n_perm)):
            options.at_least(option, value, 1)
        if self.bank_per_class is not None:
            options.at_least("--bank-per-class", self.bank_per_class, 1)
