"""matsight.analytics: ACT/FEA/PRD data, embeddings and multi-label metrics for the visual-analytics app.

Exports load lazily so that light modules (e.g. ``matsight.analytics.schema``) do not import torch.
"""

from importlib import import_module

_EXPORTS = {
    "run": "matsight.analytics.compute",
    "AnalyticsConfig": "matsight.analytics.compute",
    "features_and_logits": "matsight.analytics.compute",
    "Analytics": "matsight.analytics.compute",
    "SpaceEmbedding": "matsight.analytics.embeddings",
    "place_new": "matsight.analytics.embeddings",
    "per_attribute": "matsight.analytics.metrics",
    "average_precision": "matsight.analytics.metrics",
    "mean_average_precision": "matsight.analytics.metrics",
    "outcomes": "matsight.analytics.metrics",
    "error_distance": "matsight.analytics.metrics",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'matsight.analytics' has no attribute {name!r}")
