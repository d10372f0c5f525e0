"""The one fit loop for regression, classification and multi-label models.

``fit(model, train_data, val_data, task=..., run=RunFolder(...), epochs=..., ...)`` trains with
SGD (lr 0.01, momentum 0.9, weight decay 2e-4, exponential decay 0.95 per epoch: the SEM paper's
recipe) or Adam, with the gradient norm clipped to ``max_grad_norm`` (default 1.0: from-scratch
ResNets on small images otherwise diverge at lr 0.01 within the first epoch), keeps the best-validation-loss
weights in ``checkpoint.pt`` and the state after
every finished epoch in ``last.pt`` (model, optimiser, scheduler, RNG, history), so a rerun after a
crash or Ctrl-C resumes from the last finished epoch. Both are written from a snapshot on a
background thread while the next epoch trains. Under ``torchrun`` it trains with
DistributedDataParallel and only rank 0 writes files.

Datasets yield ``(image float32 [C,H,W] in [0,1], target float32 [T])``: the regression value(s),
the class index in column 0, or 0/1 attributes. Regression targets are standardised with
``meta["target_mean"]``/``meta["target_std"]`` inside the loop; the model learns the standardised
value.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.utils.data import DataLoader, Dataset

from matsight.errors import ConfigError, RunFolderError
from matsight.models import save_checkpoint
from matsight.scale import distributed
from matsight.store import BackgroundWriter, RunFolder, atomic_path

LAST_STATE = "last.pt"


def loss_function(task: str) -> nn.Module:
    return {"regression": nn.MSELoss(), "classification": nn.CrossEntropyLoss(), "multilabel": nn.BCEWithLogitsLoss()}[
        task
    ]


def prepare_target(target: torch.Tensor, task: str, meta: dict[str, Any]) -> torch.Tensor:
    """Targets as the loss expects them: standardised values, class indices, or 0/1 floats."""
    if task == "regression":
        mean = torch.as_tensor(meta["target_mean"], dtype=target.dtype, device=target.device)
        std = torch.as_tensor(meta["target_std"], dtype=target.dtype, device=target.device)
        return (target - mean) / std
    if task == "classification":
        return target[:, 0].long()
    return target


def make_optimizer(model: nn.Module, optimizer: str, lr: float, momentum: float, weight_decay: float):
    if optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ConfigError(f"optimizer {optimizer!r}: use sgd or adam")


def make_scheduler(opt: torch.optim.Optimizer, schedule: str, epochs: int, lr_decay: float):
    """Per-epoch learning-rate schedule: ``exponential`` (× ``lr_decay`` each epoch) or ``cosine`` (to 0)."""
    if schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=lr_decay)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    raise ConfigError(f"schedule {schedule!r}: use exponential or cosine")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        transient=True,
    )


@torch.no_grad()
def evaluate_loss(model: nn.Module, loader: DataLoader, task: str, meta: dict, device: torch.device) -> float:
    """Mean validation loss per sample."""
    model.eval()
    criterion, total, count = loss_function(task), 0.0, 0
    for images, targets in loader:
        out = model(images.to(device))
        total += float(criterion(out, prepare_target(targets.to(device), task, meta))) * len(images)
        count += len(images)
    return total / max(count, 1)


def _write_epoch_state(folder, snapshot: dict[str, Any], meta: dict[str, Any], improved: bool) -> None:
    """Write ``checkpoint.pt`` (when the epoch improved validation) and then ``last.pt``, atomically."""
    if improved:
        save_checkpoint(folder / "checkpoint.pt", snapshot["model"], meta, epoch=snapshot["state"]["epoch"])
    with atomic_path(folder / LAST_STATE) as tmp:
        torch.save(snapshot, tmp)


def fit(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset,
    *,
    task: str,
    run: RunFolder,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: str = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 2e-4,
    lr_decay: float = 0.95,
    schedule: str = "exponential",
    meta: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    num_workers: int = 0,
    max_grad_norm: float | None = 1.0,
) -> dict[str, Any]:
    """Train ``model``; return ``{"best_epoch", "best_val_loss", "history": [...]}``.

    ``meta`` is stored in the checkpoint (``arch, task, num_outputs``, target scaling, names,
    image sizes); ``run.path/"checkpoint.pt"`` holds the best-validation weights afterwards.
    """
    meta = dict(meta or {})
    device = distributed.init(torch.device(device))
    distributed.barrier()  # rank 0 has checked or cleared the run folder before anyone reads last.pt
    torch.manual_seed(seed)
    model.to(device)
    trained = distributed.wrap(model, device)
    generator = torch.Generator().manual_seed(seed)
    sampler = distributed.sampler(train_data, shuffle=True, seed=seed)
    train_loader = DataLoader(
        train_data,
        batch_size=batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=len(train_data) > batch_size,
        generator=generator,
        num_workers=num_workers,
    )
    val_loader = DataLoader(val_data, batch_size=batch_size * 2, num_workers=num_workers)
    opt = make_optimizer(trained, optimizer, lr, momentum, weight_decay)
    scheduler = make_scheduler(opt, schedule, epochs, lr_decay)
    criterion = loss_function(task)
    state = {"epoch": 0, "best_val_loss": math.inf, "best_epoch": 0, "history": []}
    last_path = run.path / LAST_STATE
    if last_path.exists():
        try:
            saved = torch.load(last_path, map_location=device, weights_only=False)
        except Exception as exc:  # torch raises many types for a damaged file
            raise RunFolderError(
                f"{last_path} cannot be read to resume ({exc.__class__.__name__}): delete it to restart "
                "training, or pass --overwrite"
            ) from None
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        random.setstate(saved["python_rng"])
        np.random.set_state(saved["numpy_rng"])
        state = saved["state"]
    with _progress() as progress, BackgroundWriter() as writer:
        bar = progress.add_task(
            "training", total=epochs * len(train_loader), info="", completed=state["epoch"] * len(train_loader)
        )
        for epoch in range(state["epoch"] + 1, epochs + 1):
            if sampler is not None:
                sampler.set_epoch(epoch)
            trained.train()
            running, seen = 0.0, 0
            for images, targets in train_loader:
                out = trained(images.to(device, non_blocking=True))
                loss = criterion(out, prepare_target(targets.to(device), task, meta))
                if not torch.isfinite(loss):
                    raise ConfigError(
                        f"training diverged in epoch {epoch} (loss is {float(loss)}): "
                        "lower --lr or check the targets for extreme values"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(trained.parameters(), max_grad_norm)
                opt.step()
                running += float(loss.detach()) * len(images)
                seen += len(images)
                progress.update(bar, advance=1, info=f"epoch {epoch}/{epochs} loss {running / seen:.4f}")
            scheduler.step()
            val_loss = evaluate_loss(model, val_loader, task, meta, device)
            state["history"].append(
                {
                    "epoch": epoch,
                    "train_loss": running / max(seen, 1),
                    "val_loss": val_loss,
                    "lr": opt.param_groups[0]["lr"],
                }
            )
            state["epoch"] = epoch
            improved = val_loss < state["best_val_loss"]
            if improved:
                state.update(best_val_loss=val_loss, best_epoch=epoch)
            if distributed.is_main():  # snapshot now, write while the next epoch computes
                snapshot = copy.deepcopy(
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "generator": generator.get_state(),
                        "torch_rng": torch.get_rng_state(),
                        "python_rng": random.getstate(),
                        "numpy_rng": np.random.get_state(),
                        "state": state,
                    }
                )
                writer.submit(_write_epoch_state, run.path, snapshot, meta, improved)
            distributed.barrier()
    return state
