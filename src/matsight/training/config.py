"""What ``matsight train`` is asked to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from matsight import options
from matsight.data.split import SPLITS
from matsight.errors import ConfigError
from matsight.models import ARCHITECTURES, TASKS
from matsight.training.loop import OPTIMIZERS, SCHEDULES
from matsight.utils import resolve_device
from matsight.workflow import WorkflowConfig

MIN_IMAGE_SIZE = 16


@dataclass(frozen=True)
class TrainConfig(WorkflowConfig):
    """Arguments of ``matsight train`` (defaults follow the SEM paper, scaled to small images).

    ``target``: the property column of lots.csv (regression; None: the only numeric column — several
    need it named); ``units``: its unit, shown on figures (optional). ``image_size``: images are
    resized to this (pixels, square) and randomly cropped to 352/384 of it during training
    (centrally at evaluation). ``split``: hold out random ``tiles`` or whole ``lots`` (regression over
    lots only) for validation. ``lr``: None → 0.01 for SGD, 1e-3 for Adam.
    ``schedule``: ``exponential`` (×0.95 per epoch, the paper's) or ``cosine`` (annealed to 0 at the last epoch).
    """

    data: Path
    task: str = "regression"
    arch: str = "resnet18"
    target: str | None = None
    units: str | None = None
    epochs: int = 30
    image_size: int = 128
    batch_size: int = 32
    split: str = "tiles"
    val_fraction: float = 0.2
    weights: Path | None = None
    seed: int = 0
    device: str = "auto"
    optimizer: str = "sgd"
    lr: float | None = None
    schedule: str = "exponential"
    overwrite: bool = False

    command: ClassVar[str] = "train"
    input_fields: ClassVar[tuple[str, ...]] = ("data", "weights")

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "out", Path(self.out))
        if self.task not in TASKS:
            raise ConfigError(f"--task {self.task!r}: choose one of {', '.join(TASKS)}")
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"--arch {self.arch!r}: choose one of {', '.join(ARCHITECTURES)}")
        if self.split not in SPLITS:
            raise ConfigError(f"--split {self.split!r}: choose tiles or lots")
        if self.split == "lots" and self.task != "regression":
            raise ConfigError("--split lots needs --task regression (lots are layout 1)")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule {self.schedule!r}: choose exponential or cosine")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"--val-fraction must be between 0 and 1, got {self.val_fraction}")
        for name in ("epochs", "image_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        options.image_side("--image-size", self.image_size, MIN_IMAGE_SIZE, " pixels (the networks downsample 32x)")
        options.one_of("--optimizer", self.optimizer, OPTIMIZERS)
        if self.lr is not None:
            options.positive("--lr", self.lr)
        if self.weights is not None and not Path(self.weights).is_file():
            raise ConfigError(f"--weights {self.weights}: no such file; give a local .pt/.pth file")
        resolve_device(self.device)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (0.01 if self.optimizer == "sgd" else 1e-3)
