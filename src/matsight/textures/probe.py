"""``TextureProbe``: name what a CNN sees in salient regions with describable textures (paper §4).

    probe = TextureProbe(model, stage="Z5").fit(bank)          # bank: folder or ImageTable
    result = probe.correlate(lots, property="cps")              # lots: folder (layout 1) or ImageTable
    result.table()                                              # texture, score, ci_low, ci_high, p_value

Features come from :mod:`matsight.textures.features` (one FastCAM pass per image, resumable chunks
in ``run``); distances from :mod:`matsight.textures.distances` (blockwise); scores, sign
convention and uncertainty from :mod:`matsight.textures.correlation` / :mod:`.uncertainty`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch import nn

from matsight.data import read_lots
from matsight.data.dataset import ImageTable
from matsight.data.intensity import Intensity
from matsight.data.layouts import choose_target
from matsight.errors import ConfigError
from matsight.models import ModelSpec
from matsight.ood import OODScores
from matsight.ood.run import load_run_reference, score_store
from matsight.scale import LOCAL, Engine
from matsight.store import RunFolder
from matsight.textures.bank import read_bank
from matsight.textures.correlation import SIGN_CONVENTION, class_average, remove_lot_offset, texture_scores
from matsight.textures.distances import DEFAULT_BLOCK, grouped_mean_distances, nearest
from matsight.textures.features import SalientFeatures, extract
from matsight.textures.uncertainty import bootstrap_scores, confidence_interval, permutation_pvalues, q_values


@dataclass
class TextureResult:
    """Everything :meth:`TextureProbe.correlate` computes.

    ``textures [T]``, ``lots [L]``, ``prop [L]`` (property per lot); ``scores, ci_low, ci_high,
    p_value, q_value [T]`` (q: Benjamini-Hochberg over the T textures); ``relevance [L, T]`` mean L2
    distance lot ↔ texture (eq. 4.3) minus the lot's mean over textures (:func:`remove_lot_offset`);
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
    q_value: np.ndarray
    relevance: np.ndarray
    lot_bank: np.ndarray
    neighbours: np.ndarray
    neighbour_distance: np.ndarray
    tile_lot: np.ndarray
    model_pretrained: bool | None = None
    sign_convention: str = SIGN_CONVENTION

    def table(self) -> pd.DataFrame:
        """One row per texture, highest score first: ``texture, score, ci_low, ci_high, p_value, q_value``
        and ``model_pretrained`` (see :mod:`matsight.textures.pretraining`; empty when unknown)."""
        df = pd.DataFrame(
            {
                "texture": self.textures,
                "score": self.scores,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "p_value": self.p_value,
                "q_value": self.q_value,
                "model_pretrained": self.model_pretrained,
            }
        )
        return df.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)

    def top_bottom(self, n: int = 10) -> pd.DataFrame:
        """Paper Table 1: the ``n`` highest and ``n`` lowest textures with their rank (1 = highest)."""
        df = self.table()
        df.insert(0, "rank", np.arange(1, len(df) + 1))
        n = min(n, len(df) // 2)
        return pd.concat([df.head(n).assign(side="top"), df.tail(n).assign(side="bottom")], ignore_index=True)

    def lot_similarity(self) -> pd.DataFrame:
        """One row per lot: ``lot`` and, per texture, how much the lot looks like it (``-relevance``, the
        lot offset removed: the vector each texture's score correlates with the property)."""
        frame = pd.DataFrame(-self.relevance, columns=self.textures)
        frame.insert(0, "lot", self.lots)
        return frame

    def rank_of(self, texture: str) -> int:
        """Rank of ``texture`` (1 = highest score)."""
        return int(np.flatnonzero(self.table()["texture"].to_numpy() == texture)[0]) + 1


class TextureProbe:
    """Relate a CNN's salient-region features to a texture bank and rank textures by a lot property.

    ``model``: a matsight model (stages ``Z1..Z5``) or any CNN FastCAM finds stages in;
    ``stage``: which stage's features to compare; ``k``: neighbours per tile; ``image_size``:
    model input (pixels); ``run``: run folder for the resumable feature chunks (a temporary one
    when ``None``); ``block``: rows/cols per distance block; ``n_boot``/``n_perm``: bootstrap and
    permutation draws; ``engine``: where feature extraction runs (local or Ray); ``crop_size``: centre
    crop after resizing to ``image_size`` (a matsight model's ``spec.crop_size``; ``None``: no crop), so
    tiles reach the model as in its evaluation; ``intensity``: how
    images are decoded (the model's :class:`~matsight.data.intensity.Intensity`); ``ood_reference``:
    the training run whose out-of-distribution reference judges the lots' tiles
    (:meth:`ood_scores`; ``None``: no check).
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
        ood_reference: str | os.PathLike | None = None,
        crop_size: int | None = None,
    ):
        self.ood_reference = ood_reference if ood_reference and load_run_reference(ood_reference) else None
        self.model, self.stage, self.k, self.image_size, self.channels = model, stage, k, image_size, channels
        self.crop_size = crop_size or image_size
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
            statistics=name == "tiles" and self.ood_reference is not None,
            crop_size=self.crop_size,
        )
        if self.stage not in feats.vectors:
            raise ConfigError(f"--stage {self.stage!r}: choose one of {', '.join(feats.vectors)}")
        return feats

    def ood_scores(self, spec: ModelSpec) -> OODScores | None:
        """Out-of-distribution verdicts on the lots' tiles of :meth:`correlate` (None without a reference)."""
        if self.ood_reference is None:
            return None
        return score_store(self.ood_reference, spec, self.run.chunks("tiles"))

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
        tile_relevance = remove_lot_offset(tile_relevance)
        relevance = class_average(tile_relevance, tile_lot, len(lot_names))  # [L, T]
        lot_bank = grouped_mean_distances(x, y, tile_lot, None, self.block, self.device)  # [L, M]
        neighbours, neighbour_distance = nearest(x, y, self.k, self.block, self.device)
        scores = texture_scores(relevance, prop)
        low, high = confidence_interval(bootstrap_scores(tile_relevance, tile_lot, prop, self.n_boot, self.seed))
        p_value = permutation_pvalues(relevance, prop, self.n_perm, self.seed)
        return TextureResult(
            textures=list(self.bank_.class_names),
            lots=lot_names,
            prop_name=property,
            prop=prop,
            scores=scores,
            ci_low=low,
            ci_high=high,
            p_value=p_value,
            q_value=q_values(p_value),
            relevance=relevance,
            lot_bank=lot_bank,
            neighbours=neighbours,
            neighbour_distance=neighbour_distance,
            tile_lot=tile_lot,
        )
