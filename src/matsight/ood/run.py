"""A run's out-of-distribution reference: fitted when training ends, read by every command that
meets new images (predict, saliency, textures, the app).

``train`` calls :func:`fit_run_reference` with the best checkpoint's model on the training and
held-out images (evaluation crops) and writes ``<run>/ood.json`` (+ ``ood.npz``). Later commands
call :func:`score_images` (one forward pass with :func:`~matsight.ood.features.forward_with_statistics`)
or, when they already ran that pass, :func:`score_arrays`; :func:`matsight.ood.summary_line` says
the verdict in one line. Runs made before the reference existed simply have no verdicts (None).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from matsight.data import ImageTable
from matsight.models import ModelSpec
from matsight.ood.features import dataset_statistics
from matsight.ood.reference import OODReference, OODScores, fit_reference
from matsight.store import ChunkStore

REFERENCE = "ood.json"


def reference_path(run_dir: str | os.PathLike) -> Path:
    """``<run>/ood.json`` (``run_dir`` may also be the checkpoint file inside the run)."""
    run_dir = Path(run_dir)
    return (run_dir if run_dir.is_dir() else run_dir.parent) / REFERENCE


def fit_run_reference(
    run_dir: str | os.PathLike,
    model: nn.Module,
    spec: ModelSpec,
    train: ImageTable,
    held_out: ImageTable,
    device: str | torch.device = "cpu",
    **dataset_options,
) -> OODReference:
    """Fit the reference on ``train`` and ``held_out`` (thresholds) and save it in the run.

    ``dataset_options`` go to :meth:`ModelSpec.dataset` (e.g. the training run's ``decoder``)."""
    train_stats = dataset_statistics(model, spec.dataset(train, **dataset_options), device)
    held_stats = dataset_statistics(model, spec.dataset(held_out, **dataset_options), device)
    reference = fit_reference(
        train_stats["features"],
        held_stats["features"],
        train_stats["intensities"],
        held_stats["intensities"],
        targets_train=train.targets if spec.task == "regression" else None,
    )
    reference.save(reference_path(run_dir))
    return reference


def load_run_reference(run_dir: str | os.PathLike) -> OODReference | None:
    """The run's reference, or None for a run that has none (made before matsight kept one)."""
    path = reference_path(run_dir)
    return OODReference.load(path) if path.is_file() else None


def _predictions(outputs: np.ndarray, spec: ModelSpec) -> np.ndarray | None:
    if spec.task != "regression":
        return None
    return np.asarray(spec.to_user_units(outputs))


def score_arrays(run_dir: str | os.PathLike, spec: ModelSpec, arrays: dict[str, np.ndarray]) -> OODScores | None:
    """Verdicts from the arrays of one :func:`~matsight.ood.features.forward_with_statistics` pass
    (``output``, ``features``, ``intensities``); None when the run has no reference."""
    reference = load_run_reference(run_dir)
    if reference is None:
        return None
    return reference.score(arrays["features"], arrays["intensities"], predictions=_predictions(arrays["output"], spec))


def score_images(
    run_dir: str | os.PathLike,
    model: nn.Module,
    spec: ModelSpec,
    table: ImageTable,
    device: str | torch.device = "cpu",
) -> OODScores | None:
    """Verdicts on every image of ``table`` (one evaluation forward pass); None without a reference."""
    if load_run_reference(run_dir) is None:
        return None
    return score_arrays(run_dir, spec, dataset_statistics(model, spec.dataset(table), device))


STATISTICS = ("output", "features", "intensities")
"""The arrays of :func:`~matsight.ood.features.forward_with_statistics` that :func:`score_arrays` reads."""


def score_store(run_dir: str | os.PathLike, spec: ModelSpec, store: ChunkStore) -> OODScores | None:
    """Verdicts from a chunk store whose chunks also hold :data:`STATISTICS` (a batch worker that adds
    ``forward_with_statistics`` to its own arrays, e.g. saliency maps); None when the run has no reference."""
    if load_run_reference(run_dir) is None:
        return None
    return score_arrays(run_dir, spec, {key: store.concat(key) for key in STATISTICS})
