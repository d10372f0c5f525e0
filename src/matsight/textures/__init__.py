"""matsight.textures: name what a CNN sees in salient regions with describable textures (paper §3.4, §4).

``TextureProbe(model, stage="Z5").fit(bank).correlate(lots, property="cps")`` → :class:`TextureResult`;
``run(TexturesConfig(out, run, lots, bank))`` is the ``matsight textures`` workflow. Names are imported
on first use (importing the package loads no torch, so the CLI starts fast).
"""

from __future__ import annotations

from matsight.lazy import lazy_exports

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

__getattr__ = lazy_exports(__name__, _HOMES)
