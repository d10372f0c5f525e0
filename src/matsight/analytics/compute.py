"""The analytics workflow: the data the visual-analytics app reads, for a trained multi-label run.

``run(AnalyticsConfig(out=..., run=...))`` writes a run folder (manifest, status, report section)
holding ``points.parquet`` (one row per image: embeddings, error, labels, probabilities),
``analytics.json`` (attributes, metrics, settings) and ``per_attribute.csv``, as fixed in the
contract "Analytics data for the app", plus ``figures/embeddings.png``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from matsight.analytics import metrics
from matsight.analytics.embeddings import SpaceEmbedding
from matsight.data import ImageTable, read_multilabel
from matsight.errors import ConfigError
from matsight.models import ModelSpec, read_spec
from matsight.models.features import features_and_logits
from matsight.report import ORDER, Section, write_section
from matsight.report.style import SEQUENTIAL_CMAP, save_figure, styled
from matsight.scale import LOCAL, Engine
from matsight.scale.workers import ImageBatchWorker
from matsight.store import RunFolder
from matsight.store.atomic import atomic_path, atomic_write_json
from matsight.workflow import WorkflowConfig, execute


@dataclass
class FeaturesWorker(ImageBatchWorker):
    """Per chunk, :func:`features_and_logits` (picklable, so Ray actors can build it)."""

    def compute(self, model: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return features_and_logits(model, images)


def _splits(trained: RunFolder, table: ImageTable) -> np.ndarray:
    """``train``/``val`` per image, re-derived from the run's split arguments when ``table`` is the
    training data; every image is ``val`` (unseen) for other data."""
    from matsight.training import split_indices

    arguments = trained.read_manifest().get("arguments", {})
    split = np.full(len(table), "val", dtype=object)
    if arguments.get("data") and Path(arguments["data"]).resolve() == Path(table.root).resolve():
        train_rows, _ = split_indices(
            table, arguments.get("split", "tiles"), arguments.get("val_fraction", 0.2), arguments.get("seed", 0)
        )
        split[train_rows] = "train"
    return split


@dataclass(frozen=True)
class AnalyticsConfig(WorkflowConfig):
    """What ``matsight analytics`` is asked to do.

    ``out``: the analytics run folder (the CLI's default is ``<run>/analytics``, where ``matsight app
    RUN`` looks); ``run``: a multi-label training run; ``data``: a layout-2 folder to analyse (None:
    the data the run was trained on, from its manifest); ``distance``: ACT–PRD error distance
    (``cosine`` or ``euclidean``); ``threshold``: probability above which a tag counts as predicted;
    ``perplexity``: t-SNE perplexity; ``batch_size``: images per resumable chunk of features.
    """

    run: Path
    data: Path | None = None
    distance: str = "cosine"
    threshold: float = 0.5
    perplexity: float = 30.0
    seed: int = 0
    batch_size: int = 64
    device: str = "cpu"
    engine: Engine = LOCAL

    command: ClassVar[str] = "analytics"
    input_fields: ClassVar[tuple[str, ...]] = ("run", "data")

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "run", Path(self.run))
        if self.data is not None:
            object.__setattr__(self, "data", Path(self.data))
        if self.distance not in ("cosine", "euclidean"):
            raise ConfigError(f"--distance {self.distance!r}: choose cosine or euclidean")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"--threshold must lie between 0 and 1, got {self.threshold}")
        if not self.perplexity > 0:
            raise ConfigError(f"--perplexity must be positive, got {self.perplexity}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")


@dataclass
class Analytics:
    """What an analytics run folder holds: the table of points (one row per image) and the summary
    (``analytics.json``: attributes, metrics, settings)."""

    out_dir: Path
    points: pd.DataFrame
    summary: dict

    @classmethod
    def read(cls, folder: str | os.PathLike) -> Analytics:
        """The points and summary of the analytics run folder ``folder``."""
        folder = Path(folder)
        return cls(
            folder, pd.read_parquet(folder / "points.parquet"), json.loads((folder / "analytics.json").read_text())
        )


def _multilabel_model(run: RunFolder) -> ModelSpec:
    spec = read_spec(run.path)
    if spec.task != "multilabel":
        raise ConfigError(
            f"{run.path} holds a {spec.task} model: analytics need a multilabel run "
            "(matsight train DATA --task multilabel)"
        )
    return spec


def analysed_data(run: Path, data: Path | None = None) -> Path:
    """``data`` when given, else the folder the run ``run`` was trained on, found through its manifest
    (:meth:`~matsight.store.RunFolder.input_path`); ConfigError asking for DATA when it is gone or changed."""
    if data is not None:
        return Path(data)
    found = RunFolder(run, create=False).input_path("data")
    if found is None:
        raise ConfigError(
            f"{run}: its training data is not where its manifest says, or no longer holds what it "
            "was trained on; give the DATA folder"
        )
    return found


def run(config: AnalyticsConfig) -> RunFolder:
    """Labels (ACT), penultimate features (FEA) and probabilities (PRD) of every image of
    ``config.data`` under the model of ``config.run``; their t-SNE embeddings; metrics; per-image
    ACT–PRD error; an embedding figure and a report section, in the run folder ``config.out``.

    Writes ``points.parquet``, ``analytics.json``, ``per_attribute.csv`` (the app's contract) and
    ``figures/embeddings.png``. Features and outputs are computed on ``config.engine`` (local or
    Ray) in resumable chunks (``<out>/arrays/inputs``).
    """
    trained = RunFolder(config.run, create=False)
    spec = _multilabel_model(trained)
    data = analysed_data(config.run, config.data)
    table = read_multilabel(data)
    if table.target_names != list(spec.target_names):
        raise ConfigError(
            f"{Path(data) / 'labels.csv'}: attributes {table.target_names} differ from the "
            f"model's {list(spec.target_names)}; use data labelled with the model's attributes"
        )

    def body(folder: RunFolder) -> RunFolder:
        _analyse(config, trained, spec, table, folder)
        return folder

    return execute(config, body, implied={"data": data})  # found or given, DATA is never written and is hashed


def _analyse(config: AnalyticsConfig, trained: RunFolder, spec: ModelSpec, table: ImageTable, out: RunFolder) -> None:
    names = list(spec.target_names)
    factory = spec.batch_worker(
        FeaturesWorker, str(trained.path), table.paths, device=config.device, batch_size=config.batch_size
    )
    inputs = config.engine.run(
        len(table), config.batch_size, out.chunks("inputs"), factory, config.device, description="features"
    )
    features, logits = inputs.concat("features"), inputs.concat("output")
    labels, probs = table.targets.astype(np.uint8), (1 / (1 + np.exp(-logits))).astype(np.float32)

    vectors = {"act": labels.astype(np.float32), "fea": features, "prd": probs}
    points = pd.DataFrame(
        {
            "image": [str(p.relative_to(Path(table.root) / "images")) for p in table.paths],
            "split": _splits(trained, table),
        }
    )
    for space, X in vectors.items():
        xy = SpaceEmbedding(space, perplexity=config.perplexity, seed=config.seed).fit_transform(X)
        points[f"{space}_x"], points[f"{space}_y"] = xy[:, 0], xy[:, 1]
    points["error"] = metrics.error_distance(labels, probs, config.distance)
    for k, name in enumerate(names):
        points[f"label__{name}"] = labels[:, k]
        points[f"prob__{name}"] = probs[:, k]

    table_k = metrics.per_attribute(labels, probs, names, config.threshold)
    held_out = points["split"] == "val"
    summary = {
        "attributes": names,
        "data_root": str(Path(table.root).resolve()),
        "distance": config.distance,
        "threshold": config.threshold,
        "run": str(trained.path.resolve()),
        "n": len(points),
        "map": metrics.mean_average_precision(labels, probs),
        "map_held_out": metrics.mean_average_precision(labels[held_out], probs[held_out]) if held_out.any() else None,
        "per_attribute": {
            row.attribute: {m: float(getattr(row, m)) for m in ("precision", "recall", "f1", "ap", "accuracy")}
            for row in table_k.itertuples()
        },
    }
    with atomic_path(out.path / "points.parquet") as tmp:
        points.to_parquet(tmp, index=False)
    with atomic_path(out.path / "per_attribute.csv") as tmp:
        table_k.to_csv(tmp, index=False)
    atomic_write_json(out.path / "analytics.json", summary)
    figure = embedding_figure(points, out.figure_path("embeddings.png"))
    _write_section(config, trained, summary, figure, out)


@styled
def embedding_figure(points: pd.DataFrame, path: Path) -> Path:
    """ACT, FEA and PRD embeddings side by side, points coloured by the ACT–PRD error."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, space in zip(axes, ("act", "fea", "prd")):
        dots = ax.scatter(points[f"{space}_x"], points[f"{space}_y"], c=points["error"], s=4, cmap=SEQUENTIAL_CMAP)
        ax.set(title=f"{space.upper()} space (t-SNE)", xlabel="t-SNE 1", ylabel="t-SNE 2")
    fig.colorbar(dots, ax=axes, label="ACT–PRD error distance")
    return save_figure(fig, path)


def _write_section(config: AnalyticsConfig, trained: RunFolder, summary: dict, figure: Path, out: RunFolder) -> None:
    headline = {"mAP (all images)": round(summary["map"], 3), "images": summary["n"]}
    if summary["map_held_out"] is not None:
        headline["mAP (held-out images)"] = round(summary["map_held_out"], 3)
    write_section(
        out.path,
        Section(
            key=f"analytics-{trained.path.name}",
            title=f"Visual analytics: {trained.path.name}",
            text=(
                f"{summary['n']} images, {len(summary['attributes'])} tags, scored by the multi-label model of "
                f"{trained.path.name}. Embeddings of the labels (ACT), penultimate features (FEA) and "
                f"probabilities (PRD) by openTSNE (perplexity {config.perplexity:g}), coloured by the "
                f"{config.distance} distance between labels and predictions. Open the app with "
                f"`matsight app {trained.path}`."
            ),
            figures=[str(figure.relative_to(out.path))],
            tables=["per_attribute.csv"],
            metrics=headline,
            order=ORDER["analytics"],
        ),
    )
