"""One fit loop for regression, classification and multi-label models; metrics; predictions.

Public API: ``fit(model, train_set, val_set, spec, run, FitConfig(...))`` (any torch Dataset),
``train(TrainConfig)`` (what ``matsight train`` runs), ``predict(run_dir, data)`` (measured or not),
``evaluate``, ``split_indices`` (the one train/held-out split) and the metric functions.
"""

from matsight.data.split import split_indices
from matsight.training.config import TrainConfig
from matsight.training.loop import FitConfig, fit
from matsight.training.metrics import classification_metrics, multilabel_metrics, per_group_means, regression_metrics
from matsight.training.predict import model_outputs, outputs_to_table, predict, read_for_model, read_table
from matsight.training.train import evaluate, train

__all__ = [
    "FitConfig",
    "TrainConfig",
    "classification_metrics",
    "evaluate",
    "fit",
    "model_outputs",
    "multilabel_metrics",
    "outputs_to_table",
    "per_group_means",
    "predict",
    "read_for_model",
    "read_table",
    "regression_metrics",
    "split_indices",
    "train",
]
