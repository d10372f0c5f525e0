"""Predictions of a trained run, in the user's units, for measured and unmeasured images alike.

``predict(run_dir, data)`` reads ``data`` the way the run's :class:`~matsight.models.ModelSpec` says
(:func:`~matsight.data.inputs.read_for_model`): a lots folder (blank or missing property cells are
fine), a multi-label or classes folder, or any folder of images. Each row says whether the image was
in the run's training split, its held-out split, or is new (:func:`matsight.training.seen.split_of`),
and whether it looks unlike the training images (:mod:`matsight.ood`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from matsight.data import ImageDataset, ImageTable, read_classes, read_lots, read_multilabel
from matsight.data.inputs import read_for_model
from matsight.models import ModelSpec, read_spec
from matsight.ood import forward_with_statistics, summary_line
from matsight.ood.run import score_arrays
from matsight.scale import LOCAL, Engine, chunk_store
from matsight.scale.workers import ImageBatchWorker
from matsight.training.seen import split_of

LABEL, PROB = "label__", "prob__"


def read_table(data: str | os.PathLike, task: str, target: str | None = None) -> ImageTable:
    """The dataset folder read with the layout that belongs to ``task`` (``target``: the lots' property
    column, see :func:`~matsight.data.layouts.choose_target`)."""
    if task == "regression":
        return read_lots(data, target=target)
    if task == "multilabel":
        return read_multilabel(data)
    return read_classes(data)


@torch.no_grad()
def model_outputs(
    model: torch.nn.Module, dataset: ImageDataset, device: str | torch.device = "cpu", batch_size: int = 64
) -> np.ndarray:
    """Raw outputs ``float32 [N, num_outputs]`` of ``model`` over ``dataset`` (evaluation crops)."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size)
    return torch.cat([model(images.to(device)).float().cpu() for images, _ in loader]).numpy()


def outputs_to_table(outputs: np.ndarray, table: ImageTable, spec: ModelSpec) -> pd.DataFrame:
    """One row per image: ``image`` (relative to the data folder), ``lot`` (the lot, sub-folder or class
    folder), the prediction in the user's units and what was measured (empty when not measured).

    Regression: ``predicted``, ``measured``. Classification: ``predicted``, ``measured`` (class names)
    and ``prob__<class>``. Multi-label: ``label__<name>`` (empty when unknown) and ``prob__<name>``.
    """
    frame = pd.DataFrame({"image": [p.relative_to(table.root).as_posix() for p in table.paths], "lot": table.groups})
    known = table.targets if table.targets.shape[1] else np.full((len(table), 1), np.nan, np.float32)
    if spec.task == "regression":
        frame["predicted"] = spec.to_user_units(outputs[:, 0], 0)
        frame["measured"] = known[:, 0]
    elif spec.task == "classification":
        probabilities = torch.softmax(torch.from_numpy(outputs), dim=1).numpy()
        names = list(spec.class_names) or [str(k) for k in range(outputs.shape[1])]
        frame["predicted"] = [names[i] for i in probabilities.argmax(1)]
        frame["measured"] = [names[int(i)] if np.isfinite(i) else None for i in known[:, 0]]
        for k, name in enumerate(names):
            frame[f"{PROB}{name}"] = probabilities[:, k]
    else:
        probabilities = 1 / (1 + np.exp(-outputs))
        names = list(spec.target_names) or [str(k) for k in range(outputs.shape[1])]
        labels = known if known.shape[1] == len(names) else np.full((len(table), len(names)), np.nan)
        for k, name in enumerate(names):
            column = labels[:, k]
            frame[f"{LABEL}{name}"] = column.astype(np.uint8) if np.isfinite(column).all() else column
            frame[f"{PROB}{name}"] = probabilities[:, k].astype(np.float32)
    return frame


@dataclass
class PredictionWorker(ImageBatchWorker):
    """Per chunk, raw ``output [n, K]``, the ``features [n, D]`` and ``intensities [n, S]`` the
    out-of-distribution check reads (:func:`~matsight.ood.features.forward_with_statistics`; picklable,
    so Ray actors can build it)."""

    def compute(self, model: torch.nn.Module, images: torch.Tensor) -> dict[str, np.ndarray]:
        return forward_with_statistics(model, images)


def predict(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | ImageTable,
    device: str = "cpu",
    engine: Engine = LOCAL,
    chunks: str | os.PathLike | None = None,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Predictions of the model in ``run_dir`` for every image of ``data`` (a folder or a table).

    Columns: those of :func:`outputs_to_table`, then ``split`` (``train``, ``held-out`` or ``new``:
    whether the run trained on, held out, or never saw the image's content) and, when the run keeps an
    out-of-distribution reference, ``out_of_distribution``, ``ood_score``, ``outside_target_range``,
    ``ood_reasons``; ``frame.attrs["ood_summary"]`` then holds the one-line verdict. The outputs are
    computed in chunks of ``batch_size`` images on
    ``engine`` (local or Ray) into the folder ``chunks`` (a rerun resumes there; ``None``: a temporary
    folder).
    """
    spec = read_spec(Path(run_dir))
    table = data if isinstance(data, ImageTable) else read_for_model(data, spec)
    factory = spec.batch_worker(PredictionWorker, str(run_dir), table.paths, device=device, batch_size=batch_size)
    with chunk_store(chunks) as store:
        result = engine.run(len(table), batch_size, store, factory, device, description="predicting")
        arrays = {key: result.concat(key) for key in ("output", "features", "intensities")}
    frame = outputs_to_table(arrays["output"], table, spec)
    frame["split"] = split_of(run_dir, table.paths)
    scores = score_arrays(run_dir, spec, arrays)
    if scores is not None:
        for column, values in scores.columns().items():
            frame[column] = values
        frame.attrs["ood_summary"] = summary_line(scores, list(frame["image"]))
    return frame
