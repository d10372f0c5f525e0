"""Explain a dataset with a trained run: chunked, resumable maps plus overlay figures.

``explain_dataset(run_dir, data_dir, out, method=...)`` writes into the run folder ``out``:
``arrays/maps/chunk-*.npz`` (``map [n,H,W]`` float16 in [0,1], ``index [n]``, and ``dominant`` for
response maps / CLEAR), ``tables/maps.parquet`` (``image, group, map_mean, empty_map, peak_y,
peak_x``: the peak in the original image's pixels, empty for an all-zero map) and
``figures/overlay-<group>.png`` (a few images per lot / class, spread over the lots unless
``lots`` / ``images`` name them). ``evaluate=True`` adds ``tables/faithfulness.parquet``
(:func:`matsight.saliency.evaluation.evaluate_maps` on up to 16 images spread
over the lots) and a report section.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from matsight.data import ImageDataset
from matsight.data.validate import read_dataset
from matsight.errors import ConfigError
from matsight.models import load_model
from matsight.report import ORDER, Section, write_section
from matsight.report.style import save_figure
from matsight.saliency.captum_methods import Deconvolution, GuidedBackprop, IntegratedGradients, SmoothGrad
from matsight.saliency.evaluation import HIGHER_IS_BETTER, METRICS, evaluate_maps
from matsight.saliency.fastcam import FastCAM
from matsight.saliency.figures import OverlayPanel, overlay_figure
from matsight.saliency.geometry import CropGeometry, image_size_of
from matsight.saliency.gradcam import GradCAM, GradCAMPlusPlus
from matsight.saliency.normalise import minmax
from matsight.saliency.response_maps import CLEAR, ResponseMaps
from matsight.saliency.selection import evaluation_rows, select_images, spread
from matsight.scale import Engine
from matsight.scale.workers import ImageBatchWorker
from matsight.store import RunFolder


def _level(result) -> dict[str, torch.Tensor]:
    return {"map": minmax(result.level), "dominant": result.dominant}


METHODS: dict[str, Callable] = {
    "fastcam": lambda m, x, t, s: {"map": FastCAM(m).attribute(x, t, s)},
    "fastcam-gradcam": lambda m, x, t, s: {"map": FastCAM(m, combine_with="gradcam").attribute(x, t, s)},
    "gradcam": lambda m, x, t, s: {"map": GradCAM(m).attribute(x, t, s)},
    "gradcam++": lambda m, x, t, s: {"map": GradCAMPlusPlus(m).attribute(x, t, s)},
    "guided-backprop": lambda m, x, t, s: {"map": GuidedBackprop(m).attribute(x, t, s)},
    "deconvnet": lambda m, x, t, s: {"map": Deconvolution(m).attribute(x, t, s)},
    "integrated-gradients": lambda m, x, t, s: {"map": IntegratedGradients(m).attribute(x, t, s)},
    "smoothgrad": lambda m, x, t, s: {"map": SmoothGrad(m).attribute(x, t, s)},
    "response-maps": lambda m, x, t, s: _level(ResponseMaps(m).explain(x)),
    "clear": lambda m, x, t, s: _level(CLEAR(m).explain(x)),
}


# Methods whose map ignores target and sign (class-agnostic); their figures say so.
CLASS_AGNOSTIC_METHODS = ("fastcam", "response-maps", "clear")


def compute_maps(method: str, model, images: torch.Tensor, target: int | None, sign: int) -> dict[str, torch.Tensor]:
    """``method``'s arrays for ``images`` ``[n,C,H,W]``: ``map [n,H,W]`` (and ``dominant``); the one call
    into :data:`METHODS` (chunks, evaluation and MPRT's randomised model all go through it)."""
    return METHODS[method](model, images, target, sign)


@dataclass
class SaliencyWorker(ImageBatchWorker):
    """Per-chunk saliency maps (picklable, so Ray actors can build it): ``map`` float16 [n,H,W]
    in [0,1] and, for response/CLEAR maps, ``dominant`` int16 [n,H,W]."""

    method: str = "fastcam"
    target: int | None = None
    sign: int = 1

    def compute(self, model, images):
        arrays = compute_maps(self.method, model, images, self.target, self.sign)
        return {k: v.detach().to(torch.float16 if k == "map" else torch.int16) for k, v in arrays.items()}


def target_label(meta: dict, target: int | None) -> str:
    """The name of what is explained: the property (regressor), the class or the attribute, else ``output K``."""
    names = meta.get("class_names") if meta.get("task") == "classification" else meta.get("target_names")
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
    if method not in METHODS:
        raise ConfigError(f"unknown saliency method {method!r}: choose one of {', '.join(METHODS)}")
    if lots and images:
        raise ConfigError("give --lots or --images, not both")
    model, meta = load_model(run_dir, device)
    if meta["task"] != "regression" and target is None and method not in ("response-maps", "clear"):
        raise ConfigError(f"{run_dir} is a {meta['task']} model: pass --target <class or attribute index>")
    if evaluate and meta["task"] != "regression" and target is None:
        raise ConfigError(f"--evaluate on a {meta['task']} model needs --target <class or attribute index>")
    table = read_dataset(data_dir, target=(meta.get("target_names") or ["cps"])[0])
    table = table.subset(select_images(table, lots, images))
    if max_images is not None:
        table = table.subset(np.arange(min(max_images, len(table))))
    dataset = ImageDataset(table, meta["image_size"], channels=meta["channels"], crop_size=meta["crop_size"])
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
    factory = SaliencyWorker(
        str(run_dir if Path(run_dir).is_dir() else Path(run_dir).parent),
        [str(p) for p in table.paths],
        meta["image_size"],
        meta["crop_size"],
        meta["channels"],
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
    geometry = [CropGeometry.of(image_size_of(p), meta["image_size"], crop) for p in table.paths]
    empty = maps.reshape(len(maps), -1).max(axis=1) <= 0
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
    label = target_label(meta, target)
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
        save_figure(overlay_figure(panels, method, label, sign, method in CLASS_AGNOSTIC_METHODS), path)
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
        write_evaluation(run, model, meta, dataset, table.groups, maps, method, target, sign, label, device)
    run.set_status("finished")
    return run


def write_evaluation(run, model, meta, dataset, groups, maps, method, target, sign, label, device) -> pd.DataFrame:
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
            {method: lambda m, images: compute_maps(method, m, images, target, sign)["map"].float()},
            target=target,
            sign=sign,
            task=meta["task"],
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
