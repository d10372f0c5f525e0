"""Do the knobs' answers agree with the truth planted in synthetic lots?

On lots from :mod:`matsight.synth.sem` the effect of every attribute on the property is known
(``ground_truth.json``): its sign, and its size — the change of the property as the attribute
moves across the lots' range (:func:`planted_effects`). :func:`knob_agreement` compares it with what
the knobs workflow answered for every knob that passed the control check: the sweep's slope and the
inverse search's mean ΔA (for "increase" it must have the planted sign, for "decrease" the opposite
one), each with its 95 % interval.

Given the regressor's real response to each attribute (:mod:`matsight.knobs.response`: tiles
re-rendered by the generator with only that attribute changed), a knob is first checked against the
regressor itself: a knob whose sweep has the sign opposite to that response *misreads the
regressor* — its edit is not what the regressor reads as the attribute, whatever the attribute
measurer of the control check says — and it is not compared with the planted effect at all.

Verdicts (column ``verdict``, the why in ``reason``):

- ``misreads the regressor``: the sweep's interval and the real response's lie on opposite sides
  of zero; the knob's answers are not findings about the regressor, and an inverse search should not
  turn it (:func:`trusted_knobs`);
- ``agrees``: every answer's interval lies on the planted side of zero;
- ``disagrees``: an answer's interval lies on the other side — the knob answers through something
  other than its attribute, and its answers are not findings about that attribute;
- ``not resolved``: the planted effect is smaller than the regressor can resolve (below
  :data:`RESOLUTION_FACTOR` × its held-out RMSE: a regressor that errs by more than the effect need not
  have learnt its sign), or an answer's interval spans zero; neither agreement nor disagreement. An
  inverse answer counts over the tiles (or lots) whose search reached the goal; a direction no
  search reached gives no answer;
- ``not checked``: the knob fails the control check (its answers are not about its attribute in the
  first place), the lots plant nothing for it, or the search did not turn it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.errors import RunFolderError
from matsight.store import RunFolder
from matsight.synth.sem import CPS_SCALE, unit_features

AGREES, DISAGREES, NOT_RESOLVED, NOT_CHECKED = "agrees", "disagrees", "not resolved", "not checked"
MISREADS = "misreads the regressor"
DIRECTION_SIGN = {"increase": 1, "decrease": -1}
# label, value column and interval prefix of each answer in a knob_agreement table
ANSWERS = (
    ("sweep", "sweep_slope", "sweep"),
    ("inverse for increase", "inverse_increase", "inverse_increase"),
    ("inverse for decrease", "inverse_decrease", "inverse_decrease"),
)
# an effect must exceed this many held-out RMSEs of the regressor for its sign to count as resolved
RESOLUTION_FACTOR = 2.0


def planted_effects(ground_truth: Mapping) -> dict[str, float]:
    """Change of the property (its units) per attribute of a ``ground_truth.json`` as the attribute moves
    from the lots' lowest to their highest value, the others fixed: ``scale · c · Δu`` with the
    generator's rescaled attribute ``u`` (size enters as size^-1/2, so a positive size coefficient
    makes the property fall as grains grow). Uses the generator's ranges when the lots are not listed."""
    lots = pd.DataFrame(ground_truth.get("lots") or [])
    ends = {}
    for name, (low, high) in ground_truth["attribute_ranges"].items():
        values = lots[name] if name in lots else pd.Series([low, high], dtype=float)
        ends[name] = [float(values.min()), float(values.max())]
    moves = unit_features(pd.DataFrame(ends)).diff().iloc[1]
    return {name: float(CPS_SCALE * c * moves[name]) for name, c in ground_truth["coefficients"].items()}


def planted_signs(ground_truth: Mapping) -> dict[str, int]:
    """Sign of d(property)/d(attribute) per attribute of a ``ground_truth.json`` (:func:`planted_effects`)."""
    return {name: int(np.sign(effect)) for name, effect in planted_effects(ground_truth).items()}


@dataclass(frozen=True)
class Truth:
    """What the answers are compared with: ``effects`` (attribute → planted change of the property
    over the lots' range, :func:`planted_effects`) and ``resolution``: the smallest effect whose sign
    the regressor can be expected to carry (:data:`RESOLUTION_FACTOR` × its held-out RMSE; NaN when
    the regressor has no held-out metrics)."""

    effects: Mapping[str, float]
    resolution: float

    @classmethod
    def read(cls, ground_truth: Path, regressor: Path) -> Truth:
        """From a ``ground_truth.json`` and the regressor run's ``metrics.json`` (held-out tiles' RMSE)."""
        effects = planted_effects(json.loads(Path(ground_truth).read_text()))
        return cls(effects, RESOLUTION_FACTOR * held_out_rmse(regressor))


