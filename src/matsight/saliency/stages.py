"""The stages ``Z1..Z5`` an explainer reads: ``model.stages``, module names, or found by a probe pass.

Discovery runs the model once on a probe image (``input_shape``; default: the first convolution's
input channels at ``model.image_size`` or 224 px; eval mode, restored afterwards) and records every
module's output.

- **CNNs** (any ``[N,C,h,w]`` or channels-last network: ResNet, DenseNet, VGG, EfficientNet,
  MobileNet, ConvNeXt, RegNet, ShuffleNet, SqueezeNet, GoogLeNet, Inception, Swin, a plain
  ``nn.Sequential``): at each grid, the stage is the tensor that the network carries to the next,
  smaller grid (the earliest-made input of a module whose output is smaller or no longer a grid),
  named by the outermost module that returns it (``layer1``, not ``layer1.2.relu``); grids within
  one octave of stride keep the deepest. The deepest grid, where pooling is often a function call,
  falls back to the last module with an output on that grid. Outputs that a later in-place
  operation changes (DenseNet's ``features`` before ``F.relu(..., inplace=True)``) are skipped: the
  value an explainer would read is not the one the module returned. ``Z1..Z5`` are the deepest five.
- **Vision transformers** (``[N,T,D]`` tokens): the stages are the outputs of the repeated blocks
  (sibling modules of one type mapping tokens to tokens of the same shape; the group with the most
  parameters) whose patch
  tokens still reach the features the head reads (a backward pass on the probe drops, e.g., the
  last ViT block, after which only the class token is read). ``Z1..Z5`` are the last five.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from matsight.errors import ConfigError
from matsight.saliency.layout import candidate_layouts, describe, read_layout

STAGE_COUNT = 5


@dataclass(frozen=True)
class Stage:
    """A layer to explain: ``name`` (``"Z3"`` or as given), ``path`` in ``model.named_modules()``,
    the ``module``, and its output ``kind`` (``nchw``/``nhwc``/``tokens``) and ``channels`` when known."""

    name: str
    path: str
    module: nn.Module
    kind: str | None = None
    channels: int | None = None

    def layout(self, activation: torch.Tensor, x: torch.Tensor):
        """The checked :class:`~matsight.saliency.layout.Layout` of this stage's output for input ``x``."""
        return read_layout(activation, x, self.path or self.name, self.kind, self.channels)


@dataclass
class _Call:
    order: int
    path: str
    module: nn.Module
    input: torch.Tensor | None
    output: torch.Tensor | None
    version: int = 0  # the output's version counter when the module returned it

    @property
    def changed_later(self) -> bool:
        """Whether a later in-place operation (e.g. ``F.relu(x, inplace=True)``) changed the output."""
        return self.output is not None and self.output._version != self.version


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def probe_input(model: nn.Module, input_shape: Sequence[int] | None = None) -> torch.Tensor:
    """A deterministic ``[1,C,H,W]`` ramp on the model's device and dtype for a dry forward pass."""
    tensors = [t for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()]
    device, dtype = (tensors[0].device, tensors[0].dtype) if tensors else (torch.device("cpu"), torch.float32)
    if input_shape is None:
        conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        size = getattr(model, "image_size", None)
        size = size if isinstance(size, int) else 224
        input_shape = (conv.in_channels if conv is not None else 3, size, size)
    n = math.prod(input_shape)
    return torch.linspace(0, 1, n, device=device, dtype=dtype).reshape(1, *input_shape)


def _record(model: nn.Module, x: torch.Tensor) -> tuple[list[_Call], object]:
    """Every module call of one forward pass (completion order) and the model output."""
    calls: list[_Call] = []
    handles = []

    def hook(path):
        def record(module, args, output):
            first = next((a for a in args if torch.is_tensor(a)), None)
            out = output if torch.is_tensor(output) else None
            calls.append(_Call(len(calls), path, module, first, out, out._version if out is not None else 0))

        return record

    try:
        for path, module in model.named_modules():
            if path:
                handles.append(module.register_forward_hook(hook(path)))
        with torch.no_grad(), _eval_mode(model):
            try:
                output = model(x)
            except Exception as exc:  # any model error: the probe cannot run, say how to fix it
                raise ConfigError(
                    f"cannot run {type(model).__name__} on a probe image {describe(tuple(x.shape))} to find "
                    f"its stages ({type(exc).__name__}: {exc}): pass input_shape=(C, H, W) or layers=[...]"
                ) from exc
    finally:
        for handle in handles:
            handle.remove()
    return calls, output


