"""Predictions of a trained run on a dataset, in the user's units."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from matsight.data import ImageDataset, ImageTable, read_classes, read_lots, read_multilabel
from matsight.models import read_checkpoint
from matsight.scale import LOCAL, Engine, chunk_store
from matsight.scale.workers import ImageBatchWorker


def read_table(data: str | os.PathLike, task: str, target: str = "cps") -> ImageTable:
    """The dataset folder read with the layout that belongs to ``task``."""
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


def outputs_to_table(outputs: np.ndarray, table: ImageTable, meta: dict) -> pd.DataFrame:
    """One row per image with the measured target(s) and the prediction in the user's units.

    Regression: ``measured``, ``predicted``. Classification: ``label``, ``predicted`` (class
    names) and ``prob__<class>``. Multi-label: ``label__<name>`` and ``prob__<name>``.
    """
    frame = pd.DataFrame({"image": [str(p.relative_to(table.root)) for p in table.paths], "group": table.groups})
    task = meta["task"]
    if task == "regression":
        frame["measured"] = table.targets[:, 0]
        frame["predicted"] = outputs[:, 0] * meta["target_std"][0] + meta["target_mean"][0]
    elif task == "classification":
        probabilities = torch.softmax(torch.from_numpy(outputs), dim=1).numpy()
        names = meta["class_names"]
        frame["label"] = [table.class_names[int(i)] for i in table.targets[:, 0]]
        frame["predicted"] = [names[i] for i in probabilities.argmax(1)]
        for k, name in enumerate(names):
            frame[f"prob__{name}"] = probabilities[:, k]
    else:
        probabilities = 1 / (1 + np.exp(-outputs))
        for k, name in enumerate(meta["target_names"]):
            frame[f"label__{name}"] = table.targets[:, k].astype(np.uint8)
            frame[f"prob__{name}"] = probabilities[:, k].astype(np.float32)
    return frame


def predict(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | ImageTable,
    device: str = "cpu",
    engine: Engine = LOCAL,
    chunks: str | os.PathLike | None = None,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Predictions of the model in ``run_dir`` for every image of ``data`` (a folder or a table).

    The outputs are computed in chunks of ``batch_size`` images on ``engine`` (local or Ray) into
    the folder ``chunks`` (a rerun resumes there; ``None``: a temporary folder).
    """
    meta = read_checkpoint(Path(run_dir))["meta"]
    table = data if isinstance(data, ImageTable) else read_table(data, meta["task"], meta["target_names"][0])
    factory = ImageBatchWorker(
        str(run_dir),
        [str(p) for p in table.paths],
        meta["image_size"],
        meta["crop_size"],
        meta["channels"],
        device=device,
        batch_size=batch_size,
    )
    with chunk_store(chunks) as store:
        outputs = engine.run(len(table), batch_size, store, factory, device, description="predicting").concat("output")
    return outputs_to_table(outputs, table, meta)
