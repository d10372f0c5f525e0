"""``matsight textures`` and ``matsight synth textures``."""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS, engine_from
from matsight.cli.outputs import OVERWRITE, claim_dataset, claim_run, record_output


def register(app: typer.Typer, synth: typer.Typer) -> None:
    @app.command()
    def textures(
        run: Path = typer.Argument(..., help="Trained run folder (checkpoint.pt) whose features are probed."),
        lots: Path = typer.Argument(..., help="Lots folder (docs/data-layouts.md layout 1: lots.csv + images/<lot>/)."),
        bank: Path = typer.Argument(..., help="Texture bank in the DTD layout (images/<class>/...)."),
        out: Path = typer.Option(..., "--out", help="Output run folder (rerun to resume feature extraction)."),
        stage: str = typer.Option("Z5", help="Stage whose salient-location features are compared (Z1..Z5)."),
        k: int = typer.Option(9, help="Nearest bank images shown per tile / lot."),
        target: str = typer.Option(
            None, help="Column of lots.csv to correlate with (default: the property the run was trained on)."
        ),
        n_boot: int = typer.Option(200, help="Bootstrap draws (tiles resampled within lots)."),
        n_perm: int = typer.Option(999, help="Permutations of the property across lots."),
        device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
        seed: int = typer.Option(0),
        engine: str = ENGINE,
        address: str = ADDRESS,
        workers: int = WORKERS,
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Rank describable textures by how well lots' resemblance to them tracks the property."""
        from matsight.concepts.analysis import analyse
        from matsight.utils import resolve_device

        device = str(resolve_device(device))
        chosen = engine_from(engine, address, workers)
        claim_run(out, "textures", [run, lots, bank], overwrite)
        result = analyse(
            run,
            lots,
            bank,
            out,
            stage=stage,
            k=k,
            target=target,
            n_boot=n_boot,
            n_perm=n_perm,
            device=device,
            seed=seed,
            engine=chosen,
        )
        typer.echo(result.sign_convention)
        typer.echo(result.table().head(10).to_string(index=False, float_format="%.3f"))
        typer.echo(f"table: {Path(out) / 'tables' / 'texture_scores.csv'}")

    @synth.command("textures")
    def synth_textures(
        out: Path = typer.Argument(..., help="Folder to write (DTD layout: images/<class>/<class>_NNNN.png)."),
        per_class: int = typer.Option(40, help="Images per class."),
        size: int = typer.Option(128, help="Image size in pixels (square)."),
        seed: int = typer.Option(0),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Write a procedural describable-texture bank (28 DTD class names) and OUT/contact_sheet.png."""
        from matsight import options
        from matsight.concepts.figures import bank_contact_sheet
        from matsight.synth.textures import CLASSES, generate_bank

        options.at_least("--per-class", per_class, 1)
        options.at_least("--size", size, 16, " pixels")
        claim_dataset(out, "synth textures", [], overwrite)
        try:
            generate_bank(out, per_class=per_class, size=size, seed=seed)
            bank_contact_sheet(out, Path(out) / "contact_sheet.png")
        finally:
            record_output(out)
        typer.echo(f"{len(CLASSES)} classes x {per_class} images of {size} px in {out}")
