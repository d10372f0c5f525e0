"""Forward/backward capture of named modules; hooks are removed on exit, also after exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def capture(modules: dict[str, nn.Module], keep_grad: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Record the output of each named module during the forward passes run inside the block.

    Yields a dict ``name -> Tensor[N,C,h,w]`` filled by the forward pass. With ``keep_grad`` the
    recorded tensors stay in the autograd graph (for ``torch.autograd.grad`` w.r.t. them).
    """
    store: dict[str, torch.Tensor] = {}
    handles = []

    def make(name: str):
        def hook(_module, _inputs, output):
            store[name] = output if keep_grad else output.detach()

        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make(name)))
        yield store
    finally:
        for handle in handles:
            handle.remove()
