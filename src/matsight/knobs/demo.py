"""Demo step: attribute knobs on the SEM regressor of the training step.

Trains the editor on ``ctx.shared["sem_lots"]`` (32 px, 2000 steps on CPU; GPU settings with
``ctx.full``), measures control/cross-talk with an independent attribute measurer, sweeps every
knob and runs the inverse search for ±10 % of the predicted CPS — over the knobs that pass the
control check when any does, else over all knobs (the report says which). The regressor judges the
real held-out tiles plus each edit at its own input size. Last, every passing knob's sweep and inverse
signs are compared with the signs planted in the lots' ``ground_truth.json``
(:func:`~matsight.knobs.pipeline.check_agreement`); the console and the report say where they disagree.
"""

from __future__ import annotations

from matsight.knobs.agreement import AGREES, agreement_summary
from matsight.knobs.pipeline import check_agreement, check_quality, run_inverse, run_sweeps, write_knobs_section
from matsight.knobs.train_editor import EditorConfig, train_editor

CPU = dict(
    editor=dict(image_size=32, steps=2000, width=16, depth=3),
    quality_epochs=60,
    sweep_tiles=32,
    levels=7,
    inverse_tiles=16,
    inverse_steps=60,
)
FULL = dict(editor=dict(), quality_epochs=60, sweep_tiles=256, levels=11, inverse_tiles=256, inverse_steps=300)


def run_demo(ctx) -> None:
    settings = FULL if ctx.full else CPU
    out = ctx.root / "sem-knobs"
    kw = dict(regressor=ctx.shared["sem_run"], lots=ctx.shared["sem_lots"], out=out, seed=ctx.seed, device=ctx.device)
    config = EditorConfig.gpu(**kw) if ctx.full else EditorConfig(**kw, **settings["editor"])
    train_editor(config)
    control = check_quality(out, epochs=settings["quality_epochs"], device=ctx.device)
    sweeps = run_sweeps(out, levels=settings["levels"], max_tiles=settings["sweep_tiles"], device=ctx.device)
    knobs = "passing" if control.passes.any() else "all"
    effects = run_inverse(
        out,
        "+10%",
        max_tiles=settings["inverse_tiles"],
        steps=settings["inverse_steps"],
        knobs=knobs,
        device=ctx.device,
    )
    agreement = check_agreement(out, ctx.shared["sem_lots"] / "ground_truth.json")
    write_knobs_section(out)
    ctx.report_runs.append(out)
    first = sweeps.groupby("attribute", sort=False).first()
    up = effects[effects["direction"] == "increase"].set_index("attribute")["mean_delta"]
    free = effects[effects["direction"] == "increase"].set_index("attribute")["free"]
    verdict = agreement.set_index("knob")["verdict"]
    for i, name in enumerate(control.names):
        inverse = f"inverse ΔA for +10 %: {up[name]:+.3f}" if free[name] else "not turned by the inverse search"
        truth = f"; {verdict[name].upper()} with ground_truth.json" if control.passes[i] else ""
        ctx.console.print(
            f"knob {name}: control slope {control.slopes[i, i]:+.2f} "
            f"({'passes' if control.passes[i] else 'fails'}), "
            f"sweep slope {first.loc[name, 'slope']:+.2f} MPa/range "
            f"(sign shared by {first.loc[name, 'lots_agreeing']:.0%} of lots), " + inverse + truth
        )
    ctx.console.print("passing knobs vs the lots' ground_truth.json: " + agreement_summary(agreement))
    passing = agreement[agreement["passes"]]
    ctx.headlines.append(("knobs passing the control check", f"{len(passing)}/{len(agreement)}"))
    ctx.headlines.append(
        ("passing knobs agreeing with ground_truth.json", f"{int((passing['verdict'] == AGREES).sum())}/{len(passing)}")
    )
    ctx.headlines.append(("editor held-out reconstruction L1", f"{control.reconstruction_l1:.4f}"))
