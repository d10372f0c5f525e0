"""``SaliencyConfig``: what ``matsight saliency`` is asked to do (validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from matsight import options
from matsight.errors import ConfigError
from matsight.saliency.registry import method_spec
from matsight.scale import LOCAL, Engine
from matsight.workflow import WorkflowConfig


@dataclass(frozen=True)
class SaliencyConfig(WorkflowConfig):
    """What ``matsight saliency`` is asked to do.

    ``out``: the saliency run folder; ``run``: a training run folder (or its checkpoint file);
    ``data``: the images to explain (any layout the run can read, see
    :func:`~matsight.data.inputs.read_for_model`); ``method``: a key of
    :data:`~matsight.saliency.registry.METHODS` (``None``: the task's default,
    :data:`~matsight.saliency.registry.DEFAULT_METHOD`, recorded in the manifest); ``target``: the
    class or attribute explained for every image (``None``: a regressor's output; on a classifier or
    tagger, each image's top-scoring output, see :mod:`matsight.saliency.runner`); ``sign``: +1 explains what pushes
    it up, -1 down; ``lots`` / ``images``: explain and draw only these lots or image files (names or
    paths inside ``data``); ``max_images``: explain only the first N (after ``lots`` / ``images``);
    ``per_group``: overlays per lot; ``evaluate``: also measure faithfulness against random maps;
    ``batch_size``: images per resumable chunk; ``engine``: local or Ray.
    """

    run: Path
    data: Path
    method: str | None = None
    target: int | None = None
    sign: int = 1
    lots: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    max_images: int | None = None
    per_group: int = 3
    evaluate: bool = False
    batch_size: int = 16
    device: str = "cpu"
    engine: Engine = LOCAL
    overwrite: bool = False

    command: ClassVar[str] = "saliency"
    input_fields: ClassVar[tuple[str, ...]] = ("run", "data")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("out", "run", "data"):
            set_(self, name, Path(getattr(self, name)))
        set_(self, "lots", tuple(self.lots or ()))
        set_(self, "images", tuple(self.images or ()))
        if self.method is not None:
            method_spec(self.method)
        options.one_of("--sign", self.sign, (1, -1))
        options.at_least("--batch-size", self.batch_size, 1)
        options.at_least("--per-group", self.per_group, 1)
        if self.max_images is not None:
            options.at_least("--max-images", self.max_images, 1)
        if self.target is not None:
            options.at_least("--target", self.target, 0)
        if self.lots and self.images:
            raise ConfigError("--lots and --images: give one of them, not both")
