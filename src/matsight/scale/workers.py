"""Picklable worker factories for :func:`matsight.scale.run_chunks`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from matsight.data.dataset import ImageDataset, ImageTable


@dataclass
class ModelOutputs:
    """Factory of workers that run a trained model over image files.

    ``run_dir``: a run folder with ``checkpoint.pt``; ``paths``: the image files (item ``i`` is
    ``paths[i]``), preprocessed as at evaluation time (resize to ``image_size``, centre crop to
    ``crop_size``, ``channels`` channels). The worker returns ``{"output": float32 [n, num_outputs]}``
    (raw model outputs: standardised regression value, logits) for a chunk of indices.
    """

    run_dir: str
    paths: list[str]
    image_size: int
    crop_size: int
    channels: int = 1
    device: str = "cpu"
    batch_size: int = 16

    def __call__(self):
        from matsight.models import load_model

        model, _ = load_model(self.run_dir, device=self.device)
        table = ImageTable(root=Path(self.run_dir), paths=[Path(p) for p in self.paths],
                           targets=np.zeros((len(self.paths), 1), np.float32), groups=[""] * len(self.paths),
                           target_names=["none"], task="none")
        dataset = ImageDataset(table, self.image_size, channels=self.channels, crop_size=self.crop_size)

        @torch.no_grad()
        def worker(indices: np.ndarray) -> dict[str, np.ndarray]:
            outputs = []
            for start in range(0, len(indices), self.batch_size):
                batch = torch.stack([dataset[int(i)][0] for i in indices[start:start + self.batch_size]])
                outputs.append(model(batch.to(self.device)).float().cpu())
            return {"output": torch.cat(outputs).numpy()}

        return worker
