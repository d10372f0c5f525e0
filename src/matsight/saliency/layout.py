"""How a hooked activation maps onto the input image: ``[N,C,h,w]``, channels-last ``[N,h,w,C]`` or tokens.

Every activation an explainer reads goes through :func:`read_layout`, so a layer whose output cannot
be placed on the image (a pooled vector, a 1-D sequence, attention weights, a grid whose aspect does
not match the input) raises a :class:`~matsight.errors.ConfigError` instead of giving a wrong map.

- ``nchw``: ``[N,C,h,w]`` (convolutional networks).
- ``nhwc``: ``[N,h,w,C]`` (Swin, ConvNeXt blocks); chosen only where the ``nchw`` reading does not fit.
- ``tokens``: ``[N,T,D]`` (vision transformers); the first ``prefix`` tokens (class / register tokens,
  at most 8, as few as fit) are dropped and the remaining ``T - prefix`` tokens are the row-major
  ``h x w`` patch grid of some patch size ``p``: ``h = H // p``, ``w = W // p``, both at least 2.

A map grid ``h x w`` fits an input ``H x W`` when one stride ``s`` gives ``|h - H/s| <= 1`` and
``|w - W/s| <= 1`` (the same down-sampling in both directions, with rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from matsight.errors import ConfigError

MAX_PREFIX_TOKENS = 8


@dataclass(frozen=True)
class Layout:
    """Where a ``[N,...]`` activation's channels and ``h x w`` grid are; ``prefix``: leading non-patch tokens."""

    kind: str
    grid: tuple[int, int]
    channels: int
    prefix: int = 0


def grid_fits(grid: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether an ``h x w`` grid is the ``H x W`` input seen at one stride (with rounding), see module doc."""
    (h, w), (height, width) = grid, size
    if h < 1 or w < 1:
        return False
    low = max(height / (h + 1), width / (w + 1))
    high = min(height / (h - 1) if h > 1 else math.inf, width / (w - 1) if w > 1 else math.inf)
    return low <= high


def _token_layouts(tokens: int, channels: int, size: tuple[int, int]) -> list[Layout]:
    """Token layouts with the fewest prefix tokens whose patches form the grid of some patch size ``p``:
    ``h = H // p``, ``w = W // p``, both at least 2."""
    height, width = size
    grids = {(height // p, width // p) for p in range(1, min(height, width) // 2 + 1)}
    for prefix in range(min(MAX_PREFIX_TOKENS, tokens - 4) + 1):
        fitting = [g for g in grids if g[0] * g[1] == tokens - prefix]
        if fitting:
            return [Layout("tokens", g, channels, prefix) for g in sorted(fitting)]
    return []


def candidate_layouts(shape: tuple[int, ...], size: tuple[int, int]) -> list[Layout]:
    """Every reading of an activation of ``shape`` whose grid fits the ``H x W`` input, most likely first."""
    if len(shape) == 4:
        out = []
        if grid_fits((shape[2], shape[3]), size):
            out.append(Layout("nchw", (shape[2], shape[3]), shape[1]))
        if grid_fits((shape[1], shape[2]), size):
            out.append(Layout("nhwc", (shape[1], shape[2]), shape[3]))
        return out
    if len(shape) == 3:
        return _token_layouts(shape[1], shape[2], size)
    return []


def describe(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def read_layout(
    activation: torch.Tensor, x: torch.Tensor, name: str, kind: str | None = None, channels: int | None = None
) -> Layout:
    """The layout of ``activation`` (output of layer ``name``) for the input batch ``x`` ``[N,C,H,W]``.

    ``kind`` / ``channels`` (known when the layer was chosen) must agree; they also settle readings that
    fit two ways (a ``[N,96,96,96]`` Swin stage at 384 px). Raises :class:`ConfigError` when no
    reading fits.
    """
    shape = tuple(activation.shape) if torch.is_tensor(activation) else ()
    layouts = candidate_layouts(shape, tuple(x.shape[-2:])) if shape and shape[0] == x.shape[0] else []
    layouts = [lay for lay in layouts if kind in (None, lay.kind) and channels in (None, lay.channels)]
    if not layouts:
        what = f"an activation of shape {describe(shape)}" if shape else f"a {type(activation).__name__}"
        wanted = (
            f" (expected {kind} with {channels} channels)"
            if kind
            else ", which is not a [N,C,h,w] map, a channels-last [N,h,w,C] map or [N,T,D] tokens"
        )
        raise ConfigError(
            f"layer {name!r} gave {what} for an input of shape {describe(tuple(x.shape))}{wanted} whose grid "
            f"matches the image: choose another layer (layers=[...]; see matsight.saliency.find_stages)"
        )
    if len(layouts) > 1 and layouts[0].kind == "tokens":
        raise ConfigError(
            f"layer {name!r}: {describe(shape)} tokens fit several patch grids "
            f"({', '.join(f'{a.grid[0]}x{a.grid[1]}' for a in layouts)}) for a "
            f"{x.shape[-2]}x{x.shape[-1]} input: use a larger or non-square input"
        )
    return layouts[0]


def to_grid(activation: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``activation`` as ``[N,C,h,w]`` (a view where possible; differentiable)."""
    if layout.kind == "nchw":
        return activation
    if layout.kind == "nhwc":
        return activation.permute(0, 3, 1, 2)
    h, w = layout.grid
    patches = activation[:, layout.prefix :, :]
    return patches.reshape(activation.shape[0], h, w, activation.shape[2]).permute(0, 3, 1, 2)
