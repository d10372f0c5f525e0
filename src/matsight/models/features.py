"""Penultimate features and outputs of a matsight model in one pass."""

from __future__ import annotations

import torch


@torch.no_grad()
def features_and_logits(model: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """For one batch ``images [n, C, H, W]``: penultimate ``features float32 [n, F]`` (the input of
    ``model.head``, by a forward hook) and ``output float32 [n, K]`` (raw outputs: standardised
    regression values or logits)."""
    captured: list[torch.Tensor] = []
    hook = model.head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].flatten(1)))
    try:
        output = model(images).float()
    finally:
        hook.remove()
    return {"features": captured[0].float(), "output": output}
