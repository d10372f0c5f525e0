"""``matsight crystals build|train|robustness|explain``: the crystal-structure study."""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS, engine_from
from matsight.cli.outputs import OVERWRITE, claim_dataset, claim_run, record_output

CRYSTAL_RUN = ("crystal_convnet",)


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
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Write pristine prototype structures and their fingerprints (resumable chunks)."""
        from matsight import options
        from matsight.crystals.train import build as build_set
        from matsight.utils import resolve_device

        options.at_least("--n", n, 1, " structure")
        options.non_negative("--max-rotation", max_rotation)
        device, chosen = str(resolve_device(device)), engine_from(engine, address, workers)
        claim_dataset(out, "crystals build", [], overwrite, resume=True)
        try:
            folder = build_set(out, n=n, seed=seed, max_rotation=max_rotation, device=device, engine=chosen)
        finally:
            record_output(out)
        typer.echo(folder)

    @crystals.command()
    def train(
        data: Path = typer.Argument(..., help="Layout-5 folder (matsight crystals build, or your own)."),
        out: Path = typer.Option(..., "--out", help="Run folder to write."),
        epochs: int = typer.Option(5),
        batch_size: int = typer.Option(32),
        lr: float = typer.Option(1e-3),
        seed: int = typer.Option(0),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Train the crystal ConvNet (Adam, 90/10 split) on fingerprints of DATA."""
        from matsight import options
        from matsight.crystals.train import train_classifier
        from matsight.utils import resolve_device

        options.at_least("--epochs", epochs, 1)
        options.at_least("--batch-size", batch_size, 1)
        options.positive("--lr", lr)
        device = str(resolve_device(device))
        claim_run(out, "crystals train", [data], overwrite)
        metrics = train_classifier(data, out, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
        typer.echo(f"pristine held-out accuracy: {100 * metrics['val_accuracy']:.1f} % (n={metrics['n_val']})")

    @crystals.command()
    def robustness(
        run: Path = typer.Argument(..., help="Run folder of matsight crystals train."),
        out: Path = typer.Option(..., "--out", help="Folder for tables/robustness.csv and the plot."),
        n_per_level: int = typer.Option(14, help="Structures per defect level."),
        seed: int = typer.Option(1000),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """ConvNet vs spglib (three tolerances) on displaced and vacancy-ridden structures."""
        from matsight import options
        from matsight.crystals.robustness import run_robustness
        from matsight.utils import resolve_device

        options.at_least("--n-per-level", n_per_level, 1)
        device = str(resolve_device(device))
        options.require_model(run, "crystals robustness", archs=CRYSTAL_RUN)
        claim_run(out, "crystals robustness", [run], overwrite)
        table = run_robustness(run, out, n_per_level=n_per_level, seed=seed, device=device)
        typer.echo(table.to_string(index=False))

    @crystals.command()
    def explain(
        run: Path = typer.Argument(..., help="Run folder of matsight crystals train."),
        out: Path = typer.Option(..., "--out", help="Folder for the per-class figures."),
        seed: int = typer.Option(0),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Attentive response maps and CLEAR maps per class, pristine and defective example."""
        from matsight import options
        from matsight.crystals.explain import run_explain
        from matsight.utils import resolve_device

        device = str(resolve_device(device))
        options.require_model(run, "crystals explain", archs=CRYSTAL_RUN)
        claim_run(out, "crystals explain", [run], overwrite)
        for path in run_explain(run, out, seed=seed, device=device):
            typer.echo(path)
