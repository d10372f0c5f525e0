"""Explain a dataset with a trained run: chunked, resumable maps plus overlay figures.

``explain_dataset(run_dir, data_dir, out, method=...)`` writes into the run folder ``out``:
``arrays/maps/chunk-*.npz`` (``map [n,H,W]`` float16 in [0,1], ``empty [n]`` (no structure: the map is
zeros), ``index [n]``, and ``dominant`` for response maps / CLEAR), ``tables/maps.parquet`` (``image,
group, map_mean, empty_map, peak_y, peak_x``: the peak in the original image's pixels, empty for an
empty map) and ``figures/overlay-<group>.png`` (a few images per lot / class, spread over the lots
unless ``lots`` / ``images`` name them). ``evaluate=True`` adds ``tables/faithfulness.parquet``
(:func:`matsight.saliency.evaluation.evaluate_maps` on up to 16 images spread over the lots) and a
report section.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from matsight import options
from matsight.data.inputs import read_for_model
from matsight.errors import ConfigError
from matsight.models import ModelSpec, load_model
from matsight.report import ORDER, Section, write_section
from matsight.report.style import save_figure
from matsight.saliency.evaluation import HIGHER_IS_BETTER, METRICS, evaluate_maps
from matsight.saliency.figures import OverlayPanel, overlay_figure
from matsight.saliency.geometry import CropGeometry, image_size_of
from matsight.saliency.registry import method_spec
from matsight.saliency.selection import evaluation_rows, select_images, spread
from matsight.scale import Engine
from matsight.scale.workers import ImageBatchWorker
from matsight.store import RunFolder


def compute_maps(method: str, model, images: torch.Tensor, target: int | None, sign: int) -> torch.Tensor:
    """``method``'s normalised maps ``[n,H,W]`` (float32) for ``images`` ``[n,C,H,W]`` through the registry
    (the evaluation and MPRT's randomised model go through it)."""
    return method_spec(method).build(model).explain(images, target, sign).map.float()


@dataclass
class SaliencyWorker(ImageBatchWorker):
    """Per-chunk saliency maps (picklable, so Ray actors can build it): the method's ``arrays``
    (``matsight.saliency.registry``): ``map`` float16 [n,H,W] in [0,1], ``empty`` bool [n] and, for
    response/CLEAR maps, ``dominant`` int16 [n,H,W]."""

    method: str = "fastcam"
    target: int | None = None
    sign: int = 1

    def compute(self, model, images):
        spec = method_spec(self.method)
        explanation = spec.build(model).explain(images, self.target, self.sign)
        dtypes = {"map": torch.float16, "empty": torch.bool}
        return {k: getattr(explanation, k).detach().to(dtypes.get(k, torch.int16)) for k in spec.arrays}


def target_label(spec: ModelSpec, target: int | None) -> str:
    """The name of what is explained: the property (regressor), the class or the attribute, else ``output K``."""
    names = spec.class_names if spec.task == "classification" else spec.target_names
    index = 0 if target is None else int(target)
    if names and 0 <= index < len(names):
        return str(names[index])
    return "the prediction" if target is None else f"output {index}"


def explain_dataset(
    run_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    method: str = "fastcam",
    target: int | None = None,
    sign: int = 1,
    batch_size: int = 16,
    max_images: int | None = None,
    per_group: int = 3,
    device: str = "cpu",
    engine: str = "local",
    address: str | None = None,
    workers: int = 1,
    lots: Sequence[str] | None = None,
    images: Sequence[str] | None = None,
    evaluate: bool = False,
) -> RunFolder:
    """Compute ``method`` maps for the images of ``data_dir`` with the model of ``run_dir``.

    ``lots`` / ``images`` restrict the images explained and drawn (every named lot / image is drawn);
    by default the overlays spread over up to six lots. ``evaluate`` also measures the maps'
    faithfulness (:mod:`matsight.saliency.evaluation`) against random maps.
    ``engine="ray"`` computes the chunks on a Ray cluster (``address``; ``workers`` actors)
    instead of in this process; the chunk files are the same.
    """
    method_info = method_spec(method)
    options.one_of("--sign", sign, (1, -1))
    options.at_least("--batch-size", batch_size, 1)
    if max_images is not None:
        options.at_least("--max-images", max_images, 1)
    model, spec = load_model(run_dir, device)
    if spec.task != "regression" and target is None and method_info.needs_target:
        raise ConfigError(f"{run_dir} is a {spec.task} model: pass --target <class or attribute index>")
    if target is not None and not 0 <= target < spec.num_outputs:
        raise ConfigError(f"--target {target}: the model has {spec.num_outputs} outputs, 0 to {spec.num_outputs - 1}")
    if lots and images:
        raise ConfigError("give --lots or --images, not both")
    if evaluate and spec.task != "regression" and target is None:
        raise ConfigError(f"--evaluate on a {spec.task} model needs --target <class or attribute index>")
    table = read_for_model(data_dir, spec)
    table = table.subset(select_images(table, lots, images))
    if max_images is not None:
        table = table.subset(np.arange(min(max_images, len(table))))
    dataset = spec.dataset(table)
    run = RunFolder(out)
    run.start(
        "saliency",
        {
            "run": str(run_dir),
            "data": str(data_dir),
            "method": method,
            "target": target,
            "sign": sign,
            "batch_size": batch_size,
            "max_images": max_images,
            "lots": list(lots or []),
            "images": list(images or []),
            "evaluate": evaluate,
        },
    )
    chunks = run.chunks("maps")
    factory = spec.batch_worker(
        SaliencyWorker,
        str(run_dir if Path(run_dir).is_dir() else Path(run_dir).parent),
        table.paths,
        device=device,
        batch_size=batch_size,
        method=method,
        target=target,
        sign=sign,
    )
    Engine(engine, address, workers).run(
        len(dataset), batch_size, chunks, factory, device, description=f"{method} maps"
    )
    maps = chunks.concat("map").astype(np.float32)
    crop = maps.shape[-1]
    geometry = [CropGeometry.of(image_size_of(p), spec.image_size, crop) for p in table.paths]
    empty = chunks.concat("empty").astype(bool)
    flat_peak = maps.reshape(len(maps), -1).argmax(axis=1)
    peaks = [g.to_original(i // crop, i % crop) for g, i in zip(geometry, flat_peak)]
    run.write_table(
        "maps",
        pd.DataFrame(
            {
                "image": [str(p) for p in table.paths],
                "group": table.groups,
                "map_mean": maps.mean(axis=(1, 2)),
                "empty_map": empty,
                "peak_y": pd.array([None if e else round(float(y)) for e, (y, _) in zip(empty, peaks)], "Int64"),
                "peak_x": pd.array([None if e else round(float(x)) for e, (_, x) in zip(empty, peaks)], "Int64"),
            }
        ),
    )
    label = target_label(spec, target)
    if lots or images:  # every named lot (per_group images each) or every named image
        drawn = spread(table.groups, len(table) if images else per_group, max_groups=None)
    else:
        drawn = spread(table.groups, per_group)
    figures = []
    for group, rows in drawn.items():
        panels = [
            OverlayPanel(
                image=dataset[i][0],
                map=torch.from_numpy(maps[i]),
                label=f"{group}: {table.paths[i].name}",
                extent=geometry[i].extent(),
                peak=None if empty[i] else (float(peaks[i][0]), float(peaks[i][1])),
            )
            for i in rows
        ]
        path = run.figure_path(f"overlay-{group}.png")
        save_figure(overlay_figure(panels, method, label, sign, not method_info.needs_target), path)
        figures.append(str(path.relative_to(run.path)))
    n_empty = int(empty.sum())
    write_section(
        run.path,
        Section(
            key="saliency",
            title=f"Saliency: {method}, what pushes {label} {'up' if sign > 0 else 'down'}",
            figures=figures,
            tables=["tables/maps.csv"] if len(table) <= 200 else [],
            text=f"{method} maps (target {label}, sign {sign:+d}) for {len(table)} images of {data_dir}; "
            f"overlays show a few images per group, axes and peaks in the original image's pixels. "
            + (
                f"{n_empty} of {len(table)} maps are all zero (nothing in those images pushes {label} "
                f"{'up' if sign > 0 else 'down'}); they are flagged in empty_map and drawn without overlay."
                if n_empty
                else ""
            ),
            metrics={"images": len(table), "all-zero maps": n_empty},
        ),
    )
    if evaluate:
        write_evaluation(run, model, spec, dataset, table.groups, maps, method, target, sign, label, device)
    run.set_status("finished")
    return run


def write_evaluation(run, model, spec, dataset, groups, maps, method, target, sign, label, device) -> pd.DataFrame:
    """Faithfulness of the stored maps on up to 16 images spread over the lots:
    ``tables/faithfulness.parquet`` and the ``faithfulness`` report section."""
    rows = evaluation_rows(groups)
    x = torch.stack([dataset[i][0] for i in rows]).to(device)
    with Progress(
        TextColumn("faithfulness"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}")
    ) as bar:
        task = bar.add_task("", total=2 * len(METRICS))  # each metric: random maps, then the method's
        done = iter(range(2 * len(METRICS)))

        def step(text: str) -> None:
            bar.update(task, completed=next(done), description=text)

        table = evaluate_maps(
            model,
            x,
            {method: torch.from_numpy(maps[rows]).to(device)},
            {method: lambda m, images: compute_maps(method, m, images, target, sign)},
            target=target,
            sign=sign,
            task=spec.task,
            on_step=step,
        )
        bar.update(task, completed=2 * len(METRICS), description="done")
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
                + ". Metrics from Quantus 0.6.0 (FaithfulnessCorrelation, RegionPerturbation, ROAD, MPRT) and "
                "matsight's insertion - deletion; see docs/saliency.md."
            ),
            tables=["tables/faithfulness.csv"],
            metrics={"metrics where the method beats random maps": f"{wins} of {len(table)}"},
            order=ORDER["faithfulness"],
        ),
    )
    return table
