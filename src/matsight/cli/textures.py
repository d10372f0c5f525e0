"""``matsight textures`` and ``matsight synth textures``."""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS, engine_from
from matsight.cli.outputs import OVERWRITE, claim_dataset, claim_run, record_output


def _help() -> str:
    from matsight.textures.pretraining import RECIPE

    return "\n\n".join(
        [
            "Rank describable textures by how well lots' resemblance to them tracks the property.",
            "Scores compare textures within each lot (the lot's mean distance over textures is removed); "
            "p-values permute the property across lots; q-values are Benjamini-Hochberg over the textures.",
            "The model must know textures: the scores of a regressor trained from scratch follow the lots, "
            "not textures, and this command warns. Pretrain on a texture bank first (docs/textures.md):",
            *RECIPE.splitlines(),
        ]
    )


def register(app: typer.Typer, synth: typer.Typer) -> None:
    @app.command(help=_help())
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
        from matsight.textures import SIGN_CONVENTION, TexturesConfig
        from matsight.textures import run as run_textures
        from matsight.textures.pretraining import pretraining_of
        from matsight.utils import resolve_device

        config = TexturesConfig(
            out=out,
            run=run,
            lots=lots,
            bank=bank,
            stage=stage,
            k=k,
            target=target,
            n_boot=n_boot,
            n_perm=n_perm,
            seed=seed,
            device=str(resolve_device(device)),
            engine=engine_from(engine, address, workers),
            overwrite=overwrite,
        )
        claim_run(out, "textures", [run, lots, bank], overwrite)
        folder = run_textures(config)
        warning = pretraining_of(run).warning()
        if warning:
            typer.echo(f"WARNING: {warning}", err=True)
        typer.echo(SIGN_CONVENTION)
        table = folder.read_table("texture_scores")
        typer.echo(table.head(10).drop(columns="model_pretrained").to_string(index=False, float_format="%.3f"))
        typer.echo(f"{int((table.q_value <= 0.05).sum())} of {len(table)} textures with q <= 0.05 (Benjamini-Hochberg)")
        typer.echo(f"table: {folder.path / 'tables' / 'texture_scores.csv'}")

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
        from matsight.synth.textures import CLASSES, generate_bank
        from matsight.textures.figures import bank_contact_sheet

        options.at_least("--per-class", per_class, 1)
        options.image_side("--size", size, 16, " pixels")
        claim_dataset(out, "synth textures", [], overwrite)
        try:
            generate_bank(out, per_class=per_class, size=size, seed=seed)
            bank_contact_sheet(out, Path(out) / "contact_sheet.png")
        finally:
            record_output(out)
        typer.echo(f"{len(CLASSES)} classes x {per_class} images of {size} px in {out}")
