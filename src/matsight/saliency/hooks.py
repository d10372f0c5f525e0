"""Recording stage outputs during a forward pass; hooks and grad mode are restored on exit, also after errors.

``capture(stages, x, grad_from="Z5")`` runs the network *without* autograd up to that stage and with
autograd after it: the stage output is replaced by a leaf that requires grad, so a backward from the
output reaches it through the head only, and the trunk before it keeps no graph (less time and memory
than a full backward, the same gradient).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch

from matsight.errors import ConfigError
from matsight.saliency.layout import Layout, to_grid
from matsight.saliency.stages import Stage


class Recording:
    """What one forward pass left at each stage: ``raw[name]`` (as the layer returned it, detached, or
    the grad leaf) and its checked ``layouts[name]``."""

    def __init__(self) -> None:
        self.raw: dict[str, torch.Tensor] = {}
        self.layouts: dict[str, Layout] = {}
        self._versions: dict[str, int] = {}

    def tensor(self, name: str) -> torch.Tensor:
        """The recorded output of stage ``name``, checked not to have been changed in place since."""
        if name not in self.raw:
            raise ConfigError(f"layer {name!r} was not run by the forward pass: choose a layer the model uses")
        if self.raw[name]._version != self._versions[name]:
            raise ConfigError(
                f"layer {name!r}'s output is changed in place later in the network (e.g. by ReLU(inplace=True)): "
                f"explain the module that makes the final value instead"
            )
        return self.raw[name]

    def grid(self, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
        """Stage ``name``'s output (or ``like``, e.g. its gradient) as ``[N,C,h,w]``."""
        return to_grid(self.tensor(name) if like is None else like, self.layouts[name])


@contextmanager
def capture(
    stages: Mapping[str, Stage], x: torch.Tensor, grad_from: str | None = None, keep_graph: bool = False
) -> Iterator[Recording]:
    """Record each stage's output during the forward passes on ``x`` run inside the block.

    Every output's layout is checked (:meth:`Stage.layout`); an output that cannot be read as a map of
    ``x`` raises :class:`ConfigError` from inside the forward pass. ``grad_from``: the stage from which
    on autograd is switched on (run the block under ``torch.no_grad()``); its recorded output is a leaf
    to differentiate with ``torch.autograd.grad``. ``keep_graph``: record outputs as they are, in the
    autograd graph of the input (for gradients with respect to the input).
    """
    recording = Recording()
    handles = []
    grad_mode = torch.is_grad_enabled()

    def make(name: str, stage: Stage):
        def hook(_module, _inputs, output):
            recording.layouts[name] = stage.layout(output, x)
            if name != grad_from:
                recording.raw[name] = output if keep_graph else output.detach()
                recording._versions[name] = output._version
                return None
            leaf = output.detach().requires_grad_(True)
            recording.raw[name], recording._versions[name] = leaf, leaf._version
            torch.set_grad_enabled(True)
            return leaf.clone()

        return hook

    try:
        for name, stage in stages.items():
            handles.append(stage.module.register_forward_hook(make(name, stage)))
        yield recording
    finally:
        for handle in handles:
            handle.remove()
        torch.set_grad_enabled(grad_mode)


@contextmanager
def replace_output(stage: Stage, x: torch.Tensor, edit) -> Iterator[None]:
    """Within the block, ``stage``'s output ``A`` becomes ``edit(grid)`` applied to a copy, where ``grid``
    is the copy seen as ``[N,C,h,w]`` (a view, so in-place edits reach the network)."""

    def hook(_module, _inputs, output):
        copy = output.clone()
        edit(to_grid(copy, stage.layout(output, x)))
        return copy

    handle = stage.module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
