"""Report sections of the three knobs workflows, from what each run folder holds."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from matsight.knobs.agreement import DISAGREES, MISREADS, RESOLUTION_FACTOR, agreement_summary
from matsight.report import ORDER, Section, write_section
from matsight.store import RunFolder

VIEW_TEXT = {"edit": "the edited tile", "transfer": "the real tile plus the edit"}
AGREEMENT_TEXT = (
    "The regressor was trained on synthetic lots with a ground_truth.json. A passing knob whose sweep has the "
    "sign opposite to the regressor's real response to its attribute (regressor_response.csv: tiles "
    "re-rendered by the generator with only that attribute changed) misreads the regressor: its edit is not "
    "what the regressor reads as the attribute, and its answers are not findings. Every other passing knob's "
    "answers are compared with the planted effect of its attribute (knob_agreement.csv): a knob agrees "
    "when every answer's 95 % interval lies on the planted side of zero, disagrees when one lies on the "
    "other side (it answers through something other than its attribute: not a finding about it), and is "
    f"not resolved when the planted effect over the lots' range is below {RESOLUTION_FACTOR:g} × the "
    "regressor's held-out RMSE (the regressor need not have learnt its sign) or an answer's interval "
    "spans zero."
)


def _tables(run: RunFolder, names: tuple[str, ...]) -> list[str]:
    return [f"tables/{n}.csv" for n in names if (run.path / "tables" / f"{n}.csv").exists()]


def _figures(run: RunFolder, names: tuple[str, ...]) -> list[str]:
    return [f"figures/{n}" for n in names if run.figure_path(n).exists()]


def _agreement_metrics(run: RunFolder) -> dict[str, str]:
    path = run.path / "tables" / "knob_agreement.csv"
    if not path.exists():
        return {}
    agreement = pd.read_csv(path)
    metrics = {"passing knobs vs the lots' ground truth": agreement_summary(agreement)}
    for row in agreement.itertuples():
        verdict = f"{row.verdict.upper()}: not a finding" if row.verdict in (DISAGREES, MISREADS) else row.verdict
        metrics[f"ground truth {row.knob}"] = f"{verdict} ({row.reason})"
    return metrics


def write_train_section(run: RunFolder) -> Path:
    """The editor run's section: reconstruction, control slopes, cross-talk, measurer R², passes."""
    control = json.loads((run.path / "knob_control.json").read_text())
    metrics: dict[str, float | str] = {"held-out reconstruction L1": round(control["reconstruction_l1"], 4)}
    names = control["names"]
    for i, name in enumerate(names):
        cross = [abs(v) for j, v in enumerate(control["slopes"][i]) if j != i]
        metrics[f"control slope {name}"] = round(control["slopes"][i][i], 3)
        metrics[f"max |cross-talk| {name}"] = round(max(cross), 3) if cross else 0.0
        metrics[f"measurer R² {name}"] = round(control["measurer_r2"][i], 3)
        metrics[f"passes {name}"] = "yes" if control["passes"][i] else "no"
    text = (
        "An attribute-conditioned editor G(I; A) turns the lots' attributes into knobs. Control slope: how much "
        "an independently trained attribute measurer reads the attribute move per unit requested (scaled 0..1; "
        "1 = perfect); cross-talk: how much the other attributes move. A knob passes when the measurer reads its "
        "attribute on real held-out tiles (R² ≥ 0.3), its control slope is ≥ 0.2 and it moves no other readable "
        "attribute by more than half as much; sweeps and searches of the other knobs are not about their attribute."
    )
    return write_section(
        run.path,
        Section(
            key="knobs",
            title="Attribute knobs: editor and control",
            text=text,
            figures=_figures(run, ("knob_control.png",)),
            tables=_tables(run, ("knob_control",)),
            metrics=metrics,
            order=ORDER["knobs"],
        ),
    )


def write_sweep_section(run: RunFolder) -> Path:
    """The sweep run's section: slope per knob with its interval over the lots, the lots' agreement."""
    sweeps = pd.read_csv(run.path / "tables" / "knob_sweeps.csv").groupby("attribute", sort=False).first()
    metrics: dict[str, float | str] = {"the regressor reads": VIEW_TEXT[sweeps["view"].iloc[0]]}
    for name, row in sweeps.iterrows():
        metrics[f"sweep slope {name} (per range, 95 % interval over lots)"] = (
            f"{row['slope']:+.3g} [{row['ci_low']:+.3g}, {row['ci_high']:+.3g}]"
        )
        metrics[f"lots sharing the sweep's sign {name}"] = round(float(row["lots_agreeing"]), 2)
    response = run.path / "tables" / "regressor_response.csv"
    if response.exists():
        for name, row in pd.read_csv(response).groupby("attribute", sort=False).first().iterrows():
            metrics[f"the regressor's real response to {name} (re-rendered tiles, per range)"] = (
                f"{row['slope']:+.3g} [{row['ci_low']:+.3g}, {row['ci_high']:+.3g}]"
            )
    metrics.update(_agreement_metrics(run))
    text = (
        "Sweeps show the regressor's prediction as one knob turns across the lots' range, the other attributes "
        "at each tile's own values (band: 10–90 % of held-out tiles). The slope is the change per full range; its "
        "interval and the fraction of lots whose own sweep has the mean's sign tell whether the lots agree or a few "
        "lots decide the mean (0.5: no agreement)."
    )
    if "passing knobs vs the lots' ground truth" in metrics:
        text += " " + AGREEMENT_TEXT
    return write_section(
        run.path,
        Section(
            key="knobs-sweep",
            title="Attribute knobs: sweeps",
            text=text,
            figures=_figures(run, ("knob_sweeps.png", "knob_pair.png")),
            tables=_tables(run, ("knob_agreement", "knob_sweeps", "regressor_response")),
            metrics=metrics,
            order=ORDER["knobs"] + 1,
        ),
    )


def write_inverse_section(run: RunFolder) -> Path:
    """The inverse search's section: knobs turned, how many tiles reached the goal, the ΔA table."""
    effects = pd.read_csv(run.path / "tables" / "inverse_effects.csv")
    summary = json.loads((run.path / "inverse_summary.json").read_text())
    metrics: dict[str, float | str] = {
        "the regressor reads": VIEW_TEXT[effects["view"].iloc[0]],
        "knobs turned by the inverse search": ", ".join(effects.loc[effects["free"], "attribute"].unique()),
    }
    for direction, s in summary.items():
        metrics[f"{direction}: reached the goal"] = f"{s['converged']:.0%} of {s['searched']} {s['per']}s"
    metrics.update(_agreement_metrics(run))
    text = (
        "The inverse table gives the mean attribute change (user units, 95 % interval) that the search (Liu, "
        "Kailkhura et al., Eq. 2) found to raise or lower the prediction of each tile (or each lot: --per lot), "
        "turning only the knobs listed below, over the tiles (or lots) whose search reached the goal."
    )
    if "passing knobs vs the lots' ground truth" in metrics:
        text += " " + AGREEMENT_TEXT
    return write_section(
        run.path,
        Section(
            key="knobs-inverse",
            title="Attribute knobs: inverse search",
            text=text,
            figures=_figures(run, ("inverse_tiles.png",)),
            tables=_tables(run, ("knob_agreement", "inverse_effects")),
            metrics=metrics,
            order=ORDER["knobs"] + 2,
        ),
    )
