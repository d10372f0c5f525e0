"""matsight.analytics: ACT/FEA/PRD data, embeddings and multi-label metrics for the visual-analytics app.

Exports load lazily so that light modules (e.g. ``matsight.analytics.schema``) do not import torch.
"""

from matsight.lazy import lazy_exports

_EXPORTS = {
    "run": "compute",
    "AnalyticsConfig": "compute",
    "features_and_logits": "compute",
    "Analytics": "compute",
    "SpaceEmbedding": "embeddings",
    "place_new": "embeddings",
    "per_attribute": "metrics",
    "average_precision": "metrics",
    "mean_average_precision": "metrics",
    "outcomes": "metrics",
    "error_distance": "metrics",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
