"""DistributedDataParallel under ``torchrun``: the few calls a training loop needs.

``matsight train`` runs unchanged as ``torchrun --nproc-per-node N -m matsight.cli train ...``:
torchrun sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; :func:`init` joins the process group
(NCCL on GPUs, gloo on CPU), :func:`wrap` wraps the model, :func:`sampler` shards the training
set, and only :func:`is_main` processes write the run folder and checkpoints.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler


def world_size() -> int:
    """Number of processes started by torchrun (1 when not distributed)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return world_size() > 1


def is_main() -> bool:
    """True in the process that writes files (rank 0, or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0


def init(device: torch.device) -> torch.device:
    """Join the process group when launched by torchrun; return this process's device."""
    if not is_distributed():
        return device
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when distributed, else unchanged."""
    if not is_distributed():
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def sampler(dataset: Dataset, shuffle: bool, seed: int) -> DistributedSampler | None:
    """A DistributedSampler when distributed (call ``set_epoch`` each epoch), else None."""
    return DistributedSampler(dataset, shuffle=shuffle, seed=seed) if is_distributed() else None


def barrier() -> None:
    if is_distributed() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
