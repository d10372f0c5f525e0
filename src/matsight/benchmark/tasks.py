"""The four benchmark tasks, each with a cause planted by a generator and its per-pixel mask.

A task draws a *pool* of images once (``--seed``); each benchmark seed holds out its own
evaluation images from the pool, trains a model on the rest and explains the held-out
*instances* (image, target, mask of the target's cause):

- ``pits`` (a, local-cause regression): SEM tiles with every attribute drawn at random (grain
  size, polydispersity, facetness, and 0.5–2 cracks per tile as distractors); the property is the
  number of pits drawn in the tile; mask = the pits.
- ``cps`` (b, global attributes): one SEM tile per lot, CPS by the generator's formula with the
  default coefficients (:data:`matsight.synth.sem.FORMULA`); mask = the local features whose
  coefficient raises CPS (:func:`matsight.synth.sem.raising_cause_mask`: pits for porosity, grain
  boundaries for size, cracks only when their coefficient is positive).
- ``xray`` (c, multi-label): synthetic scattering images with 17 tags; one instance per (image,
  local tag it carries), balanced over tags; mask = that tag's region (rings, halo, beamstop, …).
- ``crystals`` (d, classes): fingerprints of prototypes with 0–25 % vacancies and up to 10°
  rotation; target = the prototype's class; mask = the Bragg spots of the pristine prototype.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from matsight.benchmark.config import Preset

CRACKS_PER_TILE = (0.5, 2.0)  # distractor cracks drawn per pits tile (expected count)
MAX_VACANCIES, MAX_ROTATION = 0.25, 10.0  # crystal defects (fraction) and orientation spread (degrees)


def _counted(items: Iterable, n: int, what: str) -> Iterator:
    """``items`` under a progress report (long draws are never silent)."""
    from matsight.progress import progress

    with progress(n, what) as bar:
        for item in items:
            yield item
            bar.advance()


@dataclass(frozen=True)
class Pool:
    """Images of one task: ``x`` float32 ``[P, C, H, W]`` in [0, 1], ``y`` float32 ``[P, T]``
    (regression value, class index, or 0/1 tags), ``masks`` bool ``[P, M, H, W]`` (M causes per
    image), ``outputs`` the model's output names."""

    x: np.ndarray
    y: np.ndarray
    masks: np.ndarray
    outputs: list[str]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"x": self.x, "y": self.y, "masks": self.masks}


@dataclass(frozen=True)
class Instances:
    """What to explain: ``x`` float32 ``[n, C, H, W]``, ``masks`` bool ``[n, H, W]`` (the cause of
    each instance's target), ``targets`` output index per instance (``None`` for a regressor)."""

    x: torch.Tensor
    masks: torch.Tensor
    targets: list[int | None]

    def groups(self) -> list[tuple[int | None, np.ndarray]]:
        """``(target, indices)`` per distinct target, in first-seen order (methods take one target per call)."""
        order: dict[int | None, list[int]] = {}
        for i, t in enumerate(self.targets):
            order.setdefault(t, []).append(i)
        return [(t, np.array(idx)) for t, idx in order.items()]


def _valid(mask: np.ndarray) -> bool:
    """A mask localisation can be scored on: some pixels inside and some outside."""
    return 0 < mask.mean() < 1


