"""Checks of option values, shared by the configs and entry points of every workflow.

Each check raises :class:`matsight.errors.ConfigError` whose message names the command-line option
(``--lr``), the value given and what to give instead, so the Python API and the CLI report the same
one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def at_least(option: str, value: int | float, minimum: int | float, why: str = "") -> None:
    """``value >= minimum`` (and a finite number)."""
    if not _is_number(value) or not math.isfinite(value) or value < minimum:
        raise _error(option, value, f"must be at least {minimum}{why}")


MAX_IMAGE_SIDE = 4096
"""The largest image side (px) a model, editor or generator is asked for: 4096² float32 activations of a
64-channel first layer already take 4 GiB per image."""


def image_side(option: str, value: int, minimum: int, why: str = "") -> None:
    """An image side in pixels: ``minimum <= value <=`` :data:`MAX_IMAGE_SIDE`."""
    at_least(option, value, minimum, why)
    if value > MAX_IMAGE_SIDE:
        raise _error(option, value, f"must be at most {MAX_IMAGE_SIDE} pixels")


def positive(option: str, value: float) -> None:
    """A finite number above 0."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise _error(option, value, "must be a finite number above 0")


def non_negative(option: str, value: float) -> None:
    """A finite number, 0 or above."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise _error(option, value, "must be a finite number, 0 or more")


def finite(option: str, value: float) -> None:
    """A finite number."""
    if not _is_number(value) or not math.isfinite(value):
        raise _error(option, value, "must be a finite number")


def one_of(option: str, value: object, choices: Iterable[object]) -> None:
    """``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise _error(option, value, "must be one of " + ", ".join(str(c) for c in choices))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _error(option: str, value: object, rule: str):
    from matsight.errors import ConfigError

    return ConfigError(f"{option} {value!r}: {rule}")


def require_model(run, purpose: str, tasks: Iterable[str] = (), archs: Iterable[str] = ()):
    """The :class:`~matsight.models.ModelSpec` of the run folder (or checkpoint file) ``run``;
    ConfigError when its task is not one of ``tasks`` or its architecture not one of ``archs`` (empty:
    any). ``purpose`` says what needs it, e.g. "crystals robustness"."""
    from matsight.errors import ConfigError
    from matsight.models import read_spec

    spec = read_spec(run)
    tasks, archs = list(tasks), list(archs)
    task, arch = spec.task, spec.arch
    if (tasks and task not in tasks) or (archs and arch not in archs):
        wanted = " ".join(filter(None, [" or ".join(archs), " or ".join(tasks)]))
        raise ConfigError(f"{run} holds a {task} {arch} model; {purpose} needs a {wanted} model: give such a run")
    return spec
