"""Building models from a description, and saving/loading checkpoints (local files only)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from matsight.errors import ConfigError, RunFolderError
from matsight.models.backbones import ARCHITECTURES, ImageNet
from matsight.models.crystal import CrystalConvNet
from matsight.store.atomic import atomic_path

CHECKPOINT_FORMAT = "matsight-checkpoint-1"


def build_model(arch: str, task: str, num_outputs: int = 1, weights: str | os.PathLike | None = None) -> nn.Module:
    """A model with named ``stages``, optionally initialised from a local weights file.

    ``weights`` may be a torchvision state dict (the head is skipped when its shape differs)
    or a matsight checkpoint. Nothing is downloaded.
    """
    if arch == "crystal_convnet":
        model: nn.Module = CrystalConvNet(num_outputs=num_outputs)
    elif arch in ARCHITECTURES:
        model = ImageNet(arch, task, num_outputs)
    else:
        raise ConfigError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)}")
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a torchvision state dict or a matsight checkpoint into ``model`` (head may differ)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"weights file {path} does not exist: give a local .pt/.pth file (nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise ConfigError(
            f"weights file {path} cannot be read as a PyTorch state dict ({exc.__class__.__name__})"
        ) from None
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        state = state["model"]
    if not isinstance(state, dict):
        raise ConfigError(f"weights file {path} does not hold a state dict")
    target = (
        model.backbone if isinstance(model, ImageNet) and not any(k.startswith("backbone.") for k in state) else model
    )
    own = target.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ConfigError(
            f"weights file {path} matches none of the {type(model).__name__} parameters: "
            "check that it was saved from the same architecture"
        )
    target.load_state_dict(usable, strict=False)


def save_checkpoint(
    path: str | os.PathLike, model: nn.Module | dict[str, Any], meta: dict[str, Any], **extra: Any
) -> None:
    """Save weights (a module or its ``state_dict``) plus ``meta`` (arch, task, num_outputs, output
    names, target scaling...).

    ``extra`` (optimizer/scheduler state, epoch) is stored beside them for resuming.
    """
    weights = model.state_dict() if isinstance(model, nn.Module) else model
    payload = {"format": CHECKPOINT_FORMAT, "model": weights, "meta": meta, **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dictionary; raises RunFolderError naming the file when unreadable."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise RunFolderError(f"{path} does not exist: train a model first (matsight train ... --out RUN)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise RunFolderError(
            f"{path} is not a readable checkpoint ({exc.__class__.__name__}); retrain or restore it"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise RunFolderError(f"{path} is not a matsight checkpoint; use --weights for plain state dicts")
    return payload


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved at ``path`` (a checkpoint file or a run folder), in eval mode.

    Returns ``(model, meta)``; ``meta`` holds at least ``arch``, ``task``, ``num_outputs``.
    """
    payload = read_checkpoint(path)
    meta = payload["meta"]
    model = build_model(meta["arch"], meta["task"], meta["num_outputs"])
    model.load_state_dict(payload["model"])
    return model.to(device).eval(), meta
