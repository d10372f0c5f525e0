"""One fit loop for regression, classification and multi-label models; metrics; predictions.

Public API: ``fit`` (any torch Dataset), ``train(TrainConfig)`` (what ``matsight train`` runs),
``predict(run_dir, data)``, ``evaluate``, and the metric functions.
"""

from matsight.training.config import TrainConfig
from matsight.training.loop import fit
from matsight.training.metrics import classification_metrics, multilabel_metrics, per_group_means, regression_metrics
from matsight.training.predict import model_outputs, outputs_to_table, predict, read_table
from matsight.training.train import evaluate, split_indices, train

__all__ = [
    "TrainConfig",
    "classification_metrics",
    "evaluate",
    "fit",
    "model_outputs",
    "multilabel_metrics",
    "outputs_to_table",
    "per_group_means",
    "predict",
    "read_table",
    "regression_metrics",
    "split_indices",
    "train",
]
