"""The ``matsight saliency`` workflow: explain a dataset with a trained run.

``run(SaliencyConfig(out=..., run=..., data=...))`` writes into the run folder ``out``:
``arrays/maps/chunk-*.npz`` (``map [n,H,W]`` float16 in [0,1], ``empty [n]`` (no structure: the map is
zeros), ``index [n]``, ``explained [n]`` when each image explains its own top-scoring output,
``dominant`` for response maps / CLEAR and, when the run keeps an out-of-distribution reference, the
arrays that check reads), ``tables/maps.parquet`` (``image, group, explained, explained_output,
map_mean, empty_map, peak_y, peak_x``: what the map explains, the peak in the original image's
pixels, empty for an empty map; plus :meth:`~matsight.ood.OODScores.columns` when the run keeps a
reference) and
``figures/overlay-<group>.png`` (a few images per lot / class, spread over the lots unless ``lots`` /
``images`` name them). ``evaluate=True`` adds ``tables/faithfulness.parquet``
(:func:`matsight.saliency.evaluation.evaluate_maps` on up to 16 images spread over the lots, each
with the target its map explains) and a report section.

**What is explained.** A regressor: its output. ``target=K``: output ``K`` (a class or an attribute)
of every image. A classifier or tagger without ``target``, with a method that needs one: each image's
top-scoring output (the argmax of its logits: the predicted class, the most probable attribute), as
pytorch-grad-cam (``targets=None``) and torchcam (``class_idx`` = argmax) do; the ``explained`` column,
the figures and the report say which. Class-agnostic methods (FastCAM, EigenCAM, ...) explain no output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from matsight.data.dataset import ImageDataset, ImageTable
from matsight.data.inputs import read_for_model
from matsight.errors import ConfigError
from matsight.models import ModelSpec, load_model
from matsight.ood import forward_with_statistics, summary_line
from matsight.ood.run import load_run_reference, score_store
from matsight.progress import note, progress
from matsight.report import ORDER, Section, write_section
from matsight.report.style import save_figure
from matsight.saliency.config import SaliencyConfig
from matsight.saliency.evaluation import HIGHER_IS_BETTER, METRICS, evaluate_maps
from matsight.saliency.figures import OverlayPanel, direction, explained, overlay_figure
from matsight.saliency.geometry import CropGeometry, image_size_of
from matsight.saliency.registry import default_method, method_spec
from matsight.saliency.selection import evaluation_rows, select_images, spread
from matsight.scale.workers import ImageBatchWorker
from matsight.store import RunFolder
from matsight.workflow import execute


def compute_maps(method: str, model, images: torch.Tensor, target: int | list[int] | None, sign: int) -> torch.Tensor:
    """``method``'s normalised maps ``[n,H,W]`` (float32) for ``images`` ``[n,C,H,W]`` through the registry
    (the evaluation and MPRT's randomised model go through it)."""
    return method_spec(method).build(model).explain(images, target, sign).map.float()


@dataclass
class SaliencyWorker(ImageBatchWorker):
    """Per-chunk saliency maps (picklable, so Ray actors can build it): the method's ``arrays``
    (``matsight.saliency.registry``): ``map`` float16 [n,H,W] in [0,1], ``empty`` bool [n] and, for
    response/CLEAR maps, ``dominant`` int16 [n,H,W]. ``statistics``: also the ``output``, ``features``
    and ``intensities`` of :func:`~matsight.ood.forward_with_statistics` (one more forward pass, no
    gradient) for the out-of-distribution check. ``top_output``: explain each image's top-scoring output
    (``target`` is ``None``; read off the statistics pass's ``output``, else one more forward pass) and
    store its index as ``explained`` int16 [n]."""

    method: str = "fastcam"
    target: int | None = None
    sign: int = 1
    statistics: bool = False
    top_output: bool = False

    def compute(self, model, images):
        spec = method_spec(self.method)
        target = self.target
        arrays = forward_with_statistics(model, images) if self.statistics else {}
        if self.top_output:
            target = top_outputs(model, images, arrays.get("output"))
            arrays["explained"] = torch.tensor(target, dtype=torch.int16)
        explanation = spec.build(model).explain(images, target, self.sign)
        dtypes = {"map": torch.float16, "empty": torch.bool}
        arrays.update({k: getattr(explanation, k).detach().to(dtypes.get(k, torch.int16)) for k in spec.arrays})
        return arrays


TOP_OUTPUT = {
    "classification": "the top-scoring class of each image",
    "multilabel": "the top-scoring attribute of each image",
}
"""What a map explains when each image explains its own top-scoring output, per task."""
CLASS_AGNOSTIC_EXPLAINED = "no output (class-agnostic method)"


def explains_top_output(spec: ModelSpec, method: str, target: int | None) -> bool:
    """Whether each image explains its own top-scoring output: a classifier or tagger, no ``target``
    and a method whose map depends on it."""
    return spec.task in TOP_OUTPUT and target is None and method_spec(method).needs_target


@torch.no_grad()
def top_outputs(model, images: torch.Tensor, output=None) -> list[int]:
    """Each image's top-scoring output index (argmax of the logits: the predicted class, the most
    probable attribute) for ``images`` ``[n,C,H,W]``; ``output``: the model's outputs ``[n,K]`` for
    them when already computed (then no forward pass)."""
    scores = model(images) if output is None else torch.as_tensor(output)
    return scores.reshape(len(images), -1).argmax(dim=1).tolist()


def target_label(spec: ModelSpec, target: int | None) -> str:
    """The name of what is explained: the property (regressor), the class or the attribute, else ``output K``."""
    names = spec.class_names if spec.task == "classification" else spec.target_names
    index = 0 if target is None else int(target)
    if names and 0 <= index < len(names):
        return str(names[index])
    return "the prediction" if target is None else f"output {index}"


def explained_columns(spec: ModelSpec, method: str, target: int | None, top: np.ndarray | None, n: int) -> dict:
    """``explained`` (the name of what each image's map explains) and ``explained_output`` (its output
    index, empty for a class-agnostic method) for ``n`` images; ``top`` [n]: each image's top-scoring
    output when it explains that (:func:`explains_top_output`)."""
    if not method_spec(method).needs_target:
        return {"explained": [CLASS_AGNOSTIC_EXPLAINED] * n, "explained_output": pd.array([None] * n, "Int64")}
    chosen = [int(t) for t in top] if top is not None else [target] * n  # None: a regressor's output
    return {
        "explained": [target_label(spec, t) for t in chosen],
        "explained_output": pd.array([0 if t is None else int(t) for t in chosen], "Int64"),
    }


def run(config: SaliencyConfig) -> RunFolder:
    """Explain the images of ``config.data`` with the model of ``config.run`` (see the module docstring).

    The inputs are checked before the run folder is claimed; ``config.method=None`` becomes the task's
    default; on a classifier or tagger without ``config.target``, each image explains its top-scoring
    output (module docstring). Chunks are computed on ``config.engine`` and resume on a rerun with the same config.
    """
    model, spec = load_model(config.run, config.device)
    config = dataclasses.replace(config, method=config.method or default_method(spec.task))
    if config.target is not None and config.target >= spec.num_outputs:
        raise ConfigError(
            f"--target {config.target}: the model has {spec.num_outputs} outputs, 0 to {spec.num_outputs - 1}"
        )
    table = read_for_model(config.data, spec)
    table = table.subset(select_images(table, config.lots, config.images))
    if config.max_images is not None:
        table = table.subset(np.arange(min(config.max_images, len(table))))
    return execute(config, lambda folder: _explain(config, model, spec, table, folder))


def _explain(config: SaliencyConfig, model, spec: ModelSpec, table: ImageTable, run: RunFolder) -> RunFolder:
    checks_ood = load_run_reference(config.run) is not None
    top_output = explains_top_output(spec, config.method, config.target)
    if top_output:
        note(f"saliency: no --target on a {spec.task} model: each map explains {TOP_OUTPUT[spec.task]}")
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
        top_output=top_output,
    )
    config.engine.run(
        len(table), config.batch_size, chunks, factory, config.device, description=f"{config.method} maps"
    )
    maps = chunks.concat("map").astype(np.float32)
    empty = chunks.concat("empty").astype(bool)
    top = chunks.concat("explained").astype(int) if top_output else None
    geometry = [CropGeometry.of(image_size_of(p), spec.image_size, maps.shape[-1]) for p in table.paths]
    explains = explained_columns(spec, config.method, config.target, top, len(table))
    frame = _maps_table(table, explains, maps, empty, geometry)
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
    label = TOP_OUTPUT[spec.task] if top_output else target_label(spec, config.target)
    figures = _draw(config, run, dataset, table, maps, frame, geometry, label, per_image=top_output)
    _section(config, run, table, frame, figures, label, ood_line, top_output)
    if config.evaluate:
        targets = top.tolist() if top is not None else config.target
        write_evaluation(config, run, model, spec, dataset, table.groups, maps, label, targets)
    return run


