"""From per-seed scores to the leaderboard and to the verdict on each task's default method.

``scores``: one row per (task, seed, method, library, metric) with the mean ``value`` over the
seed's explained instances. The leaderboard has one row per (task, method, library, metric):
``mean``, ``sd`` (over seeds, ddof 1) and ``n`` (seeds). The verdict asks, per task, whether the
default method beats each baseline on localisation and on faithfulness — each judged by its
:data:`VERDICT_METRICS` metric, better mean *and* better in every seed (paired: a seed's methods
explain the same images of the same model) — and, if it does not, which methods do; it also names
each family's winner and the matsight method to make the default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matsight.benchmark.baselines import BASELINES
from matsight.benchmark.metrics import METRICS

VERDICT_METRICS = {"localisation": "auroc", "faithfulness": "insertion_minus_deletion"}
"""The metric that judges each family. AUROC: threshold-free, chance 0.5 on every task. Insertion −
deletion: the deletion game matsight's saliency reports. The other metrics are in the leaderboard but
do not decide: with 8 instances per seed the pointing game is coarse and the mass ratio follows
AUROC; FaithfulnessCorrelation puts a random map within the methods' spread on three of the four
quick tasks (docs/benchmark.md), and ROAD is defined on the x-ray task only."""
FAMILIES = tuple(VERDICT_METRICS)
BASELINE_LIBRARY = "baseline"


def leaderboard(scores: pd.DataFrame) -> pd.DataFrame:
    """Columns ``task, method, library, metric, mean, sd, n`` (NaN values ignored)."""
    valid = scores.dropna(subset=["value"])
    grouped = valid.groupby(["task", "method", "library", "metric"], sort=False)["value"]
    table = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    return table.sort_values(["task", "metric", "mean"], ascending=[True, True, False], ignore_index=True)


def _better(a: np.ndarray, b: np.ndarray, higher: bool) -> bool:
    """Paired over seeds: ``a`` better than ``b`` on the mean and in every seed."""
    diff = (a - b) if higher else (b - a)
    return bool(len(diff) and diff.mean() > 0 and (diff > 0).all())


def family_table(scores: pd.DataFrame, task: str, family: str) -> pd.DataFrame:
    """Per-seed values of one family's verdict metric on one task: index ``(metric, seed)``, columns
    ``(library, method)`` (empty when the family has no scored metric there)."""
    part = scores[(scores["task"] == task) & (scores["metric"] == VERDICT_METRICS[family])]
    part = part.dropna(subset=["value"])
    return part.pivot_table(index=["metric", "seed"], columns=["library", "method"], values="value")


def beats_baselines(wide: pd.DataFrame, method: str, library: str) -> dict[str, bool] | None:
    """``baseline -> bool`` for one method in a :func:`family_table` (``None`` when it is not scored there)."""
    if (library, method) not in wide.columns or wide.empty:
        return None
    result = {}
    for baseline in BASELINES:
        if (BASELINE_LIBRARY, baseline) not in wide.columns:
            continue
        ok = True
        for metric, rows in wide.groupby(level="metric"):
            ours, theirs = rows[(library, method)].to_numpy(), rows[(BASELINE_LIBRARY, baseline)].to_numpy()
            keep = ~(np.isnan(ours) | np.isnan(theirs))
            ok &= _better(ours[keep], theirs[keep], METRICS[metric].higher_is_better)
        result[baseline] = ok
    return result


def verdict(scores: pd.DataFrame, defaults: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Per task: does the default (``task -> (method, library)``) beat every baseline on localisation
    and on faithfulness; the methods that do (best first by their mean rank over those metrics); the
    winner of each family (best mean rank over its metrics, baselines excluded); and the matsight
    method recommended as the task's default: the default when it passes, else the best-ranked
    matsight method that passes, else the best-ranked matsight method (``passes_all`` says which)."""
    rows = []
    methods = scores[scores["library"] != BASELINE_LIBRARY][["method", "library"]].drop_duplicates()
    for task, (method, library) in defaults.items():
        if task not in set(scores["task"]):
            continue
        row = {"task": task, "default": f"{library}:{method}"}
        wides = {family: family_table(scores, task, family) for family in FAMILIES}
        passes = True
        for family in FAMILIES:
            beaten = beats_baselines(wides[family], method, library) or {}
            for baseline in BASELINES:
                row[f"{family}_beats_{baseline}"] = beaten.get(baseline)
            passes &= bool(beaten) and all(beaten.values())
        row["passes"] = passes
        keys = [f"{lib}:{name}" for name, lib in methods.itertuples(index=False)]
        winners = [
            f"{lib}:{name}"
            for name, lib in methods.itertuples(index=False)
            if all((b := beats_baselines(wides[f], name, lib)) and all(b.values()) for f in FAMILIES)
        ]
        ranked = by_rank(scores, task, winners, FAMILIES)
        row["passing_methods"] = ", ".join(ranked) if ranked else "none"
        for family in FAMILIES:
            row[f"{family}_winner"] = next(iter(by_rank(scores, task, keys, (family,))), None)
        own = [k for k in ranked if k.startswith("matsight:")]
        if passes:
            row["recommended_default"], row["passes_all"] = row["default"], True
        elif own:
            row["recommended_default"], row["passes_all"] = own[0], True
        else:
            mine = [k for k in keys if k.startswith("matsight:")]
            row["recommended_default"], row["passes_all"] = (
                next(iter(by_rank(scores, task, mine, FAMILIES)), None),
                False,
            )
        rows.append(row)
    return pd.DataFrame(rows)


def by_rank(scores: pd.DataFrame, task: str, keys: list[str], families: tuple[str, ...]) -> list[str]:
    """``library:method`` keys ordered by their mean rank (1 = best; ranks among every method and
    baseline scored on the task) over the verdict metrics of ``families``."""
    board = leaderboard(scores[scores["task"] == task])
    board = board[board["metric"].isin([VERDICT_METRICS[f] for f in families])].copy()
    board["key"] = board["library"] + ":" + board["method"]
    sign = board["metric"].map(lambda m: -1 if METRICS[m].higher_is_better else 1)
    board["rank"] = (board["mean"] * sign).groupby(board["metric"]).rank()
    board = board[board["key"].isin(keys)]
    return board.groupby("key")["rank"].mean().sort_values(kind="stable").index.tolist()
