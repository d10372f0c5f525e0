"""Pictures of maps: overlays with a colour bar, layer contribution (HSV), CLEAR / dominant-unit maps."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from matsight.report.style import OKABE_ITO, SALIENCY_CMAP  # noqa: E402


def palette(n: int) -> np.ndarray:
    """``n`` distinct RGB colours ``[n,3]``: Okabe-Ito up to 8, tab20 beyond."""
    if n <= len(OKABE_ITO):
        return np.array([to_rgb(c) for c in OKABE_ITO[:n]])
    return plt.get_cmap("tab20")(np.arange(n) % 20)[:, :3]


def clear_rgb(dominant: torch.Tensor, level: torch.Tensor, n: int | None = None) -> np.ndarray:
    """CLEAR picture ``[N,H,W,3]``: colour = dominant output, brightness = level / per-image max."""
    dom = dominant.detach().cpu().numpy()
    lev = level.detach().float().cpu()
    lev = (lev / lev.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)).numpy()
    colours = palette(n or int(dom.max()) + 1)
    return colours[dom] * lev[..., None]


def legend_handles(names: list[str]) -> list[Patch]:
    """Legend patches for ``clear_rgb`` colours."""
    colours = palette(len(names))
    return [Patch(color=colours[i], label=name) for i, name in enumerate(names)]


def overlay_figure(
    images: torch.Tensor,
    maps: torch.Tensor,
    titles: list[str] | None = None,
    cmap: str = SALIENCY_CMAP,
    alpha: float = 0.5,
) -> plt.Figure:
    """A row per image: the grey image, and the image with the map on top (shared colour bar)."""
    n = images.shape[0]
    fig, axes = plt.subplots(n, 2, figsize=(5, 2.4 * n), squeeze=False)
    for i in range(n):
        img = images[i].detach().float().cpu().mean(dim=0).numpy()
        axes[i, 0].imshow(img, cmap="gray", vmin=0, vmax=1)
        axes[i, 1].imshow(img, cmap="gray", vmin=0, vmax=1)
        shown = axes[i, 1].imshow(maps[i].detach().float().cpu().numpy(), cmap=cmap, vmin=0, vmax=1, alpha=alpha)
        axes[i, 0].set_title(titles[i] if titles else "image", fontsize=8)
        axes[i, 1].set_title("saliency", fontsize=8)
        for ax in axes[i]:
            ax.set_xlabel("x (px)", fontsize=7)
            ax.set_ylabel("y (px)", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.colorbar(shown, ax=axes.ravel().tolist(), label="saliency (normalised)", shrink=0.8)
    return fig
