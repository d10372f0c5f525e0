"""``ModelSpec``: the typed contract of a trained model — what it predicts and how images become its input.

Every checkpoint stores one (as JSON); every command that takes a RUN reads it instead of asking the
user again. It says

- **what the model predicts**: ``task`` (regression, classification, multilabel), ``num_outputs``,
  ``target_names`` (the property column(s) or the attribute names), ``target_units`` (when known),
  ``class_names``, the lots' other numeric columns ``attribute_names``, and for regression the
  training targets' ``target_mean``/``target_std`` (the model learns the standardised value);
- **how an image becomes its input** (:meth:`prepare`, :meth:`dataset`, :meth:`batch_worker`): decode
  with ``intensity`` (:class:`~matsight.data.intensity.Intensity`), resize the short side to
  ``image_size``, centre-crop ``crop_size``, ``channels`` channels;
- **what it was trained on**: ``arch`` and the dataset ``layout`` (lots, multilabel, classes);
- **models that read a structure descriptor instead of images** (crystal classifiers): the
  ``descriptor`` name (``fingerprint``, ``soap``; None for image models) and ``arch_params``, the
  sizes the architecture is built with (a SOAP MLP's ``n_features``, ``hidden``, ``dropout``), given
  as a mapping of names to numbers, strings or lists of numbers and stored as sorted pairs so that
  the spec stays hashable (:attr:`ModelSpec.arch_parameters` returns the dict).

Stage names are not stored: they follow from ``arch`` (:func:`matsight.models.stage_names`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch

from matsight.data.dataset import ImageDataset, ImageTable
from matsight.data.intensity import Decoder, Intensity
from matsight.data.transforms import match_channels, model_view
from matsight.errors import ConfigError
from matsight.models.backbones import TASKS

LAYOUTS = ("lots", "multilabel", "classes")


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"model spec: {name} must be a list of strings, got {value!r}")
    return tuple(value)


ArchValue = int | float | str | bool | tuple[int | float, ...]


def _arch_params(value: Any) -> tuple[tuple[str, ArchValue], ...]:
    """A mapping (or pairs) of parameter names to plain values → sorted ``(name, value)`` pairs,
    lists as tuples; ConfigError naming the parameter otherwise."""
    items = value.items() if isinstance(value, dict) else value
    try:
        pairs = [(name, v) for name, v in items]
    except (TypeError, ValueError):
        raise ConfigError(f"model spec: arch_params must map names to values, got {value!r}") from None
    out = {}
    for name, v in pairs:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"model spec: arch_params names must be strings, got {name!r}")
        if isinstance(v, (list, tuple)):
            v = tuple(v)
            plain = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        else:
            plain = isinstance(v, (int, float, str, bool))
        floats = [x for x in (v if isinstance(v, tuple) else (v,)) if isinstance(x, float)]
        if not plain or not all(math.isfinite(x) for x in floats):
            raise ConfigError(f"model spec: arch_params {name!r} must be a finite number, a string or numbers")
        out[name] = v
    return tuple(sorted(out.items()))


def _floats(value: Any, name: str, n: int, default: float) -> tuple[float, ...]:
    if value is None or (not isinstance(value, (int, float)) and len(value) == 0):
        return (default,) * n
    values = (float(value),) * n if isinstance(value, (int, float)) else tuple(float(v) for v in value)
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"model spec: {name} must hold {n} finite number(s), got {value!r}")
    return values


@dataclass(frozen=True)
class ModelSpec:
    """What a trained model predicts and how it reads images (see the module docstring).

    Validated on construction (ConfigError naming the field); :meth:`to_json`/:meth:`from_json`
    round-trip exactly. Lists are stored as tuples, so a spec is hashable and picklable.
    """

    arch: str
    task: str
    num_outputs: int
    target_names: tuple[str, ...] = ()
    target_units: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    attribute_names: tuple[str, ...] = ()
    image_size: int = 128
    crop_size: int | None = None
    channels: int = 1
    intensity: Intensity = field(default_factory=Intensity)
    target_mean: tuple[float, ...] = ()
    target_std: tuple[float, ...] = ()
    layout: str | None = None
    descriptor: str | None = None
    arch_params: tuple[tuple[str, ArchValue], ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.arch, str) or not self.arch:
            raise ConfigError(f"model spec: arch must be a name, got {self.arch!r}")
        if self.task not in TASKS:
            raise ConfigError(f"model spec: task {self.task!r}: choose one of {', '.join(TASKS)}")
        if not isinstance(self.num_outputs, int) or self.num_outputs < 1:
            raise ConfigError(f"model spec: num_outputs must be a positive integer, got {self.num_outputs!r}")
        for name in ("target_names", "target_units", "class_names", "attribute_names"):
            set_(self, name, _strings(getattr(self, name), name))
        if self.target_units and len(self.target_units) != len(self.target_names):
            raise ConfigError("model spec: target_units needs one unit ('' when unknown) per target name")
        if self.task == "classification" and self.class_names and len(self.class_names) != self.num_outputs:
            raise ConfigError(f"model spec: {len(self.class_names)} class names for {self.num_outputs} outputs")
        if self.task != "classification" and self.target_names and len(self.target_names) != self.num_outputs:
            raise ConfigError(f"model spec: {len(self.target_names)} target names for {self.num_outputs} outputs")
        if not isinstance(self.image_size, int) or self.image_size < 1:
            raise ConfigError(f"model spec: image_size must be a positive integer, got {self.image_size!r}")
        crop = self.image_size if self.crop_size is None else self.crop_size
        if not isinstance(crop, int) or not 1 <= crop <= self.image_size:
            raise ConfigError(f"model spec: crop_size must be between 1 and image_size, got {crop!r}")
        set_(self, "crop_size", crop)
        if self.channels not in (1, 3):
            raise ConfigError(f"model spec: channels must be 1 or 3, got {self.channels!r}")
        if isinstance(self.intensity, dict):
            set_(self, "intensity", Intensity.from_dict(self.intensity))
        if not isinstance(self.intensity, Intensity):
            raise ConfigError(f"model spec: intensity must be an Intensity, got {self.intensity!r}")
        n = self.num_outputs if self.task == "regression" else 0
        set_(self, "target_mean", _floats(self.target_mean, "target_mean", n, 0.0))
        set_(self, "target_std", _floats(self.target_std, "target_std", n, 1.0))
        if any(s <= 0 for s in self.target_std):
            raise ConfigError(f"model spec: target_std must be positive, got {self.target_std}")
        if self.layout is not None and self.layout not in LAYOUTS:
            raise ConfigError(f"model spec: layout {self.layout!r}: choose one of {', '.join(LAYOUTS)}")
        if self.descriptor is not None and (not isinstance(self.descriptor, str) or not self.descriptor):
            raise ConfigError(f"model spec: descriptor must be a name or None, got {self.descriptor!r}")
        set_(self, "arch_params", _arch_params(self.arch_params))

    @property
    def arch_parameters(self) -> dict[str, ArchValue]:
        """``arch_params`` as a dict (the keyword arguments the architecture is built with)."""
        return dict(self.arch_params)

    # -- what the model predicts --------------------------------------------------------------
    @property
    def target(self) -> str | None:
        """The (first) property column or attribute name; None when unnamed."""
        return self.target_names[0] if self.target_names else None

    def unit(self, output: int = 0) -> str:
        """The unit of target ``output`` ('' when unknown)."""
        return self.target_units[output] if self.target_units else ""

    def standardise(self, targets: torch.Tensor) -> torch.Tensor:
        """Regression targets ``[N, T]`` in user units → what the model learns: ``(y - mean) / std``."""
        mean = torch.as_tensor(self.target_mean, dtype=targets.dtype, device=targets.device)
        std = torch.as_tensor(self.target_std, dtype=targets.dtype, device=targets.device)
        return (targets - mean) / std

    def to_user_units(self, outputs: np.ndarray | torch.Tensor, output: int | None = None):
        """Regression outputs ``[N, T]`` (or column ``output`` ``[N]``) → user units: ``out · std + mean``."""
        if output is None:
            mean, std = np.asarray(self.target_mean), np.asarray(self.target_std)
        else:
            mean, std = self.target_mean[output], self.target_std[output]
        if isinstance(outputs, torch.Tensor) and output is None:
            mean, std = (torch.as_tensor(v, dtype=outputs.dtype, device=outputs.device) for v in (mean, std))
        return outputs * std + mean

    # -- how images become its input ----------------------------------------------------------
    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``[N, 1|3, H, W]`` in [0, 1] (already decoded) → model input ``[N, channels, crop, crop]``:
        resized (antialiased bilinear) and centre-cropped as at evaluation. Differentiable."""
        return match_channels(model_view(images, self.image_size, self.crop_size), self.channels)

    def dataset(
        self, table: ImageTable, augment: bool = False, cache: bool = False, decoder: Decoder | None = None
    ) -> ImageDataset:
        """The images of ``table`` as this model reads them (random crops and flips when ``augment``);
        ``decoder``: one shared between datasets (default: a new one from ``intensity``)."""
        return ImageDataset(
            table,
            self.image_size,
            channels=self.channels,
            augment=augment,
            crop_size=self.crop_size,
            cache=cache,
            intensity=self.intensity,
            decoder=decoder,
        )

    def batch_worker(self, factory: type, model: Any, paths: list, **settings: Any):
        """A :class:`~matsight.scale.workers.ImageBatchWorker` (sub)class ``factory`` reading ``paths``
        with this spec's preprocessing; ``settings``: the factory's other fields (device, batch_size...)."""
        return factory(
            model,
            [str(p) for p in paths],
            self.image_size,
            self.crop_size,
            self.channels,
            intensity=self.intensity,
            **settings,
        )

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["intensity"] = self.intensity.to_dict()
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
        data["arch_params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.arch_params}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """A spec from :meth:`to_dict`'s keys; unknown keys are an error (ConfigError naming them)."""
        if not isinstance(data, dict):
            raise ConfigError(f"model spec must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"model spec: unknown keys {', '.join(unknown)}")
        missing = sorted({"arch", "task", "num_outputs"} - set(data))
        if missing:
            raise ConfigError(f"model spec: missing keys {', '.join(missing)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"model spec is not valid JSON ({exc})") from None
        return cls.from_dict(data)
