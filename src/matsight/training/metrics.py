"""Metrics for the three tasks (numpy in, plain floats out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² of 1-D arrays in the user's units."""
    y_true, y_pred = np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()
    return {
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "r2": float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
    }


def per_group_means(groups: list[str], y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Per lot: measured value, mean and standard deviation of the tile predictions, tile count."""
    frame = pd.DataFrame({"lot": groups, "measured": np.ravel(y_true), "predicted": np.ravel(y_pred)})
    table = frame.groupby("lot", sort=True).agg(
        measured=("measured", "first"),
        predicted_mean=("predicted", "mean"),
        predicted_std=("predicted", "std"),
        tiles=("predicted", "size"),
    )
    return table.reset_index().fillna({"predicted_std": 0.0})


def classification_metrics(y_true: np.ndarray, logits: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy and the confusion matrix (rows: true class, columns: predicted)."""
    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(logits).argmax(axis=1)
    matrix = skm.confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "confusion_matrix": matrix.tolist(),
        "class_names": list(class_names),
    }


def multilabel_metrics(labels: np.ndarray, probabilities: np.ndarray, names: list[str], threshold: float = 0.5) -> dict:
    """Per-attribute precision, recall, F1, AP and accuracy at ``threshold``; mAP over attributes
    that have at least one positive label."""
    labels = np.asarray(labels).astype(int)
    predicted = (np.asarray(probabilities) >= threshold).astype(int)
    per_attribute = {}
    for k, name in enumerate(names):
        has_positive = labels[:, k].any()
        per_attribute[name] = {
            "precision": float(skm.precision_score(labels[:, k], predicted[:, k], zero_division=0)),
            "recall": float(skm.recall_score(labels[:, k], predicted[:, k], zero_division=0)),
            "f1": float(skm.f1_score(labels[:, k], predicted[:, k], zero_division=0)),
            "ap": float(skm.average_precision_score(labels[:, k], probabilities[:, k]))
            if has_positive
            else float("nan"),
            "accuracy": float(skm.accuracy_score(labels[:, k], predicted[:, k])),
            "support": int(labels[:, k].sum()),
        }
    aps = [m["ap"] for m in per_attribute.values() if np.isfinite(m["ap"])]
    return {"map": float(np.mean(aps)) if aps else float("nan"), "per_attribute": per_attribute}