class Task:
    """Base: ``kind`` (``regression``, ``classification``, ``multilabel``), ``channels``, ``cause``
    (what the mask shows); subclasses draw the pool and pick the instances."""

    name = ""
    title = ""
    kind = "regression"
    channels = 1
    cause = ""

    held_out_factor = 2  # held-out images per instance asked for (some masks are empty)

    def draw(self, settings: Preset, seed: int) -> Pool:
        """The pool drawn from ``seed``."""
        raise NotImplementedError

    def split(self, pool: Pool, settings: Preset, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(train indices, held-out indices)`` of the pool for one seed."""
        order = rng.permutation(len(pool.x))
        n_held = min(self.held_out_factor * settings.n_eval, len(order) // 2)
        return order[n_held:], order[:n_held]

    def instances(self, pool: Pool, held_out: np.ndarray, settings: Preset, rng: np.random.Generator) -> Instances:
        """The first ``n_eval`` held-out images whose mask is scorable, target = the regressor's output."""
        keep = [i for i in held_out if _valid(pool.masks[i, 0])][: settings.n_eval]
        return Instances(
            torch.from_numpy(pool.x[keep]), torch.from_numpy(pool.masks[keep, 0]), [self.target(pool, i) for i in keep]
        )

    def target(self, pool: Pool, index: int) -> int | None:
        return None


def _sem_tiles(attributes: pd.DataFrame, size: int, seed: int) -> tuple[np.ndarray, list]:
    from matsight.synth.sem_tiles import TileAttributes, render_tile_with_truth

    tiles, truths = [], []
    rows = _counted(attributes.itertuples(index=False), len(attributes), "drawing SEM tiles")
    for i, row in enumerate(rows):
        tile, truth = render_tile_with_truth(TileAttributes(**row._asdict()), size, np.random.default_rng([seed, i]))
        tiles.append(tile)
        truths.append(truth)
    return (np.stack(tiles)[:, None] / 255.0).astype(np.float32), truths


def _random_attributes(n: int, rng: np.random.Generator) -> pd.DataFrame:
    from matsight.synth.sem import ATTRIBUTE_RANGES

    return pd.DataFrame({name: rng.uniform(lo, hi, n) for name, (lo, hi) in ATTRIBUTE_RANGES.items()})


class PitsTask(Task):
    name = "pits"
    title = "(a) pit count of an SEM tile (local cause, other features as distractors)"
    cause = "pits"

    def draw(self, settings: Preset, seed: int) -> Pool:
        rng = np.random.default_rng([seed, 1])
        attributes = _random_attributes(settings.pool, rng)
        attributes["cracks"] = rng.uniform(*CRACKS_PER_TILE, settings.pool) * (100 / settings.image_size) ** 2
        x, truths = _sem_tiles(attributes, settings.image_size, seed)
        y = np.array([[t.n_pits] for t in truths], np.float32)
        masks = np.stack([t.masks["pits"] for t in truths])[:, None]
        return Pool(x, y, masks, ["pits"])


class CPSTask(Task):
    name = "cps"
    title = "(b) CPS of an SEM lot (global attributes, the generator's formula)"
    cause = "pits ∪ grain boundaries (the local features whose coefficient raises CPS)"

    def __init__(self, coefficients: dict[str, float] | None = None):
        from matsight.synth.sem import merge_coefficients

        self.coefficients = merge_coefficients(coefficients)

    def draw(self, settings: Preset, seed: int) -> Pool:
        from matsight.synth.sem import critical_peak_stress, raising_cause_mask

        rng = np.random.default_rng([seed, 2])
        attributes = _random_attributes(settings.pool, rng)
        y = critical_peak_stress(attributes, self.coefficients, rng).astype(np.float32)[:, None]
        x, truths = _sem_tiles(attributes, settings.image_size, seed + 1)
        masks = np.stack([raising_cause_mask(t.masks, self.coefficients) for t in truths])[:, None]
        return Pool(x, y, masks, ["cps"])


class XrayTask(Task):
    name = "xray"
    title = "(c) x-ray tags (multi-label; each tag's own region)"
    kind = "multilabel"
    held_out_factor = 4
    cause = "the explained tag's region (rings, halo, diffuse terms, beamstop)"

    def draw(self, settings: Preset, seed: int) -> Pool:
        from matsight.synth.xray import LOCAL_TAGS, TAGS, draw_scene

        size = settings.image_size
        indices = _counted(range(settings.pool), settings.pool, "drawing x-ray images")
        scenes = [draw_scene(size, np.random.default_rng([seed, 3, i])) for i in indices]
        x = np.stack([s.image for s in scenes])[:, None].astype(np.float32) / 65535.0
        y = np.array([[s.tags[t] for t in TAGS] for s in scenes], np.float32)
        empty = np.zeros((size, size), bool)
        masks = np.stack([np.stack([s.masks.get(t, empty) for t in LOCAL_TAGS]) for s in scenes])
        return Pool(x, y, masks, list(TAGS))

    def instances(self, pool: Pool, held_out: np.ndarray, settings: Preset, rng: np.random.Generator) -> Instances:
        """``targets_per_seed`` local tags drawn at random (among those the held-out images carry), up to
        ``n_eval`` (image, tag) pairs shared equally between them (methods take one target per call)."""
        from matsight.synth.xray import LOCAL_TAGS

        per_tag = [
            [i for i in rng.permutation(held_out) if pool.y[i, pool.outputs.index(tag)] and _valid(pool.masks[i, k])]
            for k, tag in enumerate(LOCAL_TAGS)
        ]
        present = [k for k, images in enumerate(per_tag) if images]
        tags = sorted(rng.choice(present, min(settings.targets_per_seed, len(present)), replace=False).tolist())
        chosen: list[tuple[int, int]] = []
        for depth in range(max((len(per_tag[k]) for k in tags), default=0)):
            chosen += [(per_tag[k][depth], k) for k in tags if depth < len(per_tag[k])]
        chosen = sorted(chosen[: settings.n_eval], key=lambda pair: pair[1])
        index = [i for i, _ in chosen]
        return Instances(
            torch.from_numpy(pool.x[index]),
            torch.from_numpy(np.stack([pool.masks[i, k] for i, k in chosen])),
            [pool.outputs.index(LOCAL_TAGS[k]) for _, k in chosen],
        )


CRYSTAL_CLASSES = ("A1_fcc", "A2_bcc", "A3_hcp", "A4_diamond", "B1_rocksalt", "B2_CsCl", "B3_zincblende")


class CrystalTask(Task):
    name = "crystals"
    title = "(d) crystal class of a defective prototype (its Bragg spots)"
    kind = "classification"
    channels = 3
    cause = "the Bragg spots of the pristine prototype"

    def draw(self, settings: Preset, seed: int) -> Pool:
        from matsight.crystals.defects import vacancies
        from matsight.crystals.fingerprint import FingerprintTransformer
        from matsight.crystals.library import CLASS_NAMES, random_structure
        from matsight.crystals.spots import spots_of

        rng = np.random.default_rng([seed, 4])
        classes = [CLASS_NAMES.index(name) for name in CRYSTAL_CLASSES]
        labels = np.repeat(np.arange(len(classes)), settings.crystals_per_class)
        pristine = [random_structure(classes[c], rng, max_rotation=MAX_ROTATION)[0] for c in labels]
        defective = [vacancies(a, rng.uniform(0, MAX_VACANCIES), seed=rng) for a in pristine]
        structures = pristine + defective
        transformer = FingerprintTransformer()
        chunks = range(0, len(structures), 16)
        images = torch.cat(
            [
                transformer.transform(structures[i : i + 16])
                for i in _counted(chunks, len(chunks), "fingerprinting prototypes (16 per step)")
            ]
        )
        spots = spots_of(images[: len(pristine)]).numpy()
        x = images[len(pristine) :].numpy().astype(np.float32)
        return Pool(x, labels[:, None].astype(np.float32), spots[:, None], list(CRYSTAL_CLASSES))

    def target(self, pool: Pool, index: int) -> int | None:
        return int(pool.y[index, 0])

    def split(self, pool: Pool, settings: Preset, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Held out: ``ceil(n_eval / targets_per_seed)`` structures of each of ``targets_per_seed``
        classes drawn at random (sorted by class: methods take one target per call); the model trains
        on every other structure, so it sees every class."""
        labels = pool.y[:, 0].astype(int)
        classes = sorted(
            rng.choice(len(pool.outputs), min(settings.targets_per_seed, len(pool.outputs)), replace=False)
        )
        per_class = min(-(-settings.n_eval // len(classes)), int(np.bincount(labels).min()) - 1)
        held = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes])
        return np.setdiff1d(np.arange(len(labels)), held), held


TASKS: dict[str, Task] = {task.name: task for task in (PitsTask(), CPSTask(), XrayTask(), CrystalTask())}
