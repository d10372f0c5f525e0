"""Resume state of a training loop: weights, optimisers, schedulers, RNG states and progress, as data.

Shared by :func:`matsight.training.fit` (``last.pt``) and the knobs editor loop (``editor.pt``).
:func:`snapshot` copies the state of named parts (anything with ``state_dict``/``load_state_dict``),
every random generator and a plain ``progress`` dict; :func:`write_snapshot` stores it atomically;
:func:`read_snapshot` loads it with ``weights_only=True`` (tensors and plain values only: a crafted
file is refused, never run) and :func:`restore` puts it back. NumPy's and Python's RNG states are
stored as plain lists, torch's as tensors.
"""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from matsight.errors import RunFolderError
from matsight.models import safe_load
from matsight.store import atomic_path

RESUME_FORMAT = "matsight-resume-1"


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any], /) -> Any: ...


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every random state a loop draws from: ``generator`` (shuffling, targets), torch's global
    generator, Python's ``random`` and NumPy's global generator (plain lists and numbers)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "generator": generator.get_state(),
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    """Put back the states of :func:`rng_state`."""
    generator.set_state(state["generator"].cpu())  # RNG states are CPU tensors even when loaded onto a GPU
    torch.set_rng_state(state["torch"].cpu())
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def snapshot(parts: dict[str, Stateful], generator: torch.Generator, progress: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of everything a resumed loop needs (safe to write from another thread)."""
    return copy.deepcopy(
        {
            "format": RESUME_FORMAT,
            "states": {name: part.state_dict() for name, part in parts.items()},
            "rng": rng_state(generator),
            "progress": progress,
        }
    )


def write_snapshot(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a :func:`snapshot` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_snapshot(
    path: str | os.PathLike, device: str | torch.device = "cpu", fix: str | None = None
) -> dict[str, Any]:
    """A snapshot written by :func:`write_snapshot`; RunFolderError (one line naming ``path`` and the
    ``fix``, by default deleting it to start the run again) for a truncated, corrupt, unsafe or older file."""
    path = Path(path)
    fix = fix or f"delete {path} to start this run from the beginning"
    try:
        state = safe_load(path, "resume state", map_location=device)
    except RunFolderError as exc:
        raise RunFolderError(f"{exc}; {fix}") from None
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise RunFolderError(f"{path} is not a resume state of this matsight version: {fix}")
    return state


def restore(state: dict[str, Any], parts: dict[str, Stateful], generator: torch.Generator) -> dict[str, Any]:
    """Load a snapshot's states into ``parts`` and the random generators; returns its ``progress``."""
    missing = sorted(set(parts) - set(state["states"]))
    if missing:
        raise RunFolderError(f"the resume state lacks {', '.join(missing)}: delete it to start from the beginning")
    for name, part in parts.items():
        part.load_state_dict(state["states"][name])
    restore_rng(state["rng"], generator)
    return state["progress"]
