"""The ``matsight saliency`` workflow: explain a dataset with a trained run.

``run(SaliencyConfig(out=..., run=..., data=...))`` writes into the run folder ``out``:
``arrays/maps/chunk-*.npz`` (``map [n,H,W]`` float16 in [0,1], ``empty [n]`` (no structure: the map is
zeros), ``index [n]``, ``dominant`` for response maps / CLEAR and, when the run keeps an
out-of-distribution reference, the arrays that check reads), ``tables/maps.parquet`` (``image, group,
map_mean, empty_map, peak_y, peak_x``: the peak in the original image's pixels, empty for an empty
map; plus :meth:`~matsight.ood.OODScores.columns` when the run keeps a reference) and
``figures/overlay-<group>.png`` (a few images per lot / class, spread over the lots unless ``lots`` /
``images`` name them). ``evaluate=True`` adds ``tables/faithfulness.parquet``
(:func:`matsight.saliency.evaluation.evaluate_maps` on up to 16 images spread over the lots) and a
report section.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from matsight import options
from matsight.data.dataset import ImageDataset, ImageTable
from matsight.data.inputs import read_for_model
from matsight.errors import ConfigError
from matsight.models import ModelSpec, load_model
from matsight.ood import forward_with_statistics, summary_line
from matsight.ood.run import load_run_reference, score_store
from matsight.progress import note, progress
from matsight.report import ORDER, Section, write_section
from matsight.report.style import save_figure
from matsight.saliency.evaluation import HIGHER_IS_BETTER, METRICS, evaluate_maps
from matsight.saliency.figures import OverlayPanel, direction, overlay_figure
from matsight.saliency.geometry import CropGeometry, image_size_of
from matsight.saliency.registry import default_method, method_spec
from matsight.saliency.selection import evaluation_rows, select_images, spread
from matsight.scale import LOCAL, Engine
from matsight.scale.workers import ImageBatchWorker
from matsight.store import RunFolder
from matsight.workflow import WorkflowConfig, execute


def compute_maps(method: str, model, images: torch.Tensor, target: int | None, sign: int) -> torch.Tensor:
    """``method``'s normalised maps ``[n,H,W]`` (float32) for ``images`` ``[n,C,H,W]`` through the registry
    (the evaluation and MPRT's randomised model go through it)."""
    return method_spec(method).build(model).explain(images, target, sign).map.float()


@dataclass
class SaliencyWorker(ImageBatchWorker):
    """Per-chunk saliency maps (picklable, so Ray actors can build it): the method's ``arrays``
    (``matsight.saliency.registry``): ``map`` float16 [n,H,W] in [0,1], ``empty`` bool [n] and, for
    response/CLEAR maps, ``dominant`` int16 [n,H,W]. ``statistics``: also the ``output``, ``features``
    and ``intensities`` of :func:`~matsight.ood.forward_with_statistics` (one more forward pass, no
    gradient) for the out-of-distribution check."""

    method: str = "fastcam"
    target: int | None = None
    sign: int = 1
    statistics: bool = False

    def compute(self, model, images):
        spec = method_spec(self.method)
        explanation = spec.build(model).explain(images, self.target, self.sign)
        dtypes = {"map": torch.float16, "empty": torch.bool}
        arrays = {k: getattr(explanation, k).detach().to(dtypes.get(k, torch.int16)) for k in spec.arrays}
        if self.statistics:
            arrays.update(forward_with_statistics(model, images))
        return arrays


@dataclass(frozen=True)
class SaliencyConfig(WorkflowConfig):
    """What ``matsight saliency`` is asked to do.

    ``out``: the saliency run folder; ``run``: a training run folder (or its checkpoint file);
    ``data``: the images to explain (any layout the run can read, see
    :func:`~matsight.data.inputs.read_for_model`); ``method``: a key of
    :data:`~matsight.saliency.registry.METHODS` (``None``: the task's default,
    :data:`~matsight.saliency.registry.DEFAULT_METHOD`, recorded in the manifest); ``target``: the
    class or attribute explained (``None``: a regressor's output); ``sign``: +1 explains what pushes
    it up, -1 down; ``lots`` / ``images``: explain and draw only these lots or image files (names or
    paths inside ``data``); ``max_images``: explain only the first N (after ``lots`` / ``images``);
    ``per_group``: overlays per lot; ``evaluate``: also measure faithfulness against random maps;
    ``batch_size``: images per resumable chunk; ``engine``: local or Ray.
    """

    run: Path
    data: Path
    method: str | None = None
    target: int | None = None
    sign: int = 1
    lots: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    max_images: int | None = None
    per_group: int = 3
    evaluate: bool = False
    batch_size: int = 16
    device: str = "cpu"
    engine: Engine = LOCAL
    overwrite: bool = False

    command: ClassVar[str] = "saliency"
    input_fields: ClassVar[tuple[str, ...]] = ("run", "data")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("out", "run", "data"):
            set_(self, name, Path(getattr(self, name)))
        set_(self, "lots", tuple(self.lots or ()))
        set_(self, "images", tuple(self.images or ()))
        if self.method is not None:
            method_spec(self.method)
        options.one_of("--sign", self.sign, (1, -1))
        options.at_least("--batch-size", self.batch_size, 1)
        options.at_least("--per-group", self.per_group, 1)
        if self.max_images is not None:
            options.at_least("--max-images", self.max_images, 1)
        if self.target is not None:
            options.at_least("--target", self.target, 0)
        if self.lots and self.images:
            raise ConfigError("--lots and --images: give one of them, not both")


def target_label(spec: ModelSpec, target: int | None) -> str:
    """The name of what is explained: the property (regressor), the class or the attribute, else ``output K``."""
    names = spec.class_names if spec.task == "classification" else spec.target_names
    index = 0 if target is None else int(target)
    if names and 0 <= index < len(names):
        return str(names[index])
    return "the prediction" if target is None else f"output {index}"


def run(config: SaliencyConfig) -> RunFolder:
    """Explain the images of ``config.data`` with the model of ``config.run`` (see the module docstring).

    The inputs are checked before the run folder is claimed; ``config.method=None`` becomes the task's
    default. Chunks are computed on ``config.engine`` and resume on a rerun with the same config.
    """
    model, spec = load_model(config.run, config.device)
    config = dataclasses.replace(config, method=config.method or default_method(spec.task))
    if spec.task != "regression" and config.target is None and method_spec(config.method).needs_target:
        raise ConfigError(f"{config.run} is a {spec.task} model: pass --target <class or attribute index>")
    if config.target is not None and config.target >= spec.num_outputs:
        raise ConfigError(
            f"--target {config.target}: the model has {spec.num_outputs} outputs, 0 to {spec.num_outputs - 1}"
        )
    if config.evaluate and spec.task != "regression" and config.target is None:
        raise ConfigError(f"--evaluate on a {spec.task} model needs --target <class or attribute index>")
    table = read_for_model(config.data, spec)
    table = table.subset(select_images(table, config.lots, config.images))
    if config.max_images is not None:
        table = table.subset(np.arange(min(config.max_images, len(table))))
    return execute(config, lambda folder: _explain(config, model, spec, table, folder))


def _explain(config: SaliencyConfig, model, spec: ModelSpec, table: ImageTable, run: RunFolder) -> RunFolder:
    checks_ood = load_run_reference(config.run) is not None
    chunks = run.chunks("maps")
    factory = spec.batch_worker(
        SaliencyWorker,
        str(config.run if config.run.is_dir() else config.run.parent),
        table.paths,
        device=config.device,
        batch_size=config.batch_size,
        method=config.method,
        target=config.target,
        sign=config.sign,
        statistics=checks_ood,
    )
    config.engine.run(
        len(table), config.batch_size, chunks, factory, config.device, description=f"{config.method} maps"
    )
    maps = chunks.concat("map").astype(np.float32)
    empty = chunks.concat("empty").astype(bool)
    geometry = [CropGeometry.of(image_size_of(p), spec.image_size, maps.shape[-1]) for p in table.paths]
    frame = _maps_table(table, maps, empty, geometry)
    ood = score_store(config.run, spec, chunks) if checks_ood else None
    ood_line = None
    if ood is not None:
        for column, values in ood.columns().items():
            frame[column] = values
        ood_line = summary_line(ood, [p.name for p in table.paths])
        if ood.out_of_distribution.any():
            note(f"saliency: {ood_line}")
    run.write_table("maps", frame)
    dataset = spec.dataset(table)
    label = target_label(spec, config.target)
    figures = _draw(config, run, dataset, table, maps, frame, geometry, label)
    _section(config, run, table, frame, figures, label, ood_line)
    if config.evaluate:
        write_evaluation(config, run, model, spec, dataset, table.groups, maps, label)
    return run


def _maps_table(table: ImageTable, maps: np.ndarray, empty: np.ndarray, geometry: list[CropGeometry]) -> pd.DataFrame:
    """One row per image: mean of the map, ``empty_map`` and the peak in the original image's pixels."""
    crop = maps.shape[-1]
    flat_peak = maps.reshape(len(maps), -1).argmax(axis=1)
    peaks = [g.to_original(i // crop, i % crop) for g, i in zip(geometry, flat_peak)]
    return pd.DataFrame(
        {
            "image": [str(p) for p in table.paths],
            "group": table.groups,
            "map_mean": maps.mean(axis=(1, 2)),
            "empty_map": empty,
            "peak_y": pd.array([None if e else round(float(y)) for e, (y, _) in zip(empty, peaks)], "Int64"),
            "peak_x": pd.array([None if e else round(float(x)) for e, (_, x) in zip(empty, peaks)], "Int64"),
        }
    )


def _draw(config, run, dataset: ImageDataset, table, maps, frame, geometry, label) -> list[str]:
    """Overlay figures: every named lot (``per_group`` images each) or image, else spread over up to 6 lots."""
    if config.lots or config.images:
        drawn = spread(table.groups, len(table) if config.images else config.per_group, max_groups=None)
    else:
        drawn = spread(table.groups, config.per_group)
    class_agnostic = not method_spec(config.method).needs_target
    figures = []
    for group, rows in drawn.items():
        panels = [
            OverlayPanel(
                image=dataset[i][0],
                map=torch.from_numpy(maps[i]),
                label=f"{group}: {table.paths[i].name}",
                extent=geometry[i].extent(),
                peak=None if frame["empty_map"][i] else (float(frame["peak_y"][i]), float(frame["peak_x"][i])),
            )
            for i in rows
        ]
        path = run.figure_path(f"overlay-{group}.png")
        save_figure(overlay_figure(panels, config.method, label, config.sign, class_agnostic), path)
        figures.append(str(path.relative_to(run.path)))
    return figures


def _section(config, run, table, frame, figures, label, ood_line: str | None) -> None:
    n, n_empty = len(table), int(frame["empty_map"].sum())
    way = direction(config.sign)
    text = (
        f"{config.method} maps (target {label}, sign {config.sign:+d}) for {n} images of {config.data}; "
        "overlays show a few images per group, axes and peaks in the original image's pixels. "
    )
    if n_empty:
        text += (
            f"{n_empty} of {n} maps are all zero (nothing in those images pushes {label} {way}); "
            "they are flagged in empty_map and drawn without overlay. "
        )
    metrics = {"images": n, "all-zero maps": n_empty}
    if ood_line is not None:
        text += f"Out-of-distribution check: {ood_line} (column out_of_distribution)."
        metrics["unlike the training data"] = int(frame["out_of_distribution"].sum())
    write_section(
        run.path,
        Section(
            key="saliency",
            title=f"Saliency: {config.method}, what pushes {label} {way}",
            figures=figures,
            tables=["tables/maps.csv"] if n <= 200 else [],
            text=text,
            metrics=metrics,
        ),
    )


def write_evaluation(config: SaliencyConfig, run, model, spec, dataset, groups, maps, label) -> pd.DataFrame:
    """Faithfulness of the stored maps on up to 16 images spread over the lots:
    ``tables/faithfulness.parquet`` and the ``faithfulness`` report section."""
    method, target, sign = config.method, config.target, config.sign
    rows = evaluation_rows(groups)
    x = torch.stack([dataset[i][0] for i in rows]).to(config.device)
    with progress(2 * len(METRICS), "faithfulness") as bar:  # each metric: random maps, then the method's
        table = evaluate_maps(
            model,
            x,
            {method: torch.from_numpy(maps[rows]).to(config.device)},
            {method: lambda m, images: compute_maps(method, m, images, target, sign)},
            target=target,
            sign=sign,
            task=spec.task,
            on_step=lambda text: bar.advance(info=text),
        )
    run.write_table("faithfulness", table)
    wins = int(table["beats_random"].sum())
    write_section(
        run.path,
        Section(
            key="faithfulness",
            title=f"Faithfulness of {method} ({label}, sign {sign:+d})",
            text=(
                f"Measured on {len(rows)} images spread over the lots; the explained quantity is "
                f"sign x {label} ({sign:+d}). Each metric is compared with random maps (random_baseline). "
                + "; ".join(f"{m}: {'higher' if h else 'lower'} is better" for m, h in HIGHER_IS_BETTER.items())
                + ". Empty maps are left out (n counts the others). Metrics from Quantus 0.6.0 "
                "(FaithfulnessCorrelation, RegionPerturbation, ROAD, MPRT) and matsight's insertion - deletion; "
                "see docs/saliency.md."
            ),
            tables=["tables/faithfulness.csv"],
            metrics={"metrics where the method beats random maps": f"{wins} of {len(table)}"},
            order=ORDER["faithfulness"],
        ),
    )
    return table
