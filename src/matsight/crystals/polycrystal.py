"""Local analysis of polycrystals: columnar grains of different prototypes, classified in strided windows.

:func:`polycrystal` fills a box with Voronoi grains (seeds in the x–y plane, columns along z), each
cut from a large block of one library prototype and rotated about z; atoms of a later grain closer
than half a bond to an earlier grain's atoms are dropped at the boundary. :func:`window_map`
classifies windows centred on a grid in the mid-plane ``z = L_z / 2`` (margins keep every window
inside the box): the ConvNet reads the fingerprint of the atoms within ``fingerprint_radius``
nearest-neighbour distances of the centre, the SOAP MLP the mean power spectrum of the atoms within
``soap_radius`` of the centre (with their full environments), both with MC-dropout uncertainty. A
window on a grain boundary sees two structures at once: its class is ill-defined and its entropy and
mutual information rise there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from matsight.crystals.config import DEFAULT_GRAINS, DEFAULT_SIZE, Grain, MapConfig
from matsight.crystals.library import CLASS_NAMES, build, prototype
from matsight.errors import ConfigError
from matsight.progress import note
from matsight.report.style import styled
from matsight.store import RunFolder
from matsight.workflow import execute


@dataclass
class Polycrystal:
    """``atoms`` (non-periodic), ``grain`` index per atom (``int64 [N]``), Voronoi ``seeds``
    ``[G, 2]`` (Å, x–y), ``labels`` class index per grain, ``bond`` the mean nearest-neighbour
    distance (Å) over the grains, ``box`` ``[3]`` (Å)."""

    atoms: Atoms
    grain: np.ndarray
    seeds: np.ndarray
    labels: np.ndarray
    bond: float
    box: np.ndarray

    def grain_at(self, xy: np.ndarray) -> np.ndarray:
        """Grain index of points ``xy [P, 2]`` (nearest seed)."""
        return np.argmin(((xy[:, None] - self.seeds[None]) ** 2).sum(-1), axis=1)

    def boundary_distance(self, xy: np.ndarray) -> np.ndarray:
        """Distance (Å) of points ``xy [P, 2]`` to the nearest Voronoi boundary of their grain."""
        d2 = ((xy[:, None] - self.seeds[None]) ** 2).sum(-1)  # [P, G]
        own = np.argmin(d2, axis=1)
        out = np.full(len(xy), np.inf)
        for g in range(len(self.seeds)):
            gap = np.linalg.norm(self.seeds[g] - self.seeds[own], axis=1)
            other = own != g
            out[other] = np.minimum(out[other], (d2[other, g] - d2[other, own[other]]) / (2 * gap[other]))
        return out


def polycrystal(
    grains: Sequence[Grain] = DEFAULT_GRAINS,
    size: tuple[float, float, float] = DEFAULT_SIZE,
) -> Polycrystal:
    """Columnar polycrystal in a box of ``size`` nearest-neighbour distances; ``grains``: per grain
    ``(prototype name, elements, seed x, seed y (fractions of the box), rotation about z in degrees)``."""
    if len(grains) < 2:
        raise ConfigError("a polycrystal needs at least two grains")
    from matsight.crystals.fingerprint import mean_nearest_neighbour_distance
    from matsight.crystals.geometry import rotate

    cells = [build(CLASS_NAMES.index(prototype(name).name), elements) for name, elements, *_ in grains]
    bond = float(np.mean([mean_nearest_neighbour_distance(c) for c in cells]))
    box = np.asarray(size, dtype=np.float64) * bond
    seeds = np.array([[x, y] for _, _, x, y, _ in grains]) * box[:2]
    kept_positions, kept_numbers, kept_grain = [], [], []
    for g, (cell, (_, _, _, _, degrees)) in enumerate(zip(cells, grains)):
        # a block covering the sphere around the box centre that holds the box in any rotation about z
        radius = np.linalg.norm(box) / 2
        reps = np.ceil(2 * radius * np.linalg.norm(np.linalg.inv(cell.cell[:]), axis=0)).astype(int) + 1
        block = cell.repeat(tuple(reps))
        block.positions -= block.cell[:].sum(axis=0) / 2
        angle = np.radians(degrees)
        block = rotate(
            block, np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        )
        pos = block.positions + box / 2
        inside = np.all((pos >= 0) & (pos < box), axis=1)
        pos, numbers = pos[inside], block.numbers[inside]
        mine = np.argmin(((pos[:, None, :2] - seeds[None]) ** 2).sum(-1), axis=1) == g
        pos, numbers = pos[mine], numbers[mine]
        if kept_positions:
            clash = cKDTree(np.concatenate(kept_positions)).query(pos, k=1)[0] < 0.5 * bond
            pos, numbers = pos[~clash], numbers[~clash]
        kept_positions.append(pos)
        kept_numbers.append(numbers)
        kept_grain.append(np.full(len(pos), g))
    atoms = Atoms(numbers=np.concatenate(kept_numbers), positions=np.concatenate(kept_positions), pbc=False)
    labels = np.array([CLASS_NAMES.index(prototype(name).name) for name, *_ in grains])
    return Polycrystal(atoms, np.concatenate(kept_grain), seeds, labels, bond, box)


def window_centres(crystal: Polycrystal, stride: float, margin: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Centres ``[W, 3]`` (Å) on a grid of ``stride`` bonds in the mid-plane, ``margin`` bonds from
    the box faces, and the grid shape ``(ny, nx)`` (row-major)."""
    lo, hi = np.full(2, margin * crystal.bond), crystal.box[:2] - margin * crystal.bond
    if np.any(hi < lo):
        raise ConfigError(f"the box is too small for windows {margin:g} bonds from its faces: enlarge --size")
    xs = np.arange(lo[0], hi[0] + 1e-9, stride * crystal.bond)
    ys = np.arange(lo[1], hi[1] + 1e-9, stride * crystal.bond)
    gx, gy = np.meshgrid(xs, ys)
    centres = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, crystal.box[2] / 2)], axis=1)
    return centres, gx.shape


