"""Was the probed model pretrained on textures? The rule, the record and the recipe.

The texture probe compares SEM tiles with texture images *through the model's features*; a
regressor trained from scratch on SEM lots has never seen a texture, its features for texture images
are out of distribution and the scores follow the lot-level prediction, not textures (measured: 28 of
28 textures "significant" with one sign on a from-scratch model; see docs/textures.md).

Rule: a run counts as pretrained when its training manifest (``manifest.json`` of the run folder,
command ``train``) records a non-empty ``weights`` argument, i.e. it started from a local weights
file (``matsight train ... --weights FILE``: ImageNet weights or the texture classifier of
:data:`RECIPE`). A run with no training manifest (a bare checkpoint) cannot tell, and is treated as
not pretrained. matsight cannot check what the weights file learnt; the record names it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

RECIPE = (
    "matsight synth textures PRE-BANK --per-class 40 --seed 100\n"
    "matsight train PRE-BANK --task classification --out PRE --epochs 8 --image-size 96 --optimizer adam "
    "--schedule cosine\n"
    "matsight train LOTS --weights PRE/checkpoint.pt --out RUN ..."
)
"""Pretrain a texture classifier on a bank of its own (seed 100, not the probe bank's), then start the
regressor from it (its head is replaced)."""


@dataclass(frozen=True)
class Pretraining:
    """What a run's training manifest says about its start: ``weights`` (the file it started from, or
    ``None``) and ``known`` (``False`` when the run has no training manifest)."""

    weights: str | None
    known: bool

    @property
    def pretrained(self) -> bool:
        return bool(self.weights)

    def warning(self) -> str | None:
        """A one-paragraph warning with the recipe, or ``None`` for a pretrained run."""
        if self.pretrained:
            return None
        why = "was trained from scratch (no --weights)" if self.known else "has no training manifest to tell"
        return (
            f"the model {why}: its features were never trained on textures, so texture scores may follow "
            f"the lots' predictions rather than textures. Pretrain on textures first:\n{RECIPE}"
        )


def pretraining_of(model_run: str | os.PathLike) -> Pretraining:
    """Read the rule above from ``model_run`` (a run folder or the checkpoint file inside one)."""
    path = Path(model_run)
    manifest = (path if path.is_dir() else path.parent) / "manifest.json"
    try:
        record = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return Pretraining(weights=None, known=False)
    if record.get("command") != "train":
        return Pretraining(weights=None, known=False)
    weights = (record.get("arguments") or {}).get("weights")
    return Pretraining(weights=str(weights) if weights else None, known=True)
