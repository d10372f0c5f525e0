"""Do the knobs' answers agree with the truth planted in synthetic lots?

On lots from :mod:`matsight.synth.sem` the sign of d(property)/d(attribute) is known
(``ground_truth.json``). :func:`knob_agreement` compares it with what the knobs workflow answered
for every knob that passed the control check: the sweep's slope and the inverse search's mean ΔA
(for "increase" it must have the planted sign, for "decrease" the opposite one). A knob that fails
the control check is not compared: its answers are not about its attribute in the first place.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from matsight.synth.sem import unit_features

AGREES, DISAGREES, NOT_CHECKED = "agrees", "disagrees", "not checked (fails the control check)"
DIRECTION_SIGN = {"increase": 1, "decrease": -1}


def planted_signs(ground_truth: Mapping) -> dict[str, int]:
    """Sign of d(property)/d(attribute) per attribute of a ``ground_truth.json``: the coefficient's sign
    times the direction in which the attribute's term moves across its range (size enters as size^-1/2,
    so a positive size coefficient makes the property fall as grains grow)."""
    ends = pd.DataFrame(
        {name: [float(low), float(high)] for name, (low, high) in ground_truth["attribute_ranges"].items()}
    )
    moves = unit_features(ends).diff().iloc[1]
    return {name: int(np.sign(c) * np.sign(moves[name])) for name, c in ground_truth["coefficients"].items()}


def knob_agreement(
    control: Mapping, sweeps: pd.DataFrame, effects: pd.DataFrame | None, planted: Mapping[str, int]
) -> pd.DataFrame:
    """One row per knob: ``knob, passes, planted_sign, sweep_slope, inverse_increase, inverse_decrease,
    verdict``.

    ``control``: ``knob_control.json`` (``names``, ``passes``); ``sweeps``: ``knob_sweeps.csv``
    (``attribute``, ``slope``); ``effects``: ``inverse_effects.csv`` (``attribute``, ``direction``,
    ``mean_delta``, ``free``) or ``None``; ``planted``: attribute → +1/−1 (:func:`planted_signs`).
    A passing knob *agrees* when its sweep slope has the planted sign and every inverse direction that
    turned it moved it the planted way (ΔA sign = planted sign for increase, opposite for decrease); a
    zero counts as a disagreement. Inverse columns are NaN where the search did not turn the knob.
    """
    slopes = sweeps.groupby("attribute", sort=False)["slope"].first()
    turned = pd.DataFrame(columns=["attribute", "direction", "mean_delta"])
    if effects is not None:
        turned = effects.loc[effects["free"].astype(bool), ["attribute", "direction", "mean_delta"]]
    rows = []
    for name, passes in zip(control["names"], control["passes"]):
        sign = planted.get(name)
        deltas = turned[turned["attribute"] == name].set_index("direction")["mean_delta"]
        row = {
            "knob": name,
            "passes": bool(passes),
            "planted_sign": np.nan if sign is None else sign,
            "sweep_slope": float(slopes[name]),
            **{f"inverse_{d}": float(deltas.get(d, np.nan)) for d in DIRECTION_SIGN},
        }
        if not passes:
            row["verdict"] = NOT_CHECKED
        elif sign is None:
            row["verdict"] = "not checked (no planted sign)"
        else:
            signs = [np.sign(row["sweep_slope"]) == sign]
            signs += [np.sign(v) == sign * DIRECTION_SIGN[d] for d, v in deltas.items() if d in DIRECTION_SIGN]
            row["verdict"] = AGREES if all(signs) else DISAGREES
        rows.append(row)
    return pd.DataFrame(rows)


def agreement_summary(table: pd.DataFrame) -> str:
    """The passing knobs' verdicts of a :func:`knob_agreement` table in one line for the console and the
    report, e.g. ``"size agrees; facetness DISAGREES (sweep -6.20, inverse -0.230 for increase; planted +)"``."""
    passing = table[table["passes"]]
    if passing.empty:
        return "no knob passes the control check, nothing to compare"
    parts = []
    for row in passing.itertuples():
        if row.verdict != DISAGREES:
            parts.append(f"{row.knob} {row.verdict}")
            continue
        inverse = ", ".join(
            f"inverse {getattr(row, f'inverse_{d}'):+.3f} for {d}"
            for d in DIRECTION_SIGN
            if np.isfinite(getattr(row, f"inverse_{d}"))
        )
        planted = "+" if row.planted_sign > 0 else "−"
        parts.append(
            f"{row.knob} DISAGREES (sweep {row.sweep_slope:+.2f}{', ' + inverse if inverse else ''}; planted {planted})"
        )
    return "; ".join(parts)