def _layout(t: torch.Tensor | None, size: tuple[int, int]):
    layouts = candidate_layouts(tuple(t.shape), size) if t is not None and t.dim() in (3, 4) else []
    return layouts[0] if layouts else None


def _cnn_stages(calls: list[_Call], size: tuple[int, int]) -> list[tuple[str, object]]:
    """``(module path, layout)`` of each grid's stage, shallow to deep (see module doc)."""
    producer: dict[int, _Call] = {}
    made: dict[int, int] = {}
    for call in calls:
        if call.output is not None and not call.changed_later:
            producer[id(call.output)] = call
            made.setdefault(id(call.output), call.order)
    carried: dict[tuple[int, int], tuple[int, torch.Tensor]] = {}
    deepest: dict[tuple[int, int], torch.Tensor] = {}
    for call in calls:
        out = _layout(call.output, size) if call.output is not None and call.output.dim() == 4 else None
        if out is not None and out.grid[0] * out.grid[1] > 1 and not call.changed_later:
            deepest[out.grid] = call.output
        inp = _layout(call.input, size) if call.input is not None and call.input.dim() == 4 else None
        if inp is None or id(call.input) not in producer:
            continue
        if out is not None and 1 < out.grid[0] * out.grid[1] < inp.grid[0] * inp.grid[1]:
            order = made[id(call.input)]
            if inp.grid not in carried or order < carried[inp.grid][0]:
                carried[inp.grid] = (order, call.input)
    if not deepest:
        return []
    last_grid = min(deepest, key=lambda g: g[0] * g[1])
    tensors = {grid: t for grid, (_, t) in carried.items() if grid[0] * grid[1] > 1}
    tensors.setdefault(last_grid, deepest[last_grid])
    by_octave: dict[int, tuple[tuple[int, int], torch.Tensor]] = {}
    for grid, t in sorted(tensors.items(), key=lambda item: -item[0][0] * item[0][1]):
        octave = round(0.5 * math.log2(size[0] * size[1] / (grid[0] * grid[1])))
        by_octave[octave] = (grid, t)
    return [(producer[id(t)].path, _layout(t, size)) for _, (_, t) in sorted(by_octave.items())]


def _token_blocks(calls: list[_Call], size: tuple[int, int]) -> list[_Call]:
    """Calls of the repeated blocks: sibling modules of one type that map tokens to tokens of the same
    shape, the group with the most parameters (a ViT's encoder blocks, not the norms inside them)."""
    blocks = [
        c
        for c in calls
        if c.output is not None
        and c.output.dim() == 3
        and c.input is not None
        and c.input.shape == c.output.shape
        and (lay := _layout(c.output, size)) is not None
        and lay.kind == "tokens"
    ]
    groups: dict[tuple[str, type], list[_Call]] = {}
    for c in blocks:
        groups.setdefault((c.path.rpartition(".")[0], type(c.module)), []).append(c)
    repeated = [g for g in groups.values() if len({c.path for c in g}) >= 2]
    if not repeated:
        return []
    return max(repeated, key=lambda g: sum(p.numel() for c in g for p in c.module.parameters()))


