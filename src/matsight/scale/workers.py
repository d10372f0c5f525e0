"""Picklable worker factories for :func:`matsight.scale.run_chunks`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from matsight.data.dataset import ImageDataset, ImageTable


@dataclass
class ImageBatchWorker:
    """Factory of workers that run a trained model over image files, chunk by chunk.

    ``run_dir``: a run folder with ``checkpoint.pt``; ``paths``: the image files (item ``i`` is
    ``paths[i]``), preprocessed as at evaluation time (resize to ``image_size``, centre crop to
    ``crop_size``, ``channels`` channels). Subclasses say what to compute per batch in
    :meth:`compute`; this class returns the raw model outputs ``{"output": float32 [n, K]}``.
    """

    run_dir: str
    paths: list[str]
    image_size: int
    crop_size: int
    channels: int = 1
    device: str = "cpu"
    batch_size: int = 16

    def compute(self, model: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {"output": model(images).float()}

    def __call__(self):
        from matsight.models import load_model

        model, _ = load_model(self.run_dir, device=self.device)
        table = ImageTable(root=Path(self.run_dir), paths=[Path(p) for p in self.paths],
                           targets=np.zeros((len(self.paths), 1), np.float32), groups=[""] * len(self.paths),
                           target_names=["none"], task="none")
        dataset = ImageDataset(table, self.image_size, channels=self.channels, crop_size=self.crop_size)

        def worker(indices: np.ndarray) -> dict[str, np.ndarray]:
            parts: dict[str, list[np.ndarray]] = {}
            for start in range(0, len(indices), self.batch_size):
                batch = torch.stack([dataset[int(i)][0] for i in indices[start:start + self.batch_size]])
                for key, value in self.compute(model, batch.to(self.device)).items():
                    parts.setdefault(key, []).append(value.detach().cpu().numpy())
            return {key: np.concatenate(values) for key, values in parts.items()}

        return worker