def fingerprint_windows(crystal: Polycrystal, centres: np.ndarray, radius: float) -> list[Atoms]:
    """Non-periodic clusters of the atoms within ``radius`` bonds of each centre."""
    tree = cKDTree(crystal.atoms.positions)
    return [crystal.atoms[tree.query_ball_point(c, radius * crystal.bond)] for c in centres]


def window_map(config: MapConfig) -> tuple[Polycrystal, np.ndarray, tuple[int, int], dict[str, dict[str, np.ndarray]]]:
    """``(crystal, centres [W, 3], grid shape, {method: {predicted, confidence, entropy, mutual_information}})``."""
    import torch

    from matsight.crystals.fingerprint import FingerprintTransformer
    from matsight.crystals.soap import SoapTransformer
    from matsight.crystals.train import load_classifier, predict

    crystal = polycrystal(config.grains, config.size)
    centres, shape = window_centres(crystal, config.stride, config.margin)
    note(f"map: {len(crystal.atoms)} atoms, {len(centres)} windows ({shape[1]} × {shape[0]})")
    inputs = {
        "convnet": FingerprintTransformer(device=config.device).transform(
            fingerprint_windows(crystal, centres, config.fingerprint_radius)
        ),
        "soap_mlp": torch.from_numpy(
            SoapTransformer().transform_windows(crystal.atoms, centres, config.soap_radius * crystal.bond)
        ),
    }
    runs = {"convnet": (config.convnet, "fingerprint"), "soap_mlp": (config.soap, "soap")}
    results = {}
    for method, x in inputs.items():
        model, _ = load_classifier(runs[method][0], config.device, name=runs[method][1])
        results[method] = predict(model, x, samples=config.mc_samples, seed=config.seed).arrays()
        note(f"map: {method} classified {len(centres)} windows")
    return crystal, centres, shape, results


