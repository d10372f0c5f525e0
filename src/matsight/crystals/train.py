"""Build a pristine structure set and train the crystal ConvNet on its fingerprints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from matsight.crystals.dataset import FingerprintDataset, read_structures, write_structures
from matsight.crystals.fingerprint import FingerprintTransformer
from matsight.crystals.prototypes import CLASS_NAMES, pristine_set
from matsight.scale import LOCAL, Engine
from matsight.scale.workers import FingerprintWorker
from matsight.store import ChunkStore, RunFolder

FINGERPRINTS = "fingerprints.npy"


def build(
    out: str | os.PathLike,
    n: int = 700,
    seed: int = 0,
    max_rotation: float = 10.0,
    device: str = "cpu",
    engine: Engine = LOCAL,
) -> Path:
    """Write ``n`` pristine structures in layout 5 under ``out`` plus their fingerprints
    (``fingerprints.npy``, ``float32 [n, 3, 64, 64]``); return ``out``. The fingerprints are
    computed on ``engine`` in resumable chunks of 64 structures (``out/arrays/fingerprints``)."""
    structures, labels = pristine_set(n, seed=seed, max_rotation=max_rotation)
    out = write_structures(out, structures, labels)
    store = engine.run(
        len(structures),
        64,
        ChunkStore(out / "arrays" / "fingerprints"),
        FingerprintWorker(structures, device),
        device,
        description="fingerprints",
    )
    np.save(out / FINGERPRINTS, store.concat("fingerprint"))
    return out


def load_fingerprints(data: str | os.PathLike, device: str = "cpu") -> FingerprintDataset:
    """Fingerprints of a layout-5 folder (cached ``fingerprints.npy`` when it matches, else computed)."""
    structures, labels, _ = read_structures(data)
    cache = Path(data) / FINGERPRINTS
    if cache.exists():
        images = torch.from_numpy(np.load(cache))
        if len(images) == len(labels):
            return FingerprintDataset(images, labels)
    return FingerprintDataset(FingerprintTransformer(device=device).transform(structures), labels)


@torch.no_grad()
def predict_classes(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Arg-max class per fingerprint (``int64 [N]``)."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat(
        [model(images[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(images), batch_size)]
    ).numpy()


def train_classifier(
    data: str | os.PathLike | FingerprintDataset,
    out: str | os.PathLike,
    epochs: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """Adam, 90/10 split, best-validation checkpoint in ``out``; returns the metrics written to
    ``out/metrics.json`` (``val_accuracy`` = pristine held-out accuracy)."""
    from matsight.models import ModelSpec, build_model
    from matsight.training import FitConfig, fit

    dataset = data if isinstance(data, FingerprintDataset) else load_fingerprints(data, device)
    run = RunFolder(out)
    run.start(
        "crystals train",
        {
            "data": str(data) if not isinstance(data, FingerprintDataset) else "memory",
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
        },
        seed=seed,
    )
    order = np.random.default_rng(seed).permutation(len(dataset))
    n_val = max(1, len(dataset) // 10)
    val, train = Subset(dataset, order[:n_val].tolist()), Subset(dataset, order[n_val:].tolist())
    model = build_model("crystal_convnet", "classification", len(CLASS_NAMES))
    spec = ModelSpec(
        arch="crystal_convnet",
        task="classification",
        num_outputs=len(CLASS_NAMES),
        class_names=tuple(CLASS_NAMES),
        target_names=("class",),
        image_size=64,
        channels=3,
    )
    config = FitConfig(
        epochs=epochs, batch_size=batch_size, optimizer="adam", lr=lr, weight_decay=0.0, seed=seed, device=device
    )
    state = fit(model, train, val, spec, run, config)
    from matsight.models import load_model

    best, _ = load_model(run.path, device=device)
    idx = order[:n_val]
    acc = float((predict_classes(best, dataset.images[idx]) == dataset.labels[idx, 0].long().numpy()).mean())
    metrics = {"val_accuracy": acc, "n_train": len(train), "n_val": n_val, "best_epoch": state["best_epoch"]}
    run.write_json("metrics.json", metrics)
    run.set_status("finished")
    return metrics
