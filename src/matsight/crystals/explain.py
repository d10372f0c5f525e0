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


def plot_class(cls: int, images: torch.Tensor, response, clear, path: str | os.PathLike) -> Path:
    """One figure: rows pristine / defective; columns fingerprint, response map (max over the top
    units), dominant unit D(x), CLEAR map (dominant class C(x), brightness = level L(x))."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import ListedColormap

    from matsight.report.style import OKABE_ITO, SALIENCY_CMAP, save_figure

    classes = ListedColormap(OKABE_ITO[: len(CLASS_NAMES)])
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.5))
    fig.subplots_adjust(wspace=0.5, hspace=0.35)
    for row, name in enumerate(("pristine", f"{int(DEFECT_FRACTION * 100)} % vacancies")):
        level = clear.level[row].numpy()
        axes[row, 0].imshow(images[row].permute(1, 2, 0).numpy())
        axes[row, 0].set_title(f"{name}: fingerprint (RGB = x/y/z)", fontsize=7)
        shown = axes[row, 1].imshow(response.maps[row].amax(0).numpy(), cmap=SALIENCY_CMAP)
        fig.colorbar(shown, ax=axes[row, 1], fraction=0.046, label="response")
        axes[row, 1].set_title(f"response map, top {response.maps.shape[1]} units of Z3", fontsize=7)
        shown = axes[row, 2].imshow(response.dominant[row].numpy(), cmap="cividis")
        fig.colorbar(shown, ax=axes[row, 2], fraction=0.046, label="unit rank")
        axes[row, 2].set_title("dominant unit D(x)", fontsize=7)
        rgba = classes(clear.dominant[row].numpy())
        rgba[..., 3] = np.sqrt(level / max(level.max(), 1e-12))
        axes[row, 3].imshow(rgba)
        axes[row, 3].set_title("CLEAR: dominant class, opacity = level", fontsize=7)
        axes[row, 0].set_ylabel("detector y (px)", fontsize=7)
        for ax in axes[row]:
            ax.set_xlabel("detector x (px)", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=OKABE_ITO[c]) for c in range(len(CLASS_NAMES))]
    fig.legend(handles, CLASS_NAMES, loc="lower center", ncol=len(CLASS_NAMES), fontsize=7)
    fig.suptitle(f"class {CLASS_NAMES[cls]}")
    return save_figure(fig, path)


def run_explain(
    run_dir: str | os.PathLike, out: str | os.PathLike, seed: int = 0, device: str = "cpu", top_n: int = 4
) -> list[Path]:
    """Write ``out/figures/explain_<class>.png`` for each class and a report section; return the paths."""
    from matsight.models import load_model
    from matsight.report import Section, write_section
    from matsight.saliency import CLEAR, ResponseMaps

    model, _ = load_model(run_dir, device=device)
    run = RunFolder(out)
    run.start("crystals explain", {"run": str(run_dir), "top_n": top_n}, seed=seed)
    examples = example_fingerprints(seed, device)
    x = examples.view(-1, 3, 64, 64).to(device)
    response = ResponseMaps(model, top_n=top_n).explain(x)
    clear = CLEAR(model).explain(x)
    paths = []
    for c in range(len(CLASS_NAMES)):
        pair = slice(2 * c, 2 * c + 2)
        part_r, part_c = response.subset(pair).to("cpu"), clear.subset(pair).to("cpu")
        paths.append(plot_class(c, examples[c], part_r, part_c, run.figure_path(f"explain_{CLASS_NAMES[c]}.png")))
    write_section(
        run.path,
        Section(
            key="crystals-explain",
            title="Crystal ConvNet: attentive response and CLEAR maps",
            text=f"Per class: a pristine and a {int(DEFECT_FRACTION * 100)} %-vacancy fingerprint, the response "
            f"map of the top {top_n} units of the last conv stage, and the CLEAR map.",
            figures=[str(p.relative_to(run.path)) for p in paths],
            order=62,
        ),
    )
    run.set_status("finished")
    return paths
