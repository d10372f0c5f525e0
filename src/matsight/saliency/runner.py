"""Explain a dataset with a trained run: chunked, resumable maps plus overlay figures.

``explain_dataset(run_dir, data_dir, out, method=...)`` writes into the run folder ``out``:
``arrays/maps/chunk-*.npz`` (``map [n,H,W]`` float16 in [0,1], ``empty [n]`` (no structure: the map is
zeros), ``index [n]``, and ``dominant`` for response maps / CLEAR), ``tables/maps.parquet`` (image,
group, map mean and peak position) and
``figures/overlay-<group>.png`` (a few images per lot / class).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matsight import options
from matsight.data.inputs import read_for_model
from matsight.errors import ConfigError
from matsight.models import load_model
from matsight.report import Section, write_section
from matsight.report.style import save_figure
from matsight.saliency.figures import overlay_figure
from matsight.saliency.registry import method_spec
from matsight.scale import Engine
from matsight.scale.workers import ImageBatchWorker
from matsight.store import RunFolder


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
) -> RunFolder:
    """Compute ``method`` maps for the images of ``data_dir`` with the model of ``run_dir``.

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
    table = read_for_model(data_dir, spec)
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
    peak = maps.reshape(len(maps), -1).argmax(axis=1)
    run.write_table(
        "maps",
        pd.DataFrame(
            {
                "image": [str(p) for p in table.paths],
                "group": table.groups,
                "map_mean": maps.mean(axis=(1, 2)),
                "peak_y": peak // maps.shape[2],
                "peak_x": peak % maps.shape[2],
            }
        ),
    )
    figures = []
    for group in list(dict.fromkeys(table.groups))[:6]:
        rows = [i for i, g in enumerate(table.groups) if g == group][:per_group]
        fig = overlay_figure(
            torch.stack([dataset[i][0] for i in rows]),
            torch.from_numpy(maps[rows]),
            [f"{group}: {table.paths[i].name}" for i in rows],
        )
        path = run.figure_path(f"overlay-{group}.png")
        save_figure(fig, path)
        figures.append(str(path.relative_to(run.path)))
    write_section(
        run.path,
        Section(
            key="saliency",
            title=f"Saliency: {method}",
            figures=figures,
            text=f"{method} maps (target {target}, sign {sign:+d}) for {len(table)} images "
            f"of {data_dir}; overlays show a few images per group.",
        ),
    )
    run.set_status("finished")
    return run
