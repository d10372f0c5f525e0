"""Synthetic SEM lots with known ground truth (docs/data-layouts.md layout 1).

Each lot gets attributes drawn uniformly over :data:`ATTRIBUTE_RANGES` (``design="random"``) or from
a Latin hypercube optimised for low discrepancy (``design="lhs"``: every attribute covers its range
evenly and the attributes are nearly uncorrelated across lots, as in a designed experiment, so the
effect of one attribute can be told from another's); its tiles are rendered by
:func:`matsight.synth.sem_tiles.render_tile`; its critical peak stress (CPS, MPa) is

    cps = 20 + 10 · Σ_a c_a · u_a + ε,   ε ~ N(0, 0.3²)

where ``u_a`` ∈ [0, 1] is attribute ``a`` rescaled over its range, except for size, which enters
Hall-Petch-like as ``u_size`` = (size^-1/2 rescaled over the range of size^-1/2), so a positive
size coefficient makes CPS *fall* with grain size. Default coefficients: porosity +1.0,
polydispersity +0.6, size +1.0 (on size^-1/2), cracks −0.8, facetness +0.2.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from itertools import count, product
from pathlib import Path
from string import ascii_uppercase

import numpy as np
import pandas as pd
from PIL import Image
from scipy.stats import qmc

from matsight.errors import ConfigError
from matsight.progress import progress as progress_report
from matsight.progress import quiet
from matsight.store.atomic import atomic_path, atomic_write_json
from matsight.synth.masks import write_masks
from matsight.synth.sem_tiles import MASK_NAMES, TileAttributes, render_tile_with_truth

DESIGNS = ("random", "lhs")
ATTRIBUTE_RANGES: dict[str, tuple[float, float]] = {
    "size": (6.0, 20.0),  # mean grain diameter, px
    "porosity": (0.0, 1.2),  # pits per 100 px² of grain surface
    "polydispersity": (0.05, 0.6),  # σ of log grain diameter
    "facetness": (0.0, 1.0),  # 0 rounded … 1 faceted
    "cracks": (0.0, 3.0),  # cracks per 100 × 100 px
}
DEFAULT_COEFFICIENTS: dict[str, float] = {
    "size": 1.0,
    "porosity": 1.0,
    "polydispersity": 0.6,
    "facetness": 0.2,
    "cracks": -0.8,
}
CPS_BASE, CPS_SCALE, CPS_NOISE = 20.0, 10.0, 0.3
FORMULA = (
    "cps = 20 + 10 * (c_size * u(size^-1/2) + c_porosity * u(porosity) + c_polydispersity * u(polydispersity)"
    " + c_facetness * u(facetness) + c_cracks * u(cracks)) + N(0, 0.3^2); u() rescales to [0, 1] over the"
    " attribute's range; cps in MPa"
)


CAUSE_MASKS = {"porosity": "pits", "size": "grain_boundaries", "cracks": "cracks"}
"""Attribute of :data:`FORMULA` → the mask (:data:`matsight.synth.sem_tiles.MASK_NAMES`) of the local
feature that carries it in a tile (smaller grains = more grain boundaries)."""


def raising_cause_mask(masks: dict[str, np.ndarray], coefficients: dict[str, float]) -> np.ndarray:
    """Where a tile carries what raises its CPS: the union of the masks of :data:`CAUSE_MASKS` whose
    attribute has a positive coefficient (``masks``: name → ``bool [H, W]``; returns ``bool [H, W]``)."""
    raising = [masks[mask] for name, mask in CAUSE_MASKS.items() if coefficients[name] > 0]
    return np.logical_or.reduce(raising)


def lot_names() -> Iterator[str]:
    """A, B, …, Z, AA, AB, … like the LLNL lots."""
    for length in count(1):
        for letters in product(ascii_uppercase, repeat=length):
            yield "".join(letters)


def read_coefficients(path: str | os.PathLike) -> dict[str, float]:
    """Coefficients from a JSON file ``{attribute: number}``; missing keys keep their defaults."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'--coefficients {path}: no such file; give a JSON file like {{"porosity": 1.0}}')
    try:
        given = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ConfigError(f'{path} is not a text file: write JSON, e.g. {{"porosity": 1.0}}') from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f'{path} is not valid JSON (line {exc.lineno}): write e.g. {{"porosity": 1.0}}') from None
    if not isinstance(given, dict):
        raise ConfigError(f"{path} must hold a JSON object mapping attribute names to numbers")
    return merge_coefficients(given, source=str(path))


def merge_coefficients(given: dict | None, source: str = "coefficients") -> dict[str, float]:
    coefficients = dict(DEFAULT_COEFFICIENTS)
    for key, value in (given or {}).items():
        if key not in DEFAULT_COEFFICIENTS:
            raise ConfigError(f"{source}: unknown attribute {key!r}; use {', '.join(DEFAULT_COEFFICIENTS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{source}: coefficient of {key!r} must be a finite number, got {value!r}")
        coefficients[key] = float(value)
    return coefficients


