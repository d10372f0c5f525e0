"""What the crystal ConvNet looks at: attentive response maps and CLEAR maps per class.

For each chosen class (:data:`EXPLAINED_CLASSES` by default: one elemental, binary, ternary and
2-D prototype each) one pristine and one defective structure (25 % vacancies) are fingerprinted;
the figure per class shows the fingerprint, the response map of the top units of the last conv
stage (``matsight.saliency.ResponseMaps``) and the CLEAR map (``matsight.saliency.CLEAR``) for both.
CLEAR back-projects the :data:`CANDIDATES` most probable classes of each example and the class
itself (not all 54: one deconvnet pass per class, and a legend of a few colours).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from matsight.crystals.config import EXPLAINED_CLASSES, ExplainConfig
from matsight.crystals.defects import vacancies
from matsight.crystals.fingerprint import FingerprintTransformer
from matsight.crystals.library import CLASS_NAMES, random_structure
from matsight.report.style import styled
from matsight.store import RunFolder
from matsight.workflow import execute

DEFECT_FRACTION = 0.25
CANDIDATES = 3


def example_fingerprints(
    classes: Sequence[str] = EXPLAINED_CLASSES, seed: int = 0, device: str = "cpu"
) -> torch.Tensor:
    """``float32 [len(classes), 2, 3, 64, 64]``: pristine and 25 %-vacancy fingerprint per class
    (held-out elements)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    structures = []
    for k, name in enumerate(classes):
        atoms, _ = random_structure(CLASS_NAMES.index(name), rng, split="test")
        structures += [atoms, vacancies(atoms, DEFECT_FRACTION, seed=seed + k)]
    return FingerprintTransformer(device=device).transform(structures).view(len(classes), 2, 3, 64, 64)


@styled
def plot_class(name: str, images: torch.Tensor, response, clear, path: str | os.PathLike) -> Path:
    """One figure: rows pristine / defective; columns fingerprint, response map (max over the top
    units), dominant unit D(x), CLEAR map (dominant class C(x), brightness = level L(x))."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import ListedColormap

    from matsight.report.style import OKABE_ITO, SALIENCY_CMAP, save_figure

    dominant = np.asarray(clear.outputs)[clear.dominant.numpy()]  # class index per pixel [2, H, W]
    shown = sorted({int(c) for c in np.unique(dominant)})
    palette = (OKABE_ITO * 8)[: len(shown)]
    lookup = np.zeros(len(CLASS_NAMES), dtype=int)
    lookup[shown] = np.arange(len(shown))
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.5))
    fig.subplots_adjust(wspace=0.5, hspace=0.35)
    for row, state in enumerate(("pristine", f"{int(DEFECT_FRACTION * 100)} % vacancies")):
        level = clear.level[row].numpy()
        axes[row, 0].imshow(images[row].permute(1, 2, 0).numpy())
        axes[row, 0].set_title(f"{state}: fingerprint (RGB = x/y/z)", fontsize=7)
        image = axes[row, 1].imshow(response.maps[row].amax(0).numpy(), cmap=SALIENCY_CMAP)
        fig.colorbar(image, ax=axes[row, 1], fraction=0.046, label="response")
        axes[row, 1].set_title(f"response map, top {response.maps.shape[1]} units of Z3", fontsize=7)
        image = axes[row, 2].imshow(response.dominant[row].numpy(), cmap="cividis")
        fig.colorbar(image, ax=axes[row, 2], fraction=0.046, label="unit rank")
        axes[row, 2].set_title("dominant unit D(x)", fontsize=7)
        rgba = ListedColormap(palette)(lookup[dominant[row]])
        rgba[..., 3] = np.sqrt(level / max(level.max(), 1e-12))
        axes[row, 3].imshow(rgba)
        axes[row, 3].set_title("CLEAR: dominant class, opacity = level", fontsize=7)
        axes[row, 0].set_ylabel("detector y (px)", fontsize=7)
        for ax in axes[row]:
            ax.set_xlabel("detector x (px)", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[i]) for i in range(len(shown))]
    fig.legend(handles, [CLASS_NAMES[c] for c in shown], loc="lower center", ncol=min(len(shown), 7), fontsize=7)
    fig.suptitle(f"class {name}: what the ConvNet looks at (CLEAR colours: dominant classes)")
    return save_figure(fig, path)


def run_explain(config: ExplainConfig) -> RunFolder:
    """Write ``figures/explain_<class>.png`` per class and a report section."""
    from matsight.crystals.train import load_classifier
    from matsight.report import Section, write_section
    from matsight.saliency import CLEAR, ResponseMaps

    def body(run: RunFolder) -> RunFolder:
        model, _ = load_classifier(config.run, config.device, name="fingerprint")
        examples = example_fingerprints(config.classes, config.seed, config.device)
        x = examples.view(-1, 3, 64, 64).to(config.device)
        response = ResponseMaps(model, top_n=config.top_n).explain(x)
        with torch.no_grad():
            likely = model(x).topk(CANDIDATES, dim=1).indices.flatten().tolist()
        outputs = sorted(set(likely) | {CLASS_NAMES.index(c) for c in config.classes})
        clear = CLEAR(model, outputs=outputs).explain(x)
        paths = []
        for k, name in enumerate(config.classes):
            pair = slice(2 * k, 2 * k + 2)
            maps, levels = response.subset(pair).to("cpu"), clear.subset(pair).to("cpu")
            paths.append(plot_class(name, examples[k], maps, levels, run.figure_path(f"explain_{name}.png")))
        write_section(
            run.path,
            Section(
                key="crystals-explain",
                title="Crystal ConvNet: attentive response and CLEAR maps",
                text=f"Per class: a pristine and a {int(DEFECT_FRACTION * 100)} %-vacancy fingerprint of a held-out "
                f"element structure, the response map of the top {config.top_n} units of the last conv stage, "
                f"and the CLEAR map over the explained classes and each example's {CANDIDATES} most probable.",
                figures=[str(p.relative_to(run.path)) for p in paths],
                order=62,
            ),
        )
        return run

    return execute(config, body)
