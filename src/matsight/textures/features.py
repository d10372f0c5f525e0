"""Salient-location activations (paper §3.4): one FastCAM pass per image, chunked and resumable.

For every image the combined FastCAM map's argmax ``(y, x)`` (input pixels) is mapped onto each
stage's grid (``floor(y * h / H)``, ``floor(x * w / W)``) and the stage's activation vector there is
kept. Stored per chunk in ``<run>/arrays/<name>/``: ``Z1..Z5`` ``float32 [n, C_stage]``,
``location`` ``float32 [n, 2]`` (argmax as fractions of image height/width), ``map``
``float16 [n, 32, 32]`` (combined map, downsampled) and ``prediction`` ``float32 [n, T]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from matsight.data.dataset import ImageDataset, ImageTable
from matsight.data.intensity import Intensity
from matsight.ood import forward_with_statistics
from matsight.saliency.fastcam import FastCAM
from matsight.scale import LOCAL, Engine
from matsight.scale.workers import ImageBatchWorker
from matsight.store import RunFolder

MAP_SIZE = 32


@dataclass
class SalientFeatures:
    """Concatenated extraction output: ``vectors[stage] [N, C]``, ``location [N, 2]``,
    ``maps [N, 32, 32]``, ``predictions [N, T]``, and each stage's grid ``(h, w)``."""

    vectors: dict[str, np.ndarray]
    location: np.ndarray
    maps: np.ndarray
    predictions: np.ndarray
    grids: dict[str, tuple[int, int]]

    def box(self, index: int, stage: str) -> tuple[float, float, float, float]:
        """The salient cell of ``stage``'s grid for image ``index`` as ``(y0, x0, y1, x1)`` fractions."""
        h, w = self.grids[stage]
        cy, cx = int(self.location[index, 0] * h), int(self.location[index, 1] * w)
        return cy / h, cx / w, (cy + 1) / h, (cx + 1) / w


def salient_batch(explainer: FastCAM, x: torch.Tensor) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, int]]]:
    """One FastCAM pass over ``x [n, C, H, W]`` → arrays of one chunk and the stage grids."""
    result = explainer.explain(x)
    n, height, width = result.map.shape
    flat = result.map.flatten(1).argmax(1)
    y, x_ = (flat // width).float() / height, (flat % width).float() / width
    out: dict[str, np.ndarray] = {}
    grids = {}
    for name, act in result.activations.items():
        h, w = act.shape[-2:]
        iy, ix = (y * h).long().clamp_max(h - 1), (x_ * w).long().clamp_max(w - 1)
        out[name] = act[torch.arange(n), :, iy, ix].float().cpu().numpy()
        grids[name] = (h, w)
    out["location"] = torch.stack([y, x_], 1).cpu().numpy().astype(np.float32)
    out["map"] = (
        F.interpolate(result.map[:, None], size=(MAP_SIZE, MAP_SIZE), mode="area")[:, 0]
        .cpu()
        .numpy()
        .astype(np.float16)
    )
    out["prediction"] = result.output.float().cpu().numpy()
    return out, grids


@dataclass
class SalientWorker(ImageBatchWorker):
    """Per chunk, the arrays of :func:`salient_batch` (one FastCAM pass per batch); picklable, so
    Ray actors can build it. ``statistics``: also the arrays of
    :func:`~matsight.ood.forward_with_statistics` (one more forward pass, no gradient) for the
    out-of-distribution check."""

    statistics: bool = False

    def compute(self, model: nn.Module, images: torch.Tensor) -> dict[str, np.ndarray]:
        arrays = salient_batch(FastCAM(model), images)[0]
        if self.statistics:
            arrays.update(forward_with_statistics(model, images))
        return arrays


def extract(
    model: nn.Module,
    table: ImageTable,
    run: RunFolder,
    name: str,
    image_size: int,
    channels: int = 1,
    batch_size: int = 32,
    device: str = "cpu",
    engine: Engine = LOCAL,
    intensity: Intensity | None = None,
    statistics: bool = False,
    crop_size: int | None = None,
) -> SalientFeatures:
    """Salient features of every image of ``table`` (chunk i = images ``[i*batch_size, (i+1)*batch_size)``).

    Finished chunks in ``run.chunks(name)`` are skipped, so an interrupted run resumes (chunks of
    another model or image list are discarded); the stage grids are written to
    ``<run>/<name>_grids.json``. ``engine``: where the chunks are computed
    (``Engine("ray", ...)`` ships ``model`` to each Ray actor); ``intensity``: how images are decoded;
    images are resized to ``image_size`` and centre-cropped to ``crop_size`` (default ``image_size``: no
    crop), as the model saw them in evaluation.
    """
    crop_size = crop_size or image_size
    intensity = intensity or Intensity()
    factory = SalientWorker(
        model,
        [str(p) for p in table.paths],
        image_size,
        crop_size,
        channels,
        device=device,
        batch_size=batch_size,
        intensity=intensity,
        statistics=statistics,
    )
    store = engine.run(len(table), batch_size, run.chunks(name), factory, device, description="salient features")
    first = ImageDataset(table, image_size, channels=channels, crop_size=crop_size, intensity=intensity)[0][0][None]
    _, grids = salient_batch(FastCAM(model.to(device).eval()), first.to(device))  # the model's, never stale
    run.write_json(f"{name}_grids.json", {k: list(v) for k, v in grids.items()})
    return SalientFeatures(
        vectors={k: store.concat(k) for k in grids},
        location=store.concat("location"),
        maps=store.concat("map"),
        predictions=store.concat("prediction"),
        grids=grids,
    )
