"""matsight.textures: name what a CNN sees in salient regions with describable textures (paper §3.4, §4).

``TextureProbe(model, stage="Z5").fit(bank).correlate(lots, property="cps")`` → :class:`TextureResult`;
``run(TexturesConfig(out, run, lots, bank))`` is the ``matsight textures`` workflow. Names are imported
on first use (importing the package loads no torch, so the CLI starts fast).
"""

from __future__ import annotations

import importlib

_HOMES = {
    "SIGN_CONVENTION": "correlation",
    "TextureProbe": "probe",
    "TextureResult": "probe",
    "TexturesConfig": "config",
    "grouped_mean_distances": "distances",
    "nearest": "distances",
    "run": "analysis",
    "texture_scores": "correlation",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'matsight.textures' has no attribute {name!r}")
    return getattr(importlib.import_module(f"matsight.textures.{_HOMES[name]}"), name)