def _reaching_head(model: nn.Module, x: torch.Tensor, blocks: list[_Call], head: nn.Module) -> list[_Call]:
    """The blocks whose patch tokens reach the features ``head`` reads (one backward pass on the probe).

    The features (the input of the last module called, e.g. the class token after the final norm) are
    summed with ramp weights, so neither a zero-initialised head nor a normalised (zero-sum) feature
    vector hides the dependence.
    """
    outputs: dict[str, torch.Tensor] = {}
    features: list[torch.Tensor] = []
    handles = [
        c.module.register_forward_hook(lambda m, a, out, path=c.path: outputs.__setitem__(path, out)) for c in blocks
    ]
    handles.append(head.register_forward_pre_hook(lambda m, args: features.append(args[0])))
    try:
        with torch.enable_grad(), _eval_mode(model):
            model(x.clone().requires_grad_(True))
            read = features[-1].float().flatten()
            score = (read * torch.linspace(1, 2, read.numel(), device=read.device)).sum()
            grads = torch.autograd.grad(score, [outputs[c.path] for c in blocks], allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    size = tuple(x.shape[-2:])
    return [
        c
        for c, g in zip(blocks, grads)
        if g is not None and bool(g[:, _layout(c.output, size).prefix :].abs().sum() > 0)
    ]


def _candidates(calls: list[_Call], size: tuple[int, int], limit: int = 12) -> str:
    """The deepest ``limit`` module outputs that can be read as maps, for error messages."""
    rows = [f"{c.path} {describe(tuple(c.output.shape))}" for c in calls if _layout(c.output, size) is not None]
    rows = list(dict.fromkeys(rows))[-limit:]
    return "; ".join(rows) if rows else "none (no module returns a [N,C,h,w], [N,h,w,C] or [N,T,D] map)"


def discover_stages(model: nn.Module, input_shape: Sequence[int] | None = None) -> dict[str, Stage]:
    """``Z1..Z5`` (fewer when the model has fewer grids) found by a probe pass; see the module doc."""
    x = probe_input(model, input_shape)
    size = tuple(x.shape[-2:])
    calls, output = _record(model, x)
    named = dict(model.named_modules())
    blocks = _token_blocks(calls, size)
    if blocks:
        head = calls[-1].module
        found = [(c.path, _layout(c.output, size)) for c in _reaching_head(model, x, blocks, head)]
    else:
        found = _cnn_stages(calls, size)
    if torch.is_tensor(output) and output.dim() == 4 and _layout(output, size) is not None:
        found = []  # the model returns a map: there is no prediction head to explain
    if not found:
        raise ConfigError(
            f"cannot find the stages of {type(model).__name__} (probe image {describe(tuple(x.shape))}, output "
            f"{describe(tuple(output.shape)) if torch.is_tensor(output) else type(output).__name__}): pass "
            f"layers=[module names]; candidate layers (output shape): {_candidates(calls, size)}"
        )
    found = found[-STAGE_COUNT:]
    return {
        f"Z{i + 1}": Stage(f"Z{i + 1}", path, named[path], layout.kind, layout.channels)
        for i, (path, layout) in enumerate(found)
    }


def _named_stages(model: nn.Module, layers: Sequence[str], input_shape: Sequence[int] | None) -> dict[str, Stage]:
    own = getattr(model, "stages", None) or {}
    named = dict(model.named_modules())
    paths = {id(m): p for p, m in named.items()}
    for name in layers:
        if name not in own and name not in named:
            close = difflib.get_close_matches(name, list(own) + [p for p in named if p], n=3, cutoff=0.5)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise ConfigError(
                f"layer {name!r} is neither a stage ({', '.join(own) or 'none'}) nor a module name of "
                f"{type(model).__name__}{hint}; see model.named_modules()"
            )
    stages = {name: Stage(name, paths.get(id(own[name]), name), own[name], "nchw") for name in layers if name in own}
    probed = [name for name in layers if name not in own]
    if probed:
        x = probe_input(model, input_shape)
        calls, _ = _record(model, x)
        last = {id(c.module): c for c in calls}
        for name in probed:
            if id(named[name]) not in last:
                raise ConfigError(f"layer {name!r} is not run by {type(model).__name__}'s forward pass: choose another")
            layout = Stage(name, name, named[name]).layout(last[id(named[name])].output, x)
            stages[name] = Stage(name, name, named[name], layout.kind, layout.channels)
    return {name: stages[name] for name in layers}


def locate_stages(
    model: nn.Module, layers: Sequence[str] | None = None, input_shape: Sequence[int] | None = None
) -> dict[str, Stage]:
    """Ordered ``name -> Stage`` of the layers to explain (shallow to deep).

    ``layers=None``: ``model.stages`` when the model has it (matsight models; ``[N,C,h,w]``), else
    found by :func:`discover_stages`. ``layers=[...]``: stage names of ``model.stages`` (``"Z3"``)
    or module names (``"layer3"``, ``"features.denseblock2"``); a misspelt name lists the closest.
    """
    own = getattr(model, "stages", None)
    if layers is None:
        if isinstance(own, dict) and own:
            paths = {id(m): p for p, m in model.named_modules()}
            return {name: Stage(name, paths.get(id(m), name), m, "nchw") for name, m in own.items()}
        return discover_stages(model, input_shape)
    return _named_stages(model, layers, input_shape)


def find_stages(
    model: nn.Module, layers: Sequence[str] | None = None, input_shape: Sequence[int] | None = None
) -> dict[str, nn.Module]:
    """Ordered ``name -> module`` of :func:`locate_stages`."""
    return {name: stage.module for name, stage in locate_stages(model, layers, input_shape).items()}
