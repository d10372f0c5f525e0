"""``matsight knobs train|sweep|inverse``: attribute knobs on an SEM regressor (thin shell over matsight.knobs).

Each command builds its config (:mod:`matsight.knobs.config`), claims its output folder and calls the
workflow (:mod:`matsight.knobs.pipeline`); what it prints is read back from the run folder.
"""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.outputs import OVERWRITE, claim_run

REGRESSOR_HELP = "Judge the edits with this regressor run instead of the one the editor was trained for."
VIEW_HELP = (
    "What the regressor reads: edit (the edited tile, as in the paper), transfer (the real tile plus the "
    "edit, for editors smaller than the regressor's input) or auto (edit when the sizes allow)."
)


def _check_regressor(regressor: Path | None) -> None:
    """A ``--regressor`` run must hold a regression model (a tagger's outputs are not a property)."""
    from matsight import options

    if regressor is not None:
        options.require_model(regressor, "--regressor", tasks=("regression",))


def _out_help(name: str) -> str:
    return f"Run folder to write (default DIR/{name}; rerun to redo)."


def _verdicts(folder: Path) -> None:
    """Echo the ground-truth comparison of a sweep or inverse run, when it made one."""
    from matsight.knobs.agreement import agreement_summary

    path = folder / "tables" / "knob_agreement.csv"
    if path.exists():
        import pandas as pd

        typer.echo("passing knobs vs the lots' ground_truth.json: " + agreement_summary(pd.read_csv(path)))