def held_out_rmse(regressor: Path) -> float:
    """The regressor run's RMSE on its held-out tiles (property units), NaN when it has none."""
    path = Path(regressor) / "metrics.json"
    try:
        value = json.loads(path.read_text())["validation"]["tiles"]["rmse"]
    except (OSError, ValueError, KeyError, TypeError):
        return math.nan
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0 else math.nan


def ground_truth_of(regressor: Path) -> Path | None:
    """The ``ground_truth.json`` of the lots the regressor was trained on (its manifest's input ``data``,
    found by :meth:`~matsight.store.RunFolder.input_path`: only while they hold what it read), if any:
    the truth the regressor was taught."""
    try:
        data = RunFolder(regressor, create=False).input_path("data")
    except (RunFolderError, OSError, ValueError, TypeError):
        return None
    if data is None:
        return None
    path = data / "ground_truth.json"
    return path if path.is_file() else None


def interval_sign(low: float, high: float) -> int:
    """+1 / −1 when the interval lies above / below zero, 0 when it spans zero."""
    return 1 if low > 0 else -1 if high < 0 else 0


def verdict(passes: bool, effect: float, resolution: float, answers: list[tuple[int, float, float]]) -> tuple[str, str]:
    """``(verdict, reason)`` of one knob (module docstring). ``effect``: planted change of the property
    (NaN: nothing planted); ``answers``: ``(direction, low, high)`` per answer — direction +1 when the
    answer should have the planted sign (sweep, increase), −1 when the opposite one (decrease)."""
    if not passes:
        return NOT_CHECKED, "fails the control check"
    if not math.isfinite(effect) or effect == 0:
        return NOT_CHECKED, "the lots plant no effect of this attribute"
    if not math.isfinite(resolution):
        return NOT_RESOLVED, "the regressor has no held-out error to compare the planted effect with"
    if abs(effect) < resolution:
        return NOT_RESOLVED, (
            f"planted effect {effect:+.2f} is below the regressor's resolution {resolution:.2f} "
            f"({RESOLUTION_FACTOR:g} × its held-out RMSE)"
        )
    if not answers:
        return NOT_CHECKED, "no answer to compare: not swept, not turned by the inverse search or its goal not reached"
    wanted = np.sign(effect)
    signs = [(interval_sign(low, high), direction * wanted) for direction, low, high in answers]
    if any(s != 0 and s != w for s, w in signs):
        return DISAGREES, "an answer has the sign opposite to the planted one"
    if all(s == w for s, w in signs):
        return AGREES, "every answer has the planted sign"
    return NOT_RESOLVED, "an answer's 95 % interval spans zero"


