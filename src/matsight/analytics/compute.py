"""``compute_analytics``: the data the visual-analytics app reads, for a trained multi-label run.

Writes under ``out_dir`` (default ``<run>/analytics/``) ``points.parquet`` (one row per image:
embeddings, error, labels, probabilities), ``analytics.json`` (attributes, metrics, settings) and
``per_attribute.csv``, as fixed in the contract "Analytics data for the app".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matsight.analytics import metrics
from matsight.analytics.embeddings import SpaceEmbedding
from matsight.data import ImageTable, read_multilabel
from matsight.errors import ConfigError
from matsight.models import read_checkpoint
from matsight.scale import LOCAL, Engine
from matsight.scale.workers import ImageBatchWorker
from matsight.store import ChunkStore, RunFolder, claim_folder
from matsight.store.atomic import atomic_path, atomic_write_json


@torch.no_grad()
def features_and_logits(model: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """For one batch ``images [n, C, H, W]``: penultimate ``features float32 [n, F]`` (the input of
    ``model.head``, by a forward hook) and ``output float32 [n, K]`` (logits)."""
    captured: list[torch.Tensor] = []
    hook = model.head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].flatten(1)))
    try:
        output = model(images).float()
    finally:
        hook.remove()
    return {"features": captured[0].float(), "output": output}


@dataclass
class FeaturesWorker(ImageBatchWorker):
    """Per chunk, :func:`features_and_logits` (picklable, so Ray actors can build it)."""

    def compute(self, model: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return features_and_logits(model, images)


def _splits(run: RunFolder, table: ImageTable) -> np.ndarray:
    """``train``/``val`` per image, re-derived from the run's split arguments when ``table`` is the
    training data; every image is ``val`` (unseen) for other data."""
    from matsight.training import split_indices

    arguments = run.read_manifest().get("arguments", {})
    split = np.full(len(table), "val", dtype=object)
    if arguments.get("data") and Path(arguments["data"]).resolve() == Path(table.root).resolve():
        train_rows, _ = split_indices(
            table, arguments.get("split", "tiles"), arguments.get("val_fraction", 0.2), arguments.get("seed", 0)
        )
        split[train_rows] = "train"
    return split


@dataclass
class Analytics:
    """What :func:`compute_analytics` wrote (``out_dir``), the table of points, the summary
    (``analytics.json`` content) and the fitted embeddings (``{act, fea, prd}``) for ``place_new``."""

    out_dir: Path
    points: pd.DataFrame
    summary: dict
    embeddings: dict[str, SpaceEmbedding]


def compute_analytics(
    run_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    distance: str = "cosine",
    threshold: float = 0.5,
    seed: int = 0,
    device: str = "cpu",
    perplexity: float = 30.0,
    engine: Engine = LOCAL,
    batch_size: int = 64,
) -> Analytics:
    """Labels (ACT), penultimate features (FEA) and probabilities (PRD) of every image of the
    layout-2 folder ``data_dir`` under the model of ``run_dir``; their t-SNE embeddings; metrics;
    per-image ACT–PRD error. Writes ``points.parquet``, ``analytics.json``, ``per_attribute.csv``.
    ``data_dir`` None → the data the run was trained on (from its manifest). Features and outputs
    are computed on ``engine`` (local or Ray) in resumable chunks of ``batch_size`` images
    (``<out_dir>/arrays/inputs``)."""
    if distance not in ("cosine", "euclidean"):
        raise ConfigError(f"--distance {distance!r}: choose cosine or euclidean")
    run = RunFolder(run_dir, create=False)
    meta = read_checkpoint(run.path)["meta"]
    if meta.get("task") != "multilabel":
        raise ConfigError(
            f"{run.path} holds a {meta.get('task')} model: analytics need a multilabel run "
            "(matsight train DATA --task multilabel)"
        )
    if data_dir is None:
        data_dir = run.read_manifest().get("arguments", {}).get("data")
        if data_dir is None:
            raise ConfigError(f"{run.path}: the manifest names no training data; give the DATA folder")
    table = read_multilabel(data_dir)
    names = list(meta["target_names"])
    if table.target_names != names:
        raise ConfigError(
            f"{Path(data_dir) / 'labels.csv'}: attributes {table.target_names} differ from the "
            f"model's {names}; use data labelled with the model's attributes"
        )
    out = Path(out_dir) if out_dir is not None else run.path / "analytics"
    claim_folder(out, "analytics", reads=[run.path, data_dir])  # never an input, never someone else's folder
    factory = FeaturesWorker(
        str(run.path),
        [str(p) for p in table.paths],
        meta["image_size"],
        meta["crop_size"],
        meta["channels"],
        device=device,
        batch_size=batch_size,
    )
    inputs = engine.run(
        len(table), batch_size, ChunkStore(out / "arrays" / "inputs"), factory, device, description="features"
    )
    features, logits = inputs.concat("features"), inputs.concat("output")
    labels, probs = table.targets.astype(np.uint8), (1 / (1 + np.exp(-logits))).astype(np.float32)

    vectors = {"act": labels.astype(np.float32), "fea": features, "prd": probs}
    embeddings = {space: SpaceEmbedding(space, perplexity=perplexity, seed=seed) for space in vectors}
    points = pd.DataFrame(
        {"image": [str(p.relative_to(Path(table.root) / "images")) for p in table.paths], "split": _splits(run, table)}
    )
    for space, X in vectors.items():
        xy = embeddings[space].fit_transform(X)
        points[f"{space}_x"], points[f"{space}_y"] = xy[:, 0], xy[:, 1]
    points["error"] = metrics.error_distance(labels, probs, distance)
    for k, name in enumerate(names):
        points[f"label__{name}"] = labels[:, k]
        points[f"prob__{name}"] = probs[:, k]

    table_k = metrics.per_attribute(labels, probs, names, threshold)
    summary = {
        "attributes": names,
        "data_root": str(Path(table.root).resolve()),
        "distance": distance,
        "threshold": threshold,
        "run": str(run.path.resolve()),
        "n": len(points),
        "map": metrics.mean_average_precision(labels, probs),
        "per_attribute": {
            row.attribute: {m: float(getattr(row, m)) for m in ("precision", "recall", "f1", "ap", "accuracy")}
            for row in table_k.itertuples()
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "points.parquet") as tmp:
        points.to_parquet(tmp, index=False)
    with atomic_path(out / "per_attribute.csv") as tmp:
        table_k.to_csv(tmp, index=False)
    atomic_write_json(out / "analytics.json", summary)
    return Analytics(out_dir=out, points=points, summary=summary, embeddings=embeddings)
