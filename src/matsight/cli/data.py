"""CLI: ``matsight validate DIR`` and ``matsight synth sem-lots OUT`` (thin shells over the library)."""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.outputs import OVERWRITE, claim_dataset, record_output


def register(app: typer.Typer, synth: typer.Typer) -> None:
    @app.command()
    def validate(
        root: Path = typer.Argument(..., help="Dataset folder (docs/data-layouts.md: layout 1, 2 or 3)."),
        layout: str = typer.Option(None, help="lots, multilabel or classes (default: detected from the files)."),
    ) -> None:
        """Check a dataset folder (every CSV row and numeric column, every image and its value range)
        without running anything."""
        from matsight.data.validate import validate as check

        for line in check(root, layout=layout).lines():
            typer.echo(line)

    @synth.command("sem-lots")
    def sem_lots(
        out: Path = typer.Argument(..., help="Output folder (lots.csv, images/<lot>/, ground_truth.json)."),
        lots: int = typer.Option(30, help="Number of lots (named A..Z, AA, ...)."),
        tiles_per_lot: int = typer.Option(40, help="Tiles per lot."),
        size: int = typer.Option(128, help="Tile side in pixels."),
        seed: int = typer.Option(0, help="Random seed (same seed, same bytes)."),
        coefficients: Path = typer.Option(
            None, help="JSON {attribute: coefficient} for the CPS formula; missing keys keep their defaults."
        ),
        design: str = typer.Option(
            "random",
            help="How lot attributes are drawn: random (uniform) or lhs (Latin "
            "hypercube, nearly uncorrelated attributes).",
        ),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Write synthetic SEM lots of packed crystals with a known CPS formula."""
        from matsight import options
        from matsight.synth.sem import DESIGNS, generate_lots, read_coefficients

        options.at_least("--lots", lots, 2)
        options.at_least("--tiles-per-lot", tiles_per_lot, 1)
        options.image_side("--size", size, 16, " pixels")
        options.one_of("--design", design, DESIGNS)
        given = read_coefficients(coefficients) if coefficients is not None else None
        claim_dataset(out, "synth sem-lots", [coefficients], overwrite)
        try:
            folder = generate_lots(
                out, lots=lots, tiles_per_lot=tiles_per_lot, size=size, seed=seed, coefficients=given, design=design
            )
        finally:
            record_output(out)
        typer.echo(folder)
