"""``TextureProbe``: name what a CNN sees in salient regions with describable textures (paper §4).

    probe = TextureProbe(model, stage="Z5").fit(bank)          # bank: folder or ImageTable
    result = probe.correlate(lots, property="cps")              # lots: folder (layout 1) or ImageTable
    result.table()                                              # texture, score, ci_low, ci_high, p_value

Features come from :mod:`matsight.concepts.features` (one FastCAM pass per image, resumable chunks
in ``run``); distances from :mod:`matsight.concepts.distances` (blockwise); scores, sign
convention and uncertainty from :mod:`matsight.concepts.correlation` / :mod:`.uncertainty`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch import nn

from matsight.concepts.bank import read_bank
from matsight.concepts.correlation import SIGN_CONVENTION, class_average, texture_scores
from matsight.concepts.distances import DEFAULT_BLOCK, grouped_mean_distances, nearest
from matsight.concepts.features import SalientFeatures, extract
from matsight.concepts.uncertainty import bootstrap_scores, confidence_interval, permutation_pvalues
from matsight.data import read_lots
from matsight.data.dataset import ImageTable
from matsight.data.intensity import Intensity
from matsight.data.layouts import choose_target
from matsight.errors import ConfigError
from matsight.scale import LOCAL, Engine
from matsight.store import RunFolder


@dataclass
class TextureResult:
    """Everything :meth:`TextureProbe.correlate` computes.

    ``textures [T]``, ``lots [L]``, ``prop [L]`` (property per lot); ``scores, ci_low, ci_high,
    p_value [T]``; ``relevance [L, T]`` mean L2 distance lot ↔ texture (eq. 4.3);
    ``lot_bank [L, M]`` mean distance lot ↔ bank image (eq. 4.2); ``neighbours, neighbour_distance
    [N, k]`` nearest bank images per tile; ``tile_lot [N]`` lot index per tile.
    """

    textures: list[str]
    lots: list[str]
    prop_name: str
    prop: np.ndarray
    scores: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    relevance: np.ndarray
    lot_bank: np.ndarray
    neighbours: np.ndarray
    neighbour_distance: np.ndarray
    tile_lot: np.ndarray
    sign_convention: str = SIGN_CONVENTION

    def table(self) -> pd.DataFrame:
        """One row per texture, highest score first: ``texture, score, ci_low, ci_high, p_value``."""
        df = pd.DataFrame(
            {
                "texture": self.textures,
                "score": self.scores,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "p_value": self.p_value,
            }
        )
        return df.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)

    def top_bottom(self, n: int = 10) -> pd.DataFrame:
        """Paper Table 1: the ``n`` highest and ``n`` lowest textures with their rank (1 = highest)."""
        df = self.table()
        df.insert(0, "rank", np.arange(1, len(df) + 1))
        n = min(n, len(df) // 2)
        return pd.concat([df.head(n).assign(side="top"), df.tail(n).assign(side="bottom")], ignore_index=True)

    def rank_of(self, texture: str) -> int:
        """Rank of ``texture`` (1 = highest score)."""
        return int(np.flatnonzero(self.table()["texture"].to_numpy() == texture)[0]) + 1


class TextureProbe:
    """Relate a CNN's salient-region features to a texture bank and rank textures by a lot property.

    ``model``: a matsight model (stages ``Z1..Z5``) or any CNN FastCAM finds stages in;
    ``stage``: which stage's features to compare; ``k``: neighbours per tile; ``image_size``:
    model input (pixels); ``run``: run folder for the resumable feature chunks (a temporary one
    when ``None``); ``block``: rows/cols per distance block; ``n_boot``/``n_perm``: bootstrap and
    permutation draws; ``engine``: where feature extraction runs (local or Ray); ``intensity``: how
    images are decoded (the model's :class:`~matsight.data.intensity.Intensity`).
    """

    def __init__(
        self,
        model: nn.Module,
        stage: str = "Z5",
        k: int = 9,
        image_size: int = 64,
        channels: int = 1,
        batch_size: int = 32,
        device: str = "cpu",
        run: RunFolder | None = None,
        block: int = DEFAULT_BLOCK,
        n_boot: int = 200,
        n_perm: int = 999,
        seed: int = 0,
        engine: Engine = LOCAL,
        intensity: Intensity | None = None,
    ):
        self.model, self.stage, self.k, self.image_size, self.channels = model, stage, k, image_size, channels
        self.intensity = intensity or Intensity()
        self.batch_size, self.device, self.block = batch_size, device, block
        self.n_boot, self.n_perm, self.seed, self.engine = n_boot, n_perm, seed, engine
        self.run = run if run is not None else RunFolder(tempfile.mkdtemp(prefix="matsight-textures-"))

    def _features(self, table: ImageTable, name: str) -> SalientFeatures:
        feats = extract(
            self.model,
            table,
            self.run,
            name,
            self.image_size,
            self.channels,
            self.batch_size,
            self.device,
            self.engine,
            self.intensity,
        )
        if self.stage not in feats.vectors:
            raise ConfigError(f"--stage {self.stage!r}: choose one of {', '.join(feats.vectors)}")
        return feats

    def fit(self, bank: ImageTable | str | os.PathLike) -> TextureProbe:
        """Extract salient features of every bank image (DTD layout folder or table)."""
        self.bank_ = bank if isinstance(bank, ImageTable) else read_bank(bank)
        self.bank_features_ = self._features(self.bank_, "bank")
        return self

    def correlate(self, lots: ImageTable | str | os.PathLike, property: str | None = None) -> TextureResult:
        """Score every texture against ``property`` over the measured lots (layout 1 folder or table;
        ``property=None``: the table's target, or a folder's only numeric column)."""
        if not hasattr(self, "bank_features_"):
            raise ConfigError("call TextureProbe.fit(bank) before correlate(lots)")
        if isinstance(lots, ImageTable):
            table, property = lots, property or lots.target_names[0]
        else:
            property = choose_target(lots, property)
            table = read_lots(lots, target=property).measured()
        self.lots_ = table
        self.lot_features_ = self._features(table, "tiles")
        lot_names = sorted(set(table.groups))
        if len(lot_names) < 3:
            raise ConfigError(f"{table.root}: need at least 3 lots to correlate textures with {property}")
        index = {name: i for i, name in enumerate(lot_names)}
        tile_lot = np.array([index[g] for g in table.groups])
        prop = class_average(table.targets[:, :1], tile_lot, len(lot_names))[:, 0]
        x = self.lot_features_.vectors[self.stage]
        y = self.bank_features_.vectors[self.stage]
        bank_class = self.bank_.targets[:, 0].astype(np.int64)
        tile_relevance = grouped_mean_distances(x, y, None, bank_class, self.block, self.device)  # [N, T]
        relevance = class_average(tile_relevance, tile_lot, len(lot_names))  # [L, T]
        lot_bank = grouped_mean_distances(x, y, tile_lot, None, self.block, self.device)  # [L, M]
        neighbours, neighbour_distance = nearest(x, y, self.k, self.block, self.device)
        scores = texture_scores(relevance, prop)
        low, high = confidence_interval(bootstrap_scores(tile_relevance, tile_lot, prop, self.n_boot, self.seed))
        return TextureResult(
            textures=list(self.bank_.class_names),
            lots=lot_names,
            prop_name=property,
            prop=prop,
            scores=scores,
            ci_low=low,
            ci_high=high,
            p_value=permutation_pvalues(relevance, prop, self.n_perm, self.seed),
            relevance=relevance,
            lot_bank=lot_bank,
            neighbours=neighbours,
            neighbour_distance=neighbour_distance,
            tile_lot=tile_lot,
        )
