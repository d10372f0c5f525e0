"""Predictive uncertainty of the crystal classifiers: MC dropout, entropy, mutual information, calibration.

MC dropout (Gal & Ghahramani 2016): the classifier's dropout stays active at inference and ``S``
stochastic forward passes give class probabilities ``p_s [N, C]``. With ``p̄ = mean_s p_s``:

* predictive entropy ``H[p̄] = −Σ_c p̄_c log p̄_c`` (nats): total uncertainty;
* mutual information ``I = H[p̄] − mean_s H[p_s]`` (nats, ≥ 0): the part due to the model's own
  uncertainty (ARISE's indicator of unfamiliar structures); zero when every pass agrees;
* expected calibration error: |accuracy − confidence| averaged over equal-width confidence bins,
  weighted by the bin's share of the predictions.

Models expose ``features(x)`` (deterministic) and a ``classifier`` head holding the dropout
(:mod:`matsight.models.crystal`), so only the head is re-run per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def mc_dropout_probabilities(
    model: nn.Module, inputs: torch.Tensor, samples: int = 30, batch_size: int = 128, seed: int = 0
) -> torch.Tensor:
    """``float32 [samples, N, C]`` softmax probabilities with dropout active (batch norm in eval
    mode); ``samples = 1`` with dropout off gives the deterministic prediction instead."""
    model.eval()
    tensors = [*model.parameters(), *model.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    dropouts = [m for m in model.classifier.modules() if isinstance(m, nn.Dropout)]
    out = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(inputs), batch_size):
            features = model.features(inputs[start : start + batch_size].to(device))
            for m in dropouts:
                m.train(samples > 1)
            out.append(torch.stack([model.classifier(features).softmax(-1) for _ in range(samples)]).cpu())
            for m in dropouts:
                m.eval()
    return torch.cat(out, dim=1).float()


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) over the last axis."""
    return -(p * p.clamp_min(1e-12).log()).sum(-1)


def predictive_entropy(samples: torch.Tensor) -> torch.Tensor:
    """``[N]`` entropy of the mean prediction of ``samples [S, N, C]``."""
    return entropy(samples.mean(0))


def mutual_information(samples: torch.Tensor) -> torch.Tensor:
    """``[N]`` H[mean p] − mean H[p] of ``samples [S, N, C]`` (clamped at 0 against rounding)."""
    return (predictive_entropy(samples) - entropy(samples).mean(0)).clamp_min(0)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE over ``bins`` equal-width bins of ``confidence [N]`` in [0, 1]; ``correct [N]`` bool."""
    confidence, correct = np.asarray(confidence, np.float64), np.asarray(correct, np.float64)
    if len(confidence) == 0:
        return float("nan")
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


@dataclass
class Predictions:
    """Per structure: ``predicted`` class (``int64 [N]``), ``confidence`` (max mean probability),
    ``entropy`` and ``mutual_information`` (nats), and the mean ``probabilities [N, C]``."""

    predicted: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    mutual_information: np.ndarray
    probabilities: np.ndarray

    @classmethod
    def from_samples(cls, samples: torch.Tensor) -> Predictions:
        mean = samples.mean(0)
        confidence, predicted = mean.max(-1)
        return cls(
            predicted.numpy().astype(np.int64),
            confidence.numpy(),
            predictive_entropy(samples).numpy(),
            mutual_information(samples).numpy(),
            mean.numpy(),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-structure arrays by name: ``predicted``, ``confidence``, ``entropy``, ``mutual_information``."""
        return {
            "predicted": self.predicted,
            "confidence": self.confidence,
            "entropy": self.entropy,
            "mutual_information": self.mutual_information,
        }

    def summary(self, labels: np.ndarray) -> dict[str, float]:
        """``accuracy`` (%), mean ``entropy`` and ``mutual_information`` (nats), ``ece`` against ``labels``."""
        correct = self.predicted == np.asarray(labels)
        return {
            "accuracy": 100 * float(correct.mean()),
            "entropy": float(self.entropy.mean()),
            "mutual_information": float(self.mutual_information.mean()),
            "ece": expected_calibration_error(self.confidence, correct),
        }