def register(app: typer.Typer, synth: typer.Typer) -> None:
    knobs = typer.Typer(
        help="Attribute knobs: an attribute editor, forward sweeps and the inverse search.", no_args_is_help=True
    )
    app.add_typer(knobs, name="knobs")

    @knobs.command("train")
    def train(
        run: Path = typer.Argument(..., help="Run folder of the regressor to explain (matsight train)."),
        lots: Path = typer.Argument(..., help="Lots folder (layout 1) with the attribute columns."),
        out: Path = typer.Option(..., "--out", help="Editor run folder (rerun to resume)."),
        attributes: str = typer.Option(
            "size,porosity,polydispersity,facetness", help="Comma-separated lots.csv columns."
        ),
        image_size: int = typer.Option(64, help="Editor tile size (px, divisible by 2**depth)."),
        crop: int = typer.Option(
            None, help="Train on random windows of this many px of the tiles (default: whole tiles)."
        ),
        steps: int = typer.Option(300, help="Editor updates (300 ≈ 1 min on 2 CPU cores at 64 px)."),
        width: int = typer.Option(16),
        depth: int = typer.Option(3),
        adversarial: str = typer.Option("wgan-gp", help="wgan-gp or hinge."),
        attribute_weight: float = typer.Option(10.0, help="Weight of the attribute loss on edited tiles."),
        guide_epochs: int = typer.Option(
            0,
            help="Read the edits with a frozen attribute regressor trained this many epochs on the real "
            "tiles first (0: with the critic's own attribute head, as AttGAN).",
        ),
        gpu_settings: bool = typer.Option(False, "--gpu-settings", help="128 px, 20k steps, wider nets."),
        quality_epochs: int = typer.Option(60, help="Epochs of the independent attribute measurer."),
        measure_size: int = typer.Option(
            None, help="The measurer reads tiles at this size (px; default the editor's)."
        ),
        seed: int = typer.Option(0),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Train the editor on LOTS and measure its quality (reconstruction, control slope, cross-talk)."""
        from matsight import options
        from matsight.knobs.config import EditorConfig
        from matsight.knobs.pipeline import read_control, run_train
        from matsight.utils import resolve_device

        kw = dict(
            out=out,
            regressor=run,
            lots=lots,
            attributes=tuple(a.strip() for a in attributes.split(",") if a.strip()),
            crop=crop,
            adversarial=adversarial,
            attribute_weight=attribute_weight,
            guide_epochs=guide_epochs,
            quality_epochs=quality_epochs,
            measure_size=measure_size,
            seed=seed,
            device=str(resolve_device(device)),
        )
        config = (
            EditorConfig.gpu(**kw)
            if gpu_settings
            else EditorConfig(**kw, image_size=image_size, steps=steps, width=width, depth=depth)
        )
        # a clear error before training when RUN is not a trained regressor
        options.require_model(run, "knobs train", tasks=("regression",))
        claim_run(out, config.command, [run, lots], overwrite)
        done = run_train(config)
        control = read_control(done.path)
        for i, name in enumerate(control["names"]):
            typer.echo(
                f"{name}: control slope {control['slopes'][i][i]:+.2f}, measurer R² {control['measurer_r2'][i]:.2f}, "
                f"{'passes' if control['passes'][i] else 'FAILS'} the control check"
            )
        typer.echo(f"held-out reconstruction L1 {control['reconstruction_l1']:.4f}; editor run: {done.path}")

    @knobs.command("sweep")
    def sweep(
        editor_run: Path = typer.Argument(..., metavar="DIR", help="Editor run folder (knobs train --out)."),
        levels: int = typer.Option(9),
        tiles: int = typer.Option(48, help="Held-out tiles to average over."),
        regressor: Path = typer.Option(None, help=REGRESSOR_HELP),
        out: Path = typer.Option(None, help=_out_help("sweep")),
        view: str = typer.Option("auto", help=VIEW_HELP),
        response_tiles: int = typer.Option(
            2,
            help="On lots made by `matsight synth sem`: tiles per lot re-rendered with one attribute changed, "
            "for the regressor's real response that every knob's sweep is checked against (0: skip).",
        ),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Forward sensitivity of every knob: tables/knob_sweeps.csv, knob_sweep_lots.csv and figures in OUT
        (on generator lots also regressor_response.csv)."""
        from matsight.knobs.config import SweepConfig
        from matsight.knobs.pipeline import editor_inputs, run_sweep
        from matsight.utils import resolve_device

        config = SweepConfig(
            out=out or editor_run / "sweep",
            editor=editor_run,
            levels=levels,
            tiles=tiles,
            regressor=regressor,
            view=view,
            response_tiles=response_tiles,
            device=str(resolve_device(device)),
        )
        _check_regressor(regressor)
        claim_run(config.out, config.command, [editor_run, *editor_inputs(editor_run, regressor).values()], overwrite)
        done = run_sweep(config)
        table = done.read_table("knob_sweeps").groupby("attribute", sort=False).first()
        for name, row in table.iterrows():
            typer.echo(
                f"{name}: slope {row['slope']:+.3f} per full range [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
            )
        _verdicts(done.path)
        typer.echo(f"sweeps written to {done.path}")

    @knobs.command("inverse")
    def inverse(
        editor_run: Path = typer.Argument(..., metavar="DIR", help="Editor run folder (knobs train --out)."),
        goal: str = typer.Option(
            "+10%",
            help="What to reach: a relative change (+10%, -10%: both directions) or a value in the property's units.",
        ),
        tiles: int = typer.Option(32),
        steps: int = typer.Option(150),
        lam: float = typer.Option(10.0),
        knobs_: str = typer.Option(
            "all",
            "--knobs",
            help="Knobs the search may turn: all, passing (those that passed the control check), trusted "
            "(passing and not misreading the regressor, by the sweep's knob_agreement.csv; generator lots only) "
            "or names, e.g. size,porosity.",
        ),
        sweep: Path = typer.Option(None, help="The knobs sweep run that --knobs trusted reads (default: DIR/sweep)."),
        per: str = typer.Option(
            "tile",
            help="tile: search each tile alone (the paper's Eq. 2); lot: one "
            "answer per lot, for the mean prediction of its tiles.",
        ),
        regressor: Path = typer.Option(None, help=REGRESSOR_HELP),
        out: Path = typer.Option(None, help=_out_help("inverse")),
        view: str = typer.Option("auto", help=VIEW_HELP),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Inverse search (paper Eq. 2): tables/inverse_effects.csv, inverse_answers.csv (each tile's or lot's ΔA)
        and the ΔA figure in OUT."""
        from matsight.knobs.config import KNOB_CHOICES, InverseConfig
        from matsight.knobs.pipeline import editor_inputs, run_inverse
        from matsight.utils import resolve_device

        chosen = knobs_ if knobs_ in KNOB_CHOICES else tuple(k.strip() for k in knobs_.split(",") if k.strip())
        config = InverseConfig(
            out=out or editor_run / "inverse",
            editor=editor_run,
            goal=goal,
            tiles=tiles,
            steps=steps,
            lam=lam,
            knobs=chosen,
            sweep=sweep,
            per=per,
            regressor=regressor,
            view=view,
            device=str(resolve_device(device)),
        )
        _check_regressor(regressor)
        claim_run(config.out, config.command, [editor_run, *editor_inputs(editor_run, regressor).values()], overwrite)
        done = run_inverse(config)
        table = done.read_table("inverse_effects")
        for row in table[table["free"]].itertuples():
            answer = (
                f"{row.mean_delta:+.4f} [{row.ci_low:+.4f}, {row.ci_high:+.4f}] ({row.reached} of {row.n} reached)"
                if row.reached
                else f"no search of {row.n} reached the goal"
            )
            typer.echo(f"{row.direction:8s} {row.attribute:15s} {answer}")
        _verdicts(done.path)
        typer.echo(f"inverse search written to {done.path}")
