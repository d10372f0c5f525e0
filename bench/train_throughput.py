"""Training throughput: ``matsight.training.fit`` vs a bare PyTorch loop on the same model and data.

Both loops train the same ResNet regressor (fresh copies of one initialisation) with SGD (lr 0.01,
momentum 0.9, weight decay 2e-4), batch 32, on the same in-memory images. matsight's time is the
whole ``fit`` call: progress bar, target standardisation, per-epoch validation on a small held-out
set, best-checkpoint and resume-state writes. The bare loop does forward/backward/step only.
Prints a table of training images/s and their ratio (goal ≥ 0.9). The default epoch (1024 images of
64 px) costs about what one epoch of the CPU demo costs (576 tiles of 88 px); fit's fixed cost per
call (set-up, waiting for the last checkpoint write) weighs more with smaller epochs.

    .venv/bin/python bench/train_throughput.py [--images 1024] [--size 64] [--epochs 3] [--device auto]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader, TensorDataset

from matsight.models import build_model
from matsight.store import RunFolder
from matsight.training import fit
from matsight.utils import resolve_device


def bare_loop(model, dataset, epochs, batch_size, device) -> float:
    """Seconds for ``epochs`` of plain forward/backward/SGD steps."""
    model.to(device).train()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=2e-4)
    criterion = torch.nn.MSELoss()
    _sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        for images, targets in loader:
            loss = criterion(model(images.to(device)), targets.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    _sync(device)
    return time.perf_counter() - start


def matsight_loop(model, dataset, val, epochs, batch_size, device) -> float:
    """Seconds for ``matsight.training.fit`` over the same data (validation and checkpoints included)."""
    meta = {"arch": "resnet18", "task": "regression", "num_outputs": 1, "target_mean": [0.0], "target_std": [1.0]}
    with tempfile.TemporaryDirectory() as folder:
        _sync(device)
        start = time.perf_counter()
        fit(
            model,
            dataset,
            val,
            task="regression",
            run=RunFolder(folder),
            epochs=epochs,
            batch_size=batch_size,
            meta=meta,
            device=device,
        )
        _sync(device)
        return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    images = torch.rand(args.images, 1, args.size, args.size)
    data = TensorDataset(images, torch.randn(args.images, 1))
    val = TensorDataset(images[: args.batch_size], torch.randn(args.batch_size, 1))
    model = build_model(args.arch, "regression", 1)
    bare_loop(copy.deepcopy(model), data, 1, args.batch_size, device)  # warm-up (allocator, kernels)
    trained = (args.images // args.batch_size) * args.batch_size * args.epochs
    bare = trained / bare_loop(copy.deepcopy(model), data, args.epochs, args.batch_size, device)
    ours = trained / matsight_loop(copy.deepcopy(model), data, val, args.epochs, args.batch_size, device)
    table = Table(
        title=f"training images/s: {args.arch}, {args.size} px, batch {args.batch_size}, "
        f"{args.images} images x {args.epochs} epochs, {device}, {torch.get_num_threads()} threads"
    )
    for column in ("loop", "images/s", "ratio to bare"):
        table.add_column(column, justify="right")
    table.add_row("bare PyTorch", f"{bare:.1f}", "1.00")
    table.add_row("matsight fit", f"{ours:.1f}", f"{ours / bare:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
