"""The explainer protocol: ``Explainer(model).attribute(x, target=None, sign=1) -> Tensor[N,H,W]`` in [0,1].

``explain(x, target, sign)`` returns an :class:`Explanation` (raw map, normalised map, ``empty`` flags;
methods add their own fields). ``x`` is a float ``[N,C,H,W]`` batch on the model's device; maps stay
on that device.

``target`` chooses the scalar per image that is explained (:func:`select_output`):

- ``None``: the single output of a regressor (``[N]`` or ``[N,1]``);
- an ``int``: that class logit or multi-label attribute for every image;
- a sequence or 1-D tensor of ``N`` ints: one output per image;
- a callable ``output [N,T] -> [N]`` computed row by row (e.g. ``lambda out: out[:, 0] - out[:, 1]``).

``sign=-1`` explains what pushes that scalar down.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from matsight.errors import ConfigError
from matsight.saliency.normalise import normalise

Target = int | Sequence[int] | torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None


def check_sign(sign: int) -> int:
    if sign not in (1, -1):
        raise ConfigError(f"sign must be +1 or -1, got {sign!r}")
    return sign


def per_image_targets(target: Target, n: int) -> list[int] | None:
    """``target`` as a list of ``n`` output indices when it is a per-image sequence, else ``None``."""
    if target is None or callable(target):
        return None
    try:
        operator.index(target)
        return None  # one index for every image (int, numpy integer, 0-d integer tensor)
    except TypeError:
        pass
    values = target.tolist() if isinstance(target, torch.Tensor) else list(target)
    if len(values) != n or not all(isinstance(v, int) and v >= 0 for v in values):
        raise ConfigError(f"per-image targets must be {n} non-negative integers (one per image), got {values}")
    return values


def target_of(target: Target, i: int) -> Target:
    """Image ``i``'s target: the ``i``-th entry of a per-image sequence, else ``target`` itself."""
    if target is None or callable(target):
        return target
    try:
        return operator.index(target)
    except TypeError:
        return int(target[i])


def select_output(output: torch.Tensor, target: Target = None, sign: int = 1) -> torch.Tensor:
    """``sign`` times the scalar per image that an explanation is about, ``[N]`` (see module doc)."""
    check_sign(sign)
    out = output.reshape(output.shape[0], -1)
    if callable(target):
        chosen = target(output)
        if not torch.is_tensor(chosen) or tuple(chosen.shape) not in ((out.shape[0],), (out.shape[0], 1)):
            raise ConfigError(f"a target callable must return one value per image, [{out.shape[0]}]")
        return sign * chosen.reshape(-1)
    if target is None:
        if out.shape[1] != 1:
            raise ConfigError(f"the model has {out.shape[1]} outputs: pass target=<class or attribute index>")
        return sign * out[:, 0]
    targets = per_image_targets(target, out.shape[0])
    indices = targets if targets is not None else [operator.index(target)] * out.shape[0]
    if not all(0 <= i < out.shape[1] for i in indices):
        raise ConfigError(f"target {target!r} is out of range for a model with {out.shape[1]} outputs")
    return sign * out.gather(1, torch.tensor(indices, device=out.device).view(-1, 1)).squeeze(1)


def check_input(x: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(x) or x.dim() != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ConfigError(f"explainers take a float image batch [N,C,H,W], got {shape}")
    return x


@dataclass
class Explanation:
    """One explanation of a batch: ``raw`` ``[N,H,W]`` in the method's units (input size), ``map``
    ``[N,H,W]`` normalised to [0,1], ``empty`` ``[N]`` True where the raw map holds nothing (constant or
    all zero: ``map`` is zeros there, not a stretched constant). Subclasses add method-specific fields."""

    raw: torch.Tensor
    map: torch.Tensor
    empty: torch.Tensor

    def subset(self, rows) -> Explanation:
        """The same explanation for images ``rows`` (index, slice or mask over the batch)."""
        return self._apply(lambda t: t[rows])

    def to(self, device) -> Explanation:
        return self._apply(lambda t: t.to(device))

    def _apply(self, fn) -> Explanation:
        def convert(value):
            if torch.is_tensor(value):
                return fn(value)
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            return value

        return dataclasses.replace(self, **{f.name: convert(getattr(self, f.name)) for f in dataclasses.fields(self)})


class Explainer:
    """Base of every method: subclasses implement ``maps(x, target, sign) -> Tensor[N,h,w]`` (raw, on the
    method's own grid) or override ``explain``. ``norm`` names the per-image normalisation
    (``matsight.saliency.normalise.NORMS``)."""

    norm = "minmax"

    def __init__(self, model: nn.Module):
        self.model = model

    def maps(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> torch.Tensor:
        raise NotImplementedError

    def explain(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> Explanation:
        """Raw and normalised maps ``[N,H,W]`` and ``empty`` flags for ``x`` ``[N,C,H,W]``."""
        check_sign(sign)
        raw, normalised, empty = normalise(self.maps(check_input(x), target, sign).detach(), self.norm, x.shape[-2:])
        return Explanation(raw=raw, map=normalised, empty=empty)

    def attribute(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> torch.Tensor:
        """Normalised map ``[N,H,W]`` in [0,1] (per image)."""
        return self.explain(x, target, sign).map

    def raw(self, x: torch.Tensor, target: Target = None, sign: int = 1) -> torch.Tensor:
        """Raw map ``[N,H,W]`` in the method's units, resized to the input."""
        return self.explain(x, target, sign).raw
