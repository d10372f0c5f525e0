"""``matsight crystals build|train|robustness|explain``: the crystal-structure study."""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS, engine_from


def register(app: typer.Typer, synth: typer.Typer) -> None:
    crystals = typer.Typer(
        help="Crystal structures: diffraction fingerprints, ConvNet vs spglib, defects.", no_args_is_help=True
    )
    app.add_typer(crystals, name="crystals")

    @crystals.command()
    def build(
        out: Path = typer.Argument(..., help="Folder to write (layout 5: structures/ + labels.csv)."),
        n: int = typer.Option(700, help="Number of pristine structures (classes balanced)."),
        seed: int = typer.Option(0),
        max_rotation: float = typer.Option(0.0, help="Random rotation up to this many degrees."),
        device: str = typer.Option("auto"),
        engine: str = ENGINE,
        address: str = ADDRESS,
        workers: int = WORKERS,
    ) -> None:
        """Write pristine prototype structures and their fingerprints (resumable chunks)."""
        from matsight.crystals.train import build as build_set
        from matsight.utils import resolve_device

        typer.echo(
            build_set(
                out,
                n=n,
                seed=seed,
                max_rotation=max_rotation,
                device=str(resolve_device(device)),
                engine=engine_from(engine, address, workers),
            )
        )

    @crystals.command()
    def train(
        data: Path = typer.Argument(..., help="Layout-5 folder (matsight crystals build, or your own)."),
        out: Path = typer.Option(..., "--out", help="Run folder to write."),
        epochs: int = typer.Option(5),
        batch_size: int = typer.Option(32),
        lr: float = typer.Option(1e-3),
        seed: int = typer.Option(0),
        device: str = typer.Option("auto"),
    ) -> None:
        """Train the crystal ConvNet (Adam, 90/10 split) on fingerprints of DATA."""
        from matsight.crystals.train import train_classifier
        from matsight.utils import resolve_device

        metrics = train_classifier(
            data, out, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=str(resolve_device(device))
        )
        typer.echo(f"pristine held-out accuracy: {100 * metrics['val_accuracy']:.1f} % (n={metrics['n_val']})")

    @crystals.command()
    def robustness(
        run: Path = typer.Argument(..., help="Run folder of matsight crystals train."),
        out: Path = typer.Option(..., "--out", help="Folder for tables/robustness.csv and the plot."),
        n_per_level: int = typer.Option(14, help="Structures per defect level."),
        seed: int = typer.Option(1000),
        device: str = typer.Option("auto"),
    ) -> None:
        """ConvNet vs spglib (three tolerances) on displaced and vacancy-ridden structures."""
        from matsight.crystals.robustness import run_robustness
        from matsight.utils import resolve_device

        table = run_robustness(run, out, n_per_level=n_per_level, seed=seed, device=str(resolve_device(device)))
        typer.echo(table.to_string(index=False))

    @crystals.command()
    def explain(
        run: Path = typer.Argument(..., help="Run folder of matsight crystals train."),
        out: Path = typer.Option(..., "--out", help="Folder for the per-class figures."),
        seed: int = typer.Option(0),
        device: str = typer.Option("auto"),
    ) -> None:
        """Attentive response maps and CLEAR maps per class, pristine and defective example."""
        from matsight.crystals.explain import run_explain
        from matsight.utils import resolve_device

        for path in run_explain(run, out, seed=seed, device=str(resolve_device(device))):
            typer.echo(path)
