"""matsight.textures: name what a CNN sees in salient regions with describable textures (paper §3.4, §4).

``TextureProbe(model, stage="Z5").fit(bank).correlate(lots, property="cps")`` → :class:`TextureResult`;
``run(TexturesConfig(out, run, lots, bank))`` is the ``matsight textures`` workflow.
"""

from matsight.textures.analysis import TexturesConfig, run
from matsight.textures.correlation import SIGN_CONVENTION, texture_scores
from matsight.textures.distances import grouped_mean_distances, nearest
from matsight.textures.probe import TextureProbe, TextureResult

__all__ = [
    "SIGN_CONVENTION",
    "TextureProbe",
    "TextureResult",
    "TexturesConfig",
    "grouped_mean_distances",
    "nearest",
    "run",
    "texture_scores",
]
