"""What the crystal ConvNet looks at: attentive response maps and CLEAR maps per class.

For each of the 7 classes one pristine and one defective structure (25 % vacancies) are
fingerprinted; the figure per class shows the fingerprint, the response map of the top units
of the last conv stage (``matsight.saliency.ResponseMaps``) and the CLEAR map
(``matsight.saliency.CLEAR``) for both.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from matsight.crystals.defects import vacancies
from matsight.crystals.fingerprint import FingerprintTransformer
from matsight.crystals.prototypes import CLASS_NAMES, random_prototype
from matsight.store import RunFolder

DEFECT_FRACTION = 0.25


def example_fingerprints(seed: int = 0, device: str = "cpu") -> torch.Tensor:
    """``float32 [7, 2, 3, 64, 64]``: pristine and 25 %-vacancy fingerprint per class."""
    import numpy as np

    rng = np.random.default_rng(seed)
    structures = []
    for cls in range(len(CLASS_NAMES)):
        atoms, _ = random_prototype(cls, rng)
        structures += [atoms, vacancies(atoms, DEFECT_FRACTION, seed=seed + cls)]
    return FingerprintTransformer(device=device).transform(structures).view(len(CLASS_NAMES), 2, 3, 64, 64)


def _as_maps(result) -> torch.Tensor:
    """An explainer's output as ``[N, H, W]`` on CPU."""
    maps = result[0] if isinstance(result, (tuple, list)) else result
    return maps.detach().float().cpu()


def plot_class(cls: int, images: torch.Tensor, response: torch.Tensor, clear: torch.Tensor,
               path: str | os.PathLike) -> Path:
    """One figure: rows pristine / defective; columns fingerprint, response map, CLEAR map."""
    import matplotlib.pyplot as plt

    from matsight.report.style import SALIENCY_CMAP, save_figure

    fig, axes = plt.subplots(2, 3, figsize=(7.5, 5))
    for row, name in enumerate(("pristine", f"{int(DEFECT_FRACTION * 100)} % vacancies")):
        panels = ((images[row].permute(1, 2, 0).numpy(), "fingerprint (RGB = x/y/z rotations)", None),
                  (response[row].numpy(), "attentive response map", SALIENCY_CMAP),
                  (clear[row].numpy(), "CLEAR map", "cividis"))
        for ax, (img, title, cmap) in zip(axes[row], panels):
            shown = ax.imshow(img, cmap=cmap)
            ax.set_title(f"{name}: {title}", fontsize=7)
            ax.set_xlabel("detector x (px)")
            ax.set_ylabel("detector y (px)")
            if cmap is not None:
                fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.suptitle(f"class {CLASS_NAMES[cls]}")
    return save_figure(fig, path)


def run_explain(run_dir: str | os.PathLike, out: str | os.PathLike, seed: int = 0,
                device: str = "cpu", top_n: int = 4) -> list[Path]:
    """Write ``out/figures/explain_<class>.png`` for each class and a report section; return the paths."""
    from matsight.models import load_model
    from matsight.report import Section, write_section
    from matsight.saliency import CLEAR, ResponseMaps

    model, _ = load_model(run_dir, device=device)
    run = RunFolder(out)
    run.start("crystals explain", {"run": str(run_dir), "top_n": top_n}, seed=seed)
    examples = example_fingerprints(seed, device)
    x = examples.view(-1, 3, 64, 64).to(device)
    response = _as_maps(ResponseMaps(model).attribute(x, top_n=top_n)).view(len(CLASS_NAMES), 2, *x.shape[-2:])
    clear = _as_maps(CLEAR(model).attribute(x)).view(len(CLASS_NAMES), 2, *x.shape[-2:])
    paths = [plot_class(c, examples[c], response[c], clear[c], run.figure_path(f"explain_{CLASS_NAMES[c]}.png"))
             for c in range(len(CLASS_NAMES))]
    write_section(run.path, Section(
        key="crystals-explain", title="Crystal ConvNet: attentive response and CLEAR maps",
        text=f"Per class: a pristine and a {int(DEFECT_FRACTION * 100)} %-vacancy fingerprint, the response "
             f"map of the top {top_n} units of the last conv stage, and the CLEAR map.",
        figures=[str(p.relative_to(run.path)) for p in paths], order=62))
    run.set_status("finished")
    return paths