def unit_features(attributes: pd.DataFrame) -> pd.DataFrame:
    """Attributes rescaled to [0, 1] over their ranges (size through size^-1/2)."""
    features = {}
    for name, (low, high) in ATTRIBUTE_RANGES.items():
        values = attributes[name].to_numpy(float)
        if name == "size":
            values, low, high = values**-0.5, high**-0.5, low**-0.5
        features[name] = (values - low) / (high - low)
    return pd.DataFrame(features, index=attributes.index)


def critical_peak_stress(
    attributes: pd.DataFrame, coefficients: dict[str, float], rng: np.random.Generator
) -> np.ndarray:
    """CPS (MPa) of each lot by :data:`FORMULA`."""
    u = unit_features(attributes)
    signal = sum(coefficients[name] * u[name].to_numpy() for name in ATTRIBUTE_RANGES)
    return CPS_BASE + CPS_SCALE * signal + rng.normal(0, CPS_NOISE, len(attributes))


def lot_attributes(names: list[str], design: str, rng: np.random.Generator, seed: int) -> pd.DataFrame:
    """Attributes of each lot (rows ``names``, columns :data:`ATTRIBUTE_RANGES`, user units)."""
    if design == "random":
        return pd.DataFrame(
            {name: rng.uniform(low, high, len(names)) for name, (low, high) in ATTRIBUTE_RANGES.items()}, index=names
        )
    if design == "lhs":
        unit = qmc.LatinHypercube(d=len(ATTRIBUTE_RANGES), seed=seed, optimization="random-cd").random(len(names))
        low, high = np.array(list(ATTRIBUTE_RANGES.values())).T
        return pd.DataFrame(low + unit * (high - low), index=names, columns=list(ATTRIBUTE_RANGES))
    raise ConfigError(f"--design {design!r}: choose {' or '.join(DESIGNS)}")


def generate_lots(
    out: str | os.PathLike,
    lots: int = 30,
    tiles_per_lot: int = 40,
    size: int = 128,
    seed: int = 0,
    coefficients: dict[str, float] | None = None,
    design: str = "random",
    progress: bool = True,
    masks: bool = True,
) -> Path:
    """Write ``lots.csv``, ``images/<lot>/tile_NNN.png`` and ``ground_truth.json`` under ``out``
    (``design``: how lot attributes are drawn, ``random`` or ``lhs``, see the module docstring).

    ``masks``: also write ``masks/<lot>/tile_NNN.png``, the per-pixel ground truth of each tile
    bit-packed (bit i = :data:`matsight.synth.sem_tiles.MASK_NAMES` [i], read with
    ``matsight.synth.masks.read_masks``), and the pits and cracks drawn per tile in
    ``masks/counts.csv``. The tiles are the same with or without masks."""
    if lots < 2 or tiles_per_lot < 1 or size < 16:
        raise ConfigError("need --lots ≥ 2, --tiles-per-lot ≥ 1 and --size ≥ 16")
    coefficients = merge_coefficients(coefficients)
    out = Path(out)
    rng = np.random.default_rng(seed)
    names = [name for name, _ in zip(lot_names(), range(lots))]
    attributes = lot_attributes(names, design, rng, seed)
    cps = critical_peak_stress(attributes, coefficients, rng)
    counts = []
    with quiet(not progress), progress_report(lots * tiles_per_lot, "rendering SEM tiles") as bar:
        for index, name in enumerate(names):
            folder = out / "images" / name
            folder.mkdir(parents=True, exist_ok=True)
            tile_attributes = TileAttributes(**attributes.loc[name].to_dict())
            lot_rng = np.random.default_rng([seed, index])
            for t in range(tiles_per_lot):
                path = folder / f"tile_{t:03d}.png"
                tile, truth = render_tile_with_truth(tile_attributes, size, lot_rng)
                with atomic_path(path) as tmp:  # always rewrite: a rerun with another seed must not keep old tiles
                    Image.fromarray(tile).save(tmp, format="PNG")
                if masks:
                    write_masks(out / "masks" / name / path.name, truth.masks, MASK_NAMES, (size, size))
                    counts.append({"lot": name, "tile": path.name, "pits": truth.n_pits, "cracks": truth.n_cracks})
                bar.advance()
    if masks:
        with atomic_path(out / "masks" / "counts.csv") as tmp:
            pd.DataFrame(counts).to_csv(tmp, index=False)
    table = attributes.rename_axis("lot").reset_index()
    table.insert(1, "cps", cps)
    with atomic_path(out / "lots.csv") as tmp:
        table.round(6).to_csv(tmp, index=False)
    atomic_write_json(
        out / "ground_truth.json",
        {
            "formula": FORMULA,
            "coefficients": coefficients,
            "attribute_ranges": ATTRIBUTE_RANGES,
            "attribute_units": {
                "size": "px (mean grain diameter)",
                "porosity": "pits per 100 px^2",
                "polydispersity": "sigma of log diameter",
                "facetness": "0 rounded - 1 faceted",
                "cracks": "cracks per 100x100 px",
                "cps": "MPa",
            },
            "seed": seed,
            "design": design,
            "tile_size": size,
            "tiles_per_lot": tiles_per_lot,
            "lots": table.round(6).to_dict(orient="records"),
            **({"masks": {"folder": "masks", "bits": list(MASK_NAMES), "counts": "masks/counts.csv"}} if masks else {}),
        },
    )
    return out