def _maps_table(
    table: ImageTable, explains: dict, maps: np.ndarray, empty: np.ndarray, geometry: list[CropGeometry]
) -> pd.DataFrame:
    """One row per image: what its map explains (:func:`explained_columns`), mean of the map,
    ``empty_map`` and the peak in the original image's pixels."""
    crop = maps.shape[-1]
    flat_peak = maps.reshape(len(maps), -1).argmax(axis=1)
    peaks = [g.to_original(i // crop, i % crop) for g, i in zip(geometry, flat_peak)]
    return pd.DataFrame(
        {
            "image": [str(p) for p in table.paths],
            "group": table.groups,
            **explains,
            "map_mean": maps.mean(axis=(1, 2)),
            "empty_map": empty,
            "peak_y": pd.array([None if e else round(float(y)) for e, (y, _) in zip(empty, peaks)], "Int64"),
            "peak_x": pd.array([None if e else round(float(x)) for e, (_, x) in zip(empty, peaks)], "Int64"),
        }
    )


def _draw(config, run, dataset: ImageDataset, table, maps, frame, geometry, label, per_image: bool) -> list[str]:
    """Overlay figures: every named lot (``per_group`` images each) or image, else spread over up to 6 lots;
    ``per_image``: each panel names what its map explains (``frame["explained"]``)."""
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
                label=f"{group}: {table.paths[i].name}" + (f", explains {frame['explained'][i]}" if per_image else ""),
                extent=geometry[i].extent(),
                peak=None if frame["empty_map"][i] else (float(frame["peak_y"][i]), float(frame["peak_x"][i])),
            )
            for i in rows
        ]
        path = run.figure_path(f"overlay-{group}.png")
        save_figure(overlay_figure(panels, config.method, label, config.sign, class_agnostic), path)
        figures.append(str(path.relative_to(run.path)))
    return figures


