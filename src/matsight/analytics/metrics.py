"""Multi-label metrics in vectorised numpy (fast enough for a million images, server side).

Inputs: ``labels`` ``[N, K]`` 0/1, ``scores`` ``[N, K]`` probabilities in [0, 1], ``threshold``
turns scores into predictions. Results agree with scikit-learn (tested).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matsight.errors import ConfigError

# Codes of :func:`outcomes`: per image and attribute.
TN, FP, FN, TP = 0, 1, 2, 3


def outcomes(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """``uint8 [N, K]`` outcome codes: :data:`TN` 0, :data:`FP` 1, :data:`FN` 2, :data:`TP` 3."""
    y, p = np.asarray(labels, bool), np.asarray(predictions, bool)
    return np.where(y, np.where(p, TP, FN), np.where(p, FP, TN)).astype(np.uint8)


def counts(labels: np.ndarray, predictions: np.ndarray) -> dict[str, np.ndarray]:
    """Per-attribute ``tp, fp, fn, tn`` counts ``int64 [K]``."""
    y, p = np.asarray(labels, bool), np.asarray(predictions, bool)
    return {"tp": (y & p).sum(0), "fp": (~y & p).sum(0), "fn": (y & ~p).sum(0), "tn": (~y & ~p).sum(0)}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den with 0 where den is 0 (scikit-learn's ``zero_division=0``)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-attribute average precision ``float64 [K]`` (step-wise, as scikit-learn's
    ``average_precision_score``); NaN for an attribute without positive labels."""
    y = np.asarray(labels, bool)
    s = np.asarray(scores, np.float64)
    if y.ndim == 1:
        y, s = y[:, None], s[:, None]
    result = np.full(y.shape[1], np.nan)
    for k in range(y.shape[1]):
        positives = y[:, k].sum()
        if positives == 0:
            continue
        order = np.argsort(-s[:, k], kind="mergesort")
        score, hit = s[order, k], y[order, k]
        last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # last index of each distinct score
        tps = np.cumsum(hit)[last]
        precision = tps / (last + 1)
        recall = tps / positives
        result[k] = np.sum(np.diff(np.r_[0.0, recall]) * precision)
    return result


def per_attribute(labels: np.ndarray, scores: np.ndarray, names: list[str], threshold: float = 0.5) -> pd.DataFrame:
    """One row per attribute: ``attribute, accuracy, precision, recall, f1, ap, support, tp, fp, fn, tn``."""
    y = np.asarray(labels, bool)
    c = counts(y, np.asarray(scores) >= threshold)
    precision, recall = _ratio(c["tp"], c["tp"] + c["fp"]), _ratio(c["tp"], c["tp"] + c["fn"])
    return pd.DataFrame(
        {
            "attribute": names,
            "accuracy": _ratio(c["tp"] + c["tn"], len(y)),
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "ap": average_precision(y, scores),
            "support": y.sum(0),
            **c,
        }
    )


def mean_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean of the per-attribute average precision over attributes that have positive labels."""
    return float(np.nanmean(average_precision(labels, scores)))


def error_distance(labels: np.ndarray, scores: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """ACT–PRD distance per image ``float32 [N]``: ``euclidean``, or ``cosine`` (1 − cos; an all-zero
    vector is at distance 0 from another all-zero vector and 1 from anything else)."""
    a, b = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
    if metric == "euclidean":
        return np.linalg.norm(a - b, axis=1).astype(np.float32)
    if metric != "cosine":
        raise ConfigError(f"--distance {metric!r}: choose cosine or euclidean")
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = _ratio((a * b).sum(1), na * nb)
    both_zero = (na == 0) & (nb == 0)
    return np.where(both_zero, 0.0, 1.0 - cos).astype(np.float32)
