"""Train a task model, or reuse the one trained before on the same content.

The cache key is a SHA-256 of the training images and targets, the architecture and every
training setting, so a model is reused exactly when retraining would repeat the same work.
Weights are stored as a plain state dict (``torch.save``) and read back with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from matsight.benchmark.config import Preset
from matsight.benchmark.models import build_task_model
from matsight.benchmark.tasks import Pool, Task
from matsight.progress import note
from matsight.store.atomic import atomic_path, atomic_write_json

TRAINING_VERSION = 1  # bump when the loop changes, so cached models are retrained


def _loss(kind: str) -> nn.Module:
    return {"regression": nn.MSELoss(), "classification": nn.CrossEntropyLoss(), "multilabel": nn.BCEWithLogitsLoss()}[
        kind
    ]


def _targets(kind: str, y: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    if kind == "regression":
        return (y - mean) / std
    return y[:, 0].long() if kind == "classification" else y


def _settings(task: Task, settings: Preset) -> dict:
    arch = settings.crystal_arch if task.kind == "classification" and task.channels == 3 else settings.arch
    epochs = settings.crystal_epochs if task.channels == 3 else settings.epochs
    return {"arch": arch, "epochs": epochs, "batch_size": settings.batch_size, "lr": settings.lr}


def cache_key(task: Task, pool: Pool, train: np.ndarray, settings: Preset, seed: int) -> str:
    digest = hashlib.sha256()
    for array in (pool.x[train], pool.y[train]):
        digest.update(np.ascontiguousarray(array).tobytes())
    recipe = {
        "task": task.name,
        "kind": task.kind,
        "seed": seed,
        "version": TRAINING_VERSION,
        **_settings(task, settings),
    }
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def quality(kind: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
    """Held-out quality: ``r2`` (regression), ``accuracy`` (classification) or ``mAP`` (multi-label)."""
    device = next(model.parameters()).device
    with torch.no_grad():
        out = torch.cat([model(chunk.to(device)).cpu() for chunk in x.split(batch_size)])
    if kind == "regression":
        return {"r2": float(1 - ((out - y) ** 2).sum() / ((y - y.mean()) ** 2).sum().clamp_min(1e-12))}
    if kind == "classification":
        return {"accuracy": float((out.argmax(1) == y).float().mean())}
    from matsight.analytics.metrics import mean_average_precision

    return {"mAP": float(mean_average_precision(y.numpy(), torch.sigmoid(out).numpy()))}


def train_model(
    task: Task,
    pool: Pool,
    train: np.ndarray,
    held_out: np.ndarray,
    settings: Preset,
    seed: int,
    cache: Path,
    device: str = "cpu",
) -> tuple[nn.Module, dict]:
    """The task model of ``seed`` (trained on ``pool[train]``, or read from ``cache``) in eval mode on
    ``device``, and ``{"cached": bool, "seconds": float, <quality on pool[held_out]>}``. A regressor
    predicts the standardised property (training mean and standard deviation), as matsight's do."""
    import time

    recipe = _settings(task, settings)
    key = cache_key(task, pool, train, settings, seed)
    weights, info_path = cache / f"{task.name}-{key}.pt", cache / f"{task.name}-{key}.json"
    y_train = torch.from_numpy(pool.y[train])
    mean = float(y_train.mean()) if task.kind == "regression" else 0.0
    std = float(y_train.std().clamp_min(1e-6)) if task.kind == "regression" else 1.0
    torch.manual_seed(seed)
    model = build_task_model(recipe["arch"], task.channels, task.kind, len(pool.outputs))
    if weights.exists() and info_path.exists():
        try:
            model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            info = {**json.loads(info_path.read_text()), "cached": True}
            return model.to(device).eval(), info
        except Exception as exc:  # a damaged or foreign cache entry: train again and replace it
            note(f"{weights.name} in the cache is unreadable ({type(exc).__name__}): training again")
    start = time.perf_counter()
    model.to(device).train()
    x_train = torch.from_numpy(pool.x[train])
    targets = _targets(task.kind, y_train, mean, std)
    loss_fn = _loss(task.kind)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    generator = torch.Generator().manual_seed(seed)
    steps = recipe["epochs"] * -(-len(train) // recipe["batch_size"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=recipe["lr"], total_steps=steps)
    for _ in range(recipe["epochs"]):
        for batch in torch.randperm(len(train), generator=generator).split(recipe["batch_size"]):
            loss = loss_fn(model(x_train[batch].to(device)), targets[batch].to(device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    model.eval()
    y_held = _targets(task.kind, torch.from_numpy(pool.y[held_out]), mean, std)
    info = {
        **quality(task.kind, model, torch.from_numpy(pool.x[held_out]), y_held),
        "seconds": time.perf_counter() - start,
        "n_train": len(train),
        **recipe,
    }
    with atomic_path(weights) as tmp:
        torch.save(model.state_dict(), tmp)
    atomic_write_json(info_path, info)
    return model, {**info, "cached": False}
