"""Demo step: attribute knobs on the SEM regressor of the training step.

Trains the editor at the regressor's input size on random windows of the tiles
(:data:`DEMO_PRESETS`), measures control and cross-talk with an independent attribute measurer,
sweeps every knob next to the regressor's real response to each attribute (tiles re-rendered by the
generator, :mod:`matsight.knobs.response`), and runs the inverse search for ±10 % of the predicted
CPS over the trusted knobs — those that pass the control check and do not misread the regressor —
or over all knobs when none is trusted (the report says which). The regressor reads the edited
tiles themselves. Last, every passing knob's sweep and inverse answers are compared with the effects
planted in the lots' ``ground_truth.json`` (:mod:`matsight.knobs.agreement`); the console and the
report say where a knob misreads the regressor, where its answers agree or disagree with the planted
effect, or where that effect is too small for the regressor to resolve.
"""

from __future__ import annotations

import pandas as pd

from matsight.knobs.agreement import (
    AGREES,
    DISAGREES,
    MISREADS,
    NOT_RESOLVED,
    Truth,
    agreement_summary,
    knob_agreement,
    trusted_knobs,
)
from matsight.knobs.config import EditorConfig, InverseConfig, SweepConfig
from matsight.knobs.pipeline import read_control, run_inverse, run_sweep, run_train
from matsight.models import read_spec
from matsight.training.demo import TrainedRegressor

# Settings of the demo's knobs step. The editor works at the regressor's input size (filled in from its
# model spec) so the regressor reads the edited tiles themselves, and trains on random windows of them
# (``crop`` px) to stay within the 2-core budget; its attribute loss reads the edits with a frozen guide fitted on
# the real tiles first (``guide_epochs``) at AttGAN's weight ×5, which turns the critic-head editor's size knob
# (control 0.12, fails) into one that passes; the measurer reads tiles at ``measure_size`` px (64 px reads grain
# size with held-out R² 0.78, 32 px 0.59, at about the same cost); the regressor's real response re-renders one tile
# per lot (≈ 4 s per knob; the verdicts are those of two). Measured in docs/knobs.md ("what the demo's budget buys",
# "the facetness knob misreads the regressor").
DEMO_PRESETS = {
    "cpu": dict(
        editor=dict(
            crop=48,
            steps=1000,
            width=16,
            depth=3,
            guide_epochs=100,
            attribute_weight=50,
            quality_epochs=30,
            measure_size=64,
        ),
        sweep=dict(levels=7, tiles=32, response_tiles=1),
        inverse=dict(tiles=16, steps=60),
    ),
    "full": dict(
        editor=dict(crop=128, steps=20000, batch_size=64, width=32, depth=4, quality_epochs=60, measure_size=96),
        sweep=dict(levels=11, tiles=256),
        inverse=dict(tiles=256, steps=300),
    ),
}


def run_demo(ctx, sem: TrainedRegressor) -> pd.DataFrame:
    """Train, sweep and search; print one line per knob and the agreement with the lots' ground truth;
    return the agreement table (:func:`~matsight.knobs.agreement.knob_agreement`)."""
    preset = DEMO_PRESETS["full" if ctx.full else "cpu"]
    regressor, lots = sem.run, sem.lots
    common = dict(device=ctx.device)
    editor = run_train(
        EditorConfig(
            out=ctx.root / "sem-knobs",
            regressor=regressor,
            lots=lots,
            image_size=read_spec(regressor).image_size,
            seed=ctx.seed,
            **common,
            **preset["editor"],
        )
    )
    control = read_control(editor.path)
    sweep = run_sweep(SweepConfig(out=editor.path / "sweep", editor=editor.path, **common, **preset["sweep"]))
    sweeps, response = sweep.read_table("knob_sweeps"), sweep.read_table("regressor_response")
    truth = Truth.read(lots / "ground_truth.json", regressor)
    knobs = "trusted" if trusted_knobs(sweep.read_table("knob_agreement")) else "all"
    inverse = run_inverse(
        InverseConfig(
            out=editor.path / "inverse", editor=editor.path, goal="+10%", knobs=knobs, **common, **preset["inverse"]
        )
    )
    ctx.report_runs += [editor.path, sweep.path, inverse.path]
    effects = inverse.read_table("inverse_effects")
    agreement = knob_agreement(control, truth, sweeps, effects, response)
    _print(ctx, control, sweeps, effects, agreement)
    passing = agreement[agreement["passes"]]
    misread = passing.loc[passing["verdict"] == MISREADS, "knob"].tolist()
    counts = passing["verdict"].value_counts()
    ctx.headlines += [
        (
            "knobs passing the control check",
            f"{len(passing)}/{len(agreement)} ({', '.join(passing['knob']) or 'none'})",
        ),
        (
            "of them misreading the regressor (sweep against its real response)",
            f"{len(misread)} ({', '.join(misread) or 'none'})",
        ),
        (
            "the other passing knobs vs ground_truth.json",
            ", ".join(f"{int(counts.get(v, 0))} {v}" for v in (AGREES, DISAGREES, NOT_RESOLVED)),
        ),
    ]
    ctx.headlines.append(("editor held-out reconstruction L1", f"{control['reconstruction_l1']:.4f}"))
    return agreement


def _print(ctx, control: dict, sweeps: pd.DataFrame, effects: pd.DataFrame, agreement: pd.DataFrame) -> None:
    first = sweeps.groupby("attribute", sort=False).first()
    up = effects[effects["direction"] == "increase"].set_index("attribute")
    verdict = agreement.set_index("knob")
    for i, name in enumerate(control["names"]):
        passes = control["passes"][i]
        row = verdict.loc[name]
        real = (
            f"the regressor's real response {row['response_slope']:+.2f} [{row['response_low']:+.2f}, "
            f"{row['response_high']:+.2f}], "
            if pd.notna(row["response_slope"])
            else ""
        )
        turned = up.loc[name]
        inverse = (
            "not turned by the inverse search"
            if not turned["free"]
            else f"inverse search for +10 %: reached by no tile of {turned['n']}"
            if turned["reached"] == 0
            else f"inverse ΔA for +10 %: {turned['mean_delta']:+.3f} [{turned['ci_low']:+.3f}, "
            f"{turned['ci_high']:+.3f}] ({turned['reached']} of {turned['n']} tiles reached it)"
        )
        truth = f"; {_verdict_text(row)}" if passes else ""
        ctx.console.print(
            f"knob {name}: control slope {control['slopes'][i][i]:+.2f} ({'passes' if passes else 'fails'}), "
            f"sweep slope {first.loc[name, 'slope']:+.2f} [{first.loc[name, 'ci_low']:+.2f}, "
            f"{first.loc[name, 'ci_high']:+.2f}] MPa/range (sign shared by {first.loc[name, 'lots_agreeing']:.0%} "
            f"of lots), " + real + inverse + truth
        )
    ctx.console.print("passing knobs vs the lots' ground_truth.json: " + agreement_summary(agreement))


def _verdict_text(row: pd.Series) -> str:
    if row["verdict"] == DISAGREES:
        return "DISAGREES with ground_truth.json: not a finding"
    if row["verdict"] == MISREADS:
        return f"MISREADS THE REGRESSOR, its answers are not findings ({row['reason']})"
    if row["verdict"] == AGREES:
        return "agrees with ground_truth.json"
    return f"{row['verdict']} against ground_truth.json ({row['reason']})"