@styled
def plot_map(
    crystal: Polycrystal, centres: np.ndarray, shape: tuple[int, int], results: dict, path: str | os.PathLike
) -> Path:
    """Rows: methods; columns: predicted class, predictive entropy, mutual information; grain
    boundaries dashed."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from matsight.crystals.robustness import METHOD_LABELS
    from matsight.report.style import palette, save_figure

    extent = [centres[:, 0].min(), centres[:, 0].max(), centres[:, 1].min(), centres[:, 1].max()]
    shown = sorted({int(c) for r in results.values() for c in r["predicted"]} | set(crystal.labels.tolist()))
    colours = palette(len(shown))  # distinct up to 20 classes
    cmap = ListedColormap(colours)
    fig, axes = plt.subplots(len(results), 3, figsize=(13, 3.2 * len(results)), squeeze=False)
    gx = np.linspace(0, crystal.box[0], 400)
    gy = np.linspace(0, crystal.box[1], 400)
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    grains = crystal.grain_at(grid).reshape(len(gy), len(gx))
    for row, (method, r) in enumerate(results.items()):
        index = np.array([shown.index(int(c)) for c in r["predicted"]]).reshape(shape)
        panels = [
            (index, cmap, "predicted class", (-0.5, len(shown) - 0.5)),
            (r["entropy"].reshape(shape), "cividis", "predictive entropy (nats)", None),
            (r["mutual_information"].reshape(shape), "cividis", "mutual information (nats)", None),
        ]
        for col, (values, panel_cmap, title, limits) in enumerate(panels):
            ax = axes[row, col]
            image = ax.imshow(
                values,
                origin="lower",
                extent=extent,
                cmap=panel_cmap,
                interpolation="nearest",
                vmin=None if limits is None else limits[0],
                vmax=None if limits is None else limits[1],
            )
            ax.contour(
                gx,
                gy,
                grains,
                levels=np.arange(len(crystal.seeds)) + 0.5,
                colors="white",
                linestyles="--",
                linewidths=1,
            )
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
            ax.set_title(f"{METHOD_LABELS[method]}: {title}", fontsize=8)
            ax.set_xlabel("x (Å)", fontsize=7)
            ax.set_ylabel("y (Å)", fontsize=7)
            if col > 0:
                fig.colorbar(image, ax=ax, fraction=0.046)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[i]) for i in range(len(shown))]
    fig.legend(handles, [CLASS_NAMES[c] for c in shown], loc="lower center", ncol=min(len(shown), 6), fontsize=7)
    truth = " | ".join(CLASS_NAMES[c] for c in crystal.labels)
    fig.suptitle(f"Strided-window classification of a polycrystal ({truth}); dashed: grain boundaries")
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    return save_figure(fig, path)


def run_map(config: MapConfig) -> RunFolder:
    """Write ``tables/windows.{parquet,csv}``, ``figures/polycrystal_map.png`` and a report section."""
    import pandas as pd

    from matsight.report import Section, write_section

    def body(run: RunFolder) -> RunFolder:
        crystal, centres, shape, results = window_map(config)
        truth = crystal.labels[crystal.grain_at(centres[:, :2])]
        distance = crystal.boundary_distance(centres[:, :2]) / crystal.bond
        grains = ", ".join(f"{name} {'-'.join(elements)}" for name, elements, *_ in config.grains)
        table = pd.DataFrame(
            {"x": centres[:, 0], "y": centres[:, 1], "grain_class": truth, "boundary_distance": distance}
        )
        for method, r in results.items():
            for key, values in r.items():
                table[f"{method}_{key}"] = values
        run.write_table("windows", table)
        plot_map(crystal, centres, shape, results, run.figure_path("polycrystal_map.png"))
        near, far = distance < 1.0, distance >= 2.0
        metrics = {}
        for method, r in results.items():
            metrics[f"{method}: accuracy ≥ 2 bonds from a boundary (%)"] = _mean_text(
                100 * (r["predicted"] == truth), far
            )
            for key in ("entropy", "mutual_information"):
                metrics[f"{method}: mean {key}, < 1 bond from a boundary / ≥ 2 bonds"] = (
                    f"{_mean_text(r[key], near, '.3f')} / {_mean_text(r[key], far, '.3f')}"
                )
        run.write_json("metrics.json", metrics)
        write_section(
            run.path,
            Section(
                key="crystals-map",
                title="Crystal classifiers: strided-window map of a polycrystal",
                text=(
                    f"{len(crystal.atoms)} atoms in {len(crystal.seeds)} columnar grains "
                    f"({grains}), windows every "
                    f"{config.stride:g} bonds in the mid-plane; ConvNet on the fingerprint of the atoms within "
                    f"{config.fingerprint_radius:g} bonds, SOAP MLP on the mean spectrum of the atoms within "
                    f"{config.soap_radius:g} bonds; MC dropout ({config.mc_samples} samples)."
                ),
                metrics=metrics,
                figures=["figures/polycrystal_map.png"],
                tables=["tables/windows.csv"],
                order=63,
            ),
        )
        return run

    return execute(config, body)


def _mean_text(values: np.ndarray, where: np.ndarray, spec: str = ".1f") -> str:
    """The mean of ``values[where]`` formatted with ``spec``; ``n/a (no window)`` when none is selected."""
    return format(float(values[where].mean()), spec) if where.any() else "n/a (no window)"
