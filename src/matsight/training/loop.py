"""The one fit loop for regression, classification and multi-label models.

``fit(model, train_data, val_data, spec, run, FitConfig(...))`` trains with SGD (lr 0.01, momentum
0.9, weight decay 2e-4, exponential decay 0.95 per epoch: the SEM paper's recipe) or Adam, with the
gradient norm clipped to ``max_grad_norm`` (default 1.0: from-scratch ResNets on small images
otherwise diverge at lr 0.01 within the first epoch), keeps the best-validation-loss weights and the
model's :class:`~matsight.models.ModelSpec` in ``checkpoint.pt`` and the state after every finished
epoch in ``last.pt`` (model, optimiser, scheduler, RNG, history; :mod:`matsight.training.resume`),
so a rerun after a crash or Ctrl-C resumes from the last finished epoch. Both are written from a
snapshot on a background thread while the next epoch trains, and both load as data
(``weights_only=True``). Under ``torchrun`` it trains with DistributedDataParallel and only rank 0
writes files.

Datasets yield ``(image float32 [C,H,W] in [0,1], target float32 [T])``: the regression value(s),
the class index in column 0, or 0/1 attributes. Regression targets are standardised with the spec's
``target_mean``/``target_std`` inside the loop; the model learns the standardised value.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from matsight.errors import ConfigError
from matsight.models import ModelSpec, save_checkpoint
from matsight.progress import note, progress
from matsight.scale import distributed
from matsight.store import BackgroundWriter, RunFolder
from matsight.training import resume

LAST_STATE = "last.pt"
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("exponential", "cosine")


@dataclass(frozen=True)
class FitConfig:
    """How :func:`fit` trains (defaults: the SEM paper's recipe).

    ``lr``: learning rate; ``momentum`` (SGD) and ``weight_decay``; ``schedule``: ``exponential``
    (× ``lr_decay`` per epoch) or ``cosine`` (to 0 at the last epoch); ``max_grad_norm``: gradient-norm
    clip (None: off); ``seed``: weights init, shuffling and augmentation; ``device``: where to train.
    """

    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 2e-4
    lr_decay: float = 0.95
    schedule: str = "exponential"
    max_grad_norm: float | None = 1.0
    seed: int = 0
    num_workers: int = 0
    device: str | torch.device = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a whole number of at least 1")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer {self.optimizer!r}: use sgd or adam")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule {self.schedule!r}: use exponential or cosine")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a positive number, got {self.lr}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1 or not 0 < self.lr_decay <= 1:
            raise ConfigError("weight decay must be >= 0, momentum in [0, 1) and the lr decay in (0, 1]")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ConfigError(f"max_grad_norm must be positive or None, got {self.max_grad_norm}")


def loss_function(task: str) -> nn.Module:
    return {"regression": nn.MSELoss(), "classification": nn.CrossEntropyLoss(), "multilabel": nn.BCEWithLogitsLoss()}[
        task
    ]


def prepare_target(target: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """Targets as the loss expects them: standardised values, class indices, or 0/1 floats."""
    if spec.task == "regression":
        return spec.standardise(target)
    if spec.task == "classification":
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


@torch.no_grad()
def evaluate_loss(model: nn.Module, loader: DataLoader, spec: ModelSpec, device: torch.device) -> float:
    """Mean validation loss per sample."""
    model.eval()
    criterion, total, count = loss_function(spec.task), 0.0, 0
    for images, targets in loader:
        out = model(images.to(device))
        total += float(criterion(out, prepare_target(targets.to(device), spec))) * len(images)
        count += len(images)
    return total / max(count, 1)


def _write_epoch_state(folder, state: dict[str, Any], spec: ModelSpec, improved: bool) -> None:
    """Write ``checkpoint.pt`` (when the epoch improved validation) and then ``last.pt``, atomically."""
    if improved:
        epoch = state["progress"]["epoch"]
        save_checkpoint(folder / "checkpoint.pt", state["states"]["model"], spec, epoch=epoch)
    resume.write_snapshot(folder / LAST_STATE, state)


def fit(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset,
    spec: ModelSpec,
    run: RunFolder,
    config: FitConfig = FitConfig(),
) -> dict[str, Any]:
    """Train ``model`` (described by ``spec``: task, target scaling) as ``config`` says; return
    ``{"epoch", "best_epoch", "best_val_loss", "history": [...]}``.

    ``run.path/"checkpoint.pt"`` holds the best-validation weights and ``spec`` afterwards.
    """
    seed = config.seed
    device = distributed.init(torch.device(config.device))
    distributed.barrier()  # rank 0 has checked or cleared the run folder before anyone reads last.pt
    torch.manual_seed(seed)
    model.to(device)
    trained = distributed.wrap(model, device)
    generator = torch.Generator().manual_seed(seed)
    sampler = distributed.sampler(train_data, shuffle=True, seed=seed)
    train_loader = DataLoader(
        train_data,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=len(train_data) > config.batch_size,
        generator=generator,
        num_workers=config.num_workers,
    )
    val_loader = DataLoader(val_data, batch_size=config.batch_size * 2, num_workers=config.num_workers)
    opt = make_optimizer(trained, config.optimizer, config.lr, config.momentum, config.weight_decay)
    scheduler = make_scheduler(opt, config.schedule, config.epochs, config.lr_decay)
    criterion = loss_function(spec.task)
    parts = {"model": model, "optimizer": opt, "scheduler": scheduler}
    state = {"epoch": 0, "best_val_loss": math.inf, "best_epoch": 0, "history": []}
    last_path = run.path / LAST_STATE
    if last_path.exists():
        state = resume.restore(resume.read_snapshot(last_path, device), parts, generator)
    epochs = config.epochs
    steps, started, first_epoch = len(train_loader), time.monotonic(), state["epoch"]
    with progress(epochs * steps, "training", completed=state["epoch"] * steps) as bar, BackgroundWriter() as writer:
        for epoch in range(state["epoch"] + 1, epochs + 1):
            if sampler is not None:
                sampler.set_epoch(epoch)
            trained.train()
            running, seen = 0.0, 0
            for images, targets in train_loader:
                out = trained(images.to(device, non_blocking=True))
                loss = criterion(out, prepare_target(targets.to(device), spec))
                if not torch.isfinite(loss):
                    raise ConfigError(
                        f"training diverged in epoch {epoch} (loss is {float(loss)}): "
                        "lower --lr or check the targets for extreme values"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if config.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(trained.parameters(), config.max_grad_norm)
                opt.step()
                running += float(loss.detach()) * len(images)
                seen += len(images)
                bar.advance(info=f"epoch {epoch}/{epochs} loss {running / seen:.4f}")
            scheduler.step()
            val_loss = evaluate_loss(model, val_loader, spec, device)
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
            if distributed.is_main():
                per_epoch = (time.monotonic() - started) / (epoch - first_epoch)
                best = (
                    "best so far" if improved else f"best {state['best_val_loss']:.4g} in epoch {state['best_epoch']}"
                )
                note(
                    f"epoch {epoch}/{epochs}: train loss {running / max(seen, 1):.4g}, validation loss {val_loss:.4g} "
                    f"({best}); {per_epoch:.1f} s per epoch, ~{per_epoch * (epochs - epoch):.0f} s left"
                )
            if distributed.is_main():  # snapshot now, write while the next epoch computes
                writer.submit(_write_epoch_state, run.path, resume.snapshot(parts, generator, state), spec, improved)
            distributed.barrier()
    return state