def _section(config, run, table, frame, figures, label, ood_line: str | None, top_output: bool) -> None:
    n, n_empty = len(table), int(frame["empty_map"].sum())
    way = direction(config.sign)
    what = explained(label, config.sign, not method_spec(config.method).needs_target)
    text = (
        f"{config.method} maps ({what}, sign {config.sign:+d}) for {n} images of {config.data}; "
        "overlays show a few images per group, axes and peaks in the original image's pixels. "
    )
    if top_output:
        counts = frame["explained"].value_counts()
        text += (
            f"No --target was given: each map explains {label} (column explained; "
            + ", ".join(f"{name}: {count}" for name, count in counts.items())
            + "); pass --target K to explain output K of every image. "
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
            title=f"Saliency: {config.method}, {what}",
            figures=figures,
            tables=["tables/maps.csv"] if n <= 200 else [],
            text=text,
            metrics=metrics,
        ),
    )


def write_evaluation(
    config: SaliencyConfig, run, model, spec, dataset, groups, maps, label, targets: int | list[int] | None
) -> pd.DataFrame:
    """Faithfulness of the stored maps on up to 16 images spread over the lots, each scored on the
    output its map explains (``targets``: one for every image or one per image; a class-agnostic map
    of a classifier or tagger without ``--target``: each image's top-scoring output):
    ``tables/faithfulness.parquet`` and the ``faithfulness`` report section."""
    method, sign = config.method, config.sign
    rows = evaluation_rows(groups)
    x = torch.stack([dataset[i][0] for i in rows]).to(config.device)
    target = [targets[i] for i in rows] if isinstance(targets, list) else targets
    if target is None and spec.task in TOP_OUTPUT:
        target, label = top_outputs(model, x), TOP_OUTPUT[spec.task]
    with progress(2 * len(METRICS), "faithfulness") as bar:  # each metric: random maps, then the method's
        table = evaluate_maps(
            model,
            x,
            {method: torch.from_numpy(maps[rows]).to(config.device)},
            {method: lambda m, images, chosen: compute_maps(method, m, images, chosen, sign)},
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