def knob_agreement(
    control: Mapping,
    truth: Truth,
    sweeps: pd.DataFrame | None = None,
    effects: pd.DataFrame | None = None,
    response: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per knob: ``knob, passes, planted_effect, planted_sign, resolution``, the answers
    (``sweep_slope, sweep_low, sweep_high``; ``inverse_<direction>`` with ``_low``/``_high``; NaN when
    not given, not turned or never reached), the regressor's real response (``response_slope,
    response_low, response_high``; NaN when not given), ``verdict, reason`` (module docstring).

    ``control``: ``knob_control.json`` (``names``, ``passes``); ``sweeps``: ``knob_sweeps.csv``
    (``attribute, slope, ci_low, ci_high``); ``effects``: ``inverse_effects.csv`` (``attribute,
    direction, mean_delta, ci_low, ci_high, free``); ``response``: ``regressor_response.csv`` (the
    layout of ``sweeps``). Give any of them.
    """
    sweep_rows = _first_rows(sweeps)
    response_rows = _first_rows(response)
    turned = None
    if effects is not None:
        turned = effects[effects["free"].astype(bool)].set_index(["attribute", "direction"])
    rows = []
    for name, passes in zip(control["names"], control["passes"]):
        effect = float(truth.effects.get(name, math.nan))
        row = {
            "knob": name,
            "passes": bool(passes),
            "planted_effect": effect,
            "planted_sign": float(np.sign(effect)) if math.isfinite(effect) else math.nan,
            "resolution": truth.resolution,
        }
        for prefix, table in (("sweep", sweep_rows), ("response", response_rows)):
            found = table is not None and name in table.index
            for suffix, column in (("slope", "slope"), ("low", "ci_low"), ("high", "ci_high")):
                row[f"{prefix}_{suffix}"] = float(table.loc[name, column]) if found else math.nan
        answers = [(1, row["sweep_low"], row["sweep_high"])]
        for direction, sign in DIRECTION_SIGN.items():
            found = turned is not None and (name, direction) in turned.index
            e = turned.loc[(name, direction)] if found else None
            for suffix, column in (("", "mean_delta"), ("_low", "ci_low"), ("_high", "ci_high")):
                row[f"inverse_{direction}{suffix}"] = float(e[column]) if found else math.nan
            answers.append((sign, row[f"inverse_{direction}_low"], row[f"inverse_{direction}_high"]))
        answers = [a for a in answers if math.isfinite(a[1]) and math.isfinite(a[2])]
        misread = _misreads(row) if passes else None
        if misread:
            row["verdict"], row["reason"] = MISREADS, misread
        else:
            row["verdict"], row["reason"] = verdict(bool(passes), effect, truth.resolution, answers)
        rows.append(row)
    return pd.DataFrame(rows)


def _first_rows(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per attribute of a sweep-layout table its first row (slope and interval repeat over the levels)."""
    return None if table is None else table.groupby("attribute", sort=False).first()


def _misreads(row: Mapping) -> str | None:
    """Why the knob of an agreement row misreads the regressor (sweep and real response on opposite sides
    of zero), else ``None``."""
    sweep = interval_sign(row["sweep_low"], row["sweep_high"])
    real = interval_sign(row["response_low"], row["response_high"])
    if sweep == 0 or real == 0 or sweep == real:
        return None
    return (
        f"its sweep {row['sweep_slope']:+.2f} [{row['sweep_low']:+.2f}, {row['sweep_high']:+.2f}] has the sign "
        f"opposite to the regressor's real response {row['response_slope']:+.2f} [{row['response_low']:+.2f}, "
        f"{row['response_high']:+.2f}] to tiles re-rendered with only {row['knob']} changed: the edit is not what "
        f"the regressor reads as {row['knob']}"
    )


def trusted_knobs(table: pd.DataFrame) -> list[str]:
    """The knobs of a :func:`knob_agreement` table whose answers are about the regressor: they pass the
    control check and do not misread the regressor."""
    return table.loc[table["passes"] & (table["verdict"] != MISREADS), "knob"].tolist()


def agreement_summary(table: pd.DataFrame) -> str:
    """The passing knobs' verdicts of a :func:`knob_agreement` table in one line for the console and the
    report, e.g. ``"size agrees; facetness not resolved (planted effect +1.9 is below ...)"``; a
    disagreement in capitals with its numbers: ``"facetness DISAGREES (sweep -6.20 [-7.1, -5.3]; planted +)"``."""
    passing = table[table["passes"]]
    if passing.empty:
        return "no knob passes the control check, nothing to compare"
    parts = []
    for row in passing.itertuples():
        if row.verdict == AGREES:
            parts.append(f"{row.knob} agrees")
        elif row.verdict == MISREADS:
            parts.append(
                f"{row.knob} MISREADS THE REGRESSOR (sweep {row.sweep_slope:+.3g} [{row.sweep_low:+.3g}, "
                f"{row.sweep_high:+.3g}]; real response {row.response_slope:+.3g} [{row.response_low:+.3g}, "
                f"{row.response_high:+.3g}])"
            )
        elif row.verdict != DISAGREES:
            parts.append(f"{row.knob} {row.verdict} ({row.reason})")
        else:
            answers = [
                f"{label} {getattr(row, value):+.3g} [{getattr(row, prefix + '_low'):+.3g}, "
                f"{getattr(row, prefix + '_high'):+.3g}]"
                for label, value, prefix in ANSWERS
                if prefix + "_low" in table and np.isfinite(getattr(row, prefix + "_low"))
            ]
            planted = "+" if row.planted_sign > 0 else "−"
            parts.append(f"{row.knob} DISAGREES ({'; '.join(answers)}; planted {planted})")
    return "; ".join(parts)
