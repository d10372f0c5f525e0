"""Building models from a description, and saving/loading checkpoints (local files only)."""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from matsight.errors import ConfigError, RunFolderError
from matsight.models.backbones import ARCHITECTURES, ImageNet
from matsight.models.crystal import CrystalConvNet, SoapMLP
from matsight.models.spec import ModelSpec
from matsight.store.atomic import atomic_path

CHECKPOINT_FORMAT = "matsight-checkpoint-2"
OLD_FORMATS = ("matsight-checkpoint-1",)


def safe_load(path: str | os.PathLike, what: str, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, never code.

    A file that holds anything else (a crafted pickle, a foreign object), a truncated or corrupt
    file raises RunFolderError naming ``path`` and ``what`` it should be.
    """
    try:
        with warnings.catch_warnings():  # torch warns about raw pickles before failing; the error says it all
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt, truncated or unsafe files
        reason = (
            "holds objects other than tensors and plain values (an older matsight's file, or a crafted one), "
            "so it was not loaded: files are data, never code"
            if isinstance(exc, pickle.UnpicklingError)
            else f"is truncated or corrupt ({exc.__class__.__name__})"
        )
        raise RunFolderError(f"{path} {reason}; it is not a usable {what}: retrain, or restore the file") from None


def build_model(
    arch: str,
    task: str,
    num_outputs: int = 1,
    weights: str | os.PathLike | None = None,
    params: Mapping[str, Any] | None = None,
) -> nn.Module:
    """A model with named ``stages``, optionally initialised from a local weights file.

    ``weights`` may be a torchvision state dict (the head is skipped when its shape differs)
    or a matsight checkpoint. Nothing is downloaded. ``params``: the architecture's own sizes
    (:attr:`ModelSpec.arch_params`; ``soap_mlp`` needs ``n_features``, may take ``hidden`` and ``dropout``;
    ``crystal_convnet`` may take ``input_power``).
    """
    if arch == "crystal_convnet":
        model: nn.Module = CrystalConvNet.from_params(num_outputs, params or {})
    elif arch == SoapMLP.arch:
        model = SoapMLP.from_params(num_outputs, params or {})
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
    if isinstance(state, dict) and state.get("format") in (CHECKPOINT_FORMAT, *OLD_FORMATS):
        state = state["model"]  # initial weights only: an older checkpoint's weights are fine
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
    path: str | os.PathLike,
    model: nn.Module | dict[str, Any],
    spec: ModelSpec | dict[str, Any],
    **extra: int | float | str | bool | None,
) -> None:
    """Save weights (a module or its ``state_dict``) and the model's :class:`ModelSpec` (stored as JSON).

    ``spec`` may be given as a dict of ModelSpec fields; ``extra`` plain values (e.g. ``epoch``) are
    stored beside them. The file loads with ``weights_only=True``: tensors and plain values only.
    """
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.from_dict(dict(spec))
    weights = model.state_dict() if isinstance(model, nn.Module) else model
    payload = {"format": CHECKPOINT_FORMAT, "model": weights, "spec": spec.to_json(), **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint dictionary with its ``spec`` parsed into a :class:`ModelSpec`; raises RunFolderError
    naming the file when it is missing, unreadable, unsafe, of an older format, or not a matsight checkpoint."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise RunFolderError(f"{path} does not exist: train a model first (matsight train DATA --out RUN)")
    payload = safe_load(path, "matsight checkpoint")
    version = payload.get("format") if isinstance(payload, dict) else None
    if version in OLD_FORMATS:
        raise RunFolderError(
            f"{path} was written by an older matsight ({version}) without the model spec this version needs "
            "(intensity normalisation, target, layout): retrain or convert it (matsight train ... --out RUN)"
        )
    if version != CHECKPOINT_FORMAT:
        raise RunFolderError(f"{path} is not a matsight checkpoint; use --weights for plain state dicts")
    try:
        payload["spec"] = ModelSpec.from_json(payload["spec"])
    except (KeyError, ConfigError) as exc:
        raise RunFolderError(f"{path} holds no valid model spec ({exc}); retrain it") from None
    return payload


def read_spec(path: str | os.PathLike) -> ModelSpec:
    """The :class:`ModelSpec` of the checkpoint at ``path`` (a checkpoint file or a run folder)."""
    return read_checkpoint(path)["spec"]


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelSpec]:
    """Rebuild the model saved at ``path`` (a checkpoint file or a run folder), in eval mode.

    Returns ``(model, spec)``.
    """
    payload = read_checkpoint(path)
    spec = payload["spec"]
    model = build_model(spec.arch, spec.task, spec.num_outputs, params=spec.arch_parameters)
    try:
        model.load_state_dict(payload["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        reason = str(exc).splitlines()[0]
        raise RunFolderError(f"{path}: the weights do not fit its model spec ({reason}); retrain it") from None
    return model.to(device).eval(), spec
