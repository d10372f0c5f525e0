"""Picklable worker factories for :func:`matsight.scale.run_chunks`."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from matsight.data.dataset import ImageDataset, ImageTable
from matsight.data.intensity import Intensity
from matsight.store.digest import file_digest, files_digest


def model_digest(model: str | nn.Module) -> str:
    """What identifies a model for resuming: the bytes of a run folder's checkpoint or an
    in-memory model's class and weights."""
    digest = hashlib.sha1()
    if isinstance(model, nn.Module):
        digest.update(type(model).__qualname__.encode())
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    else:
        checkpoint = Path(model) / "checkpoint.pt" if Path(model).is_dir() else Path(model)
        digest.update(file_digest(checkpoint).encode())
    return digest.hexdigest()


@dataclass
class ImageBatchWorker:
    """Factory of workers that run a model over image files, chunk by chunk.

    ``model``: a run folder with ``checkpoint.pt`` (loaded in each worker process) or the model
    itself (shipped to each worker); ``paths``: the image files (item ``i`` is ``paths[i]``),
    preprocessed as at evaluation time (resize to ``image_size``, centre crop to ``crop_size``,
    ``channels`` channels, decoded with ``intensity``; :meth:`matsight.models.ModelSpec.batch_worker`
    fills these from a model's spec). Subclasses say what to compute per batch of ``batch_size`` images in
    :meth:`compute` (tensors or arrays with the batch on axis 0); this class returns the raw model
    outputs ``{"output": float32 [n, K]}``.
    """

    model: str | nn.Module
    paths: list[str]
    image_size: int
    crop_size: int
    channels: int = 1
    device: str = "cpu"
    batch_size: int = 16
    intensity: Intensity = dataclasses.field(default_factory=Intensity)

    def compute(self, model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor | np.ndarray]:
        with torch.no_grad():
            return {"output": model(images).float()}

    def job_key(self) -> str:
        """Changes with the model's bytes, the images' names and bytes, or any setting that changes
        the results (not ``device``)."""
        settings = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("model", "device")
        }
        images = files_digest(self.paths)
        return hashlib.sha1(
            f"{type(self).__qualname__}|{model_digest(self.model)}|{images}|{settings!r}".encode()
        ).hexdigest()

    def _load(self) -> nn.Module:
        if isinstance(self.model, nn.Module):
            return self.model.to(self.device).eval()
        from matsight.models import load_model

        return load_model(self.model, device=self.device)[0]

    def __call__(self):
        model = self._load()
        table = ImageTable(
            root=Path("."),
            paths=[Path(p) for p in self.paths],
            targets=np.zeros((len(self.paths), 1), np.float32),
            groups=[""] * len(self.paths),
            target_names=["none"],
            task="none",
        )
        dataset = ImageDataset(
            table, self.image_size, channels=self.channels, crop_size=self.crop_size, intensity=self.intensity
        )

        def worker(indices: np.ndarray) -> dict[str, np.ndarray]:
            parts: dict[str, list[np.ndarray]] = {}
            for start in range(0, len(indices), self.batch_size):
                batch = torch.stack([dataset[int(i)][0] for i in indices[start : start + self.batch_size]])
                for key, value in self.compute(model, batch.to(self.device)).items():
                    value = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
                    parts.setdefault(key, []).append(value)
            return {key: np.concatenate(values) for key, values in parts.items()}

        return worker
