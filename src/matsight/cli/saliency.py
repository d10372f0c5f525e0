"""``matsight saliency RUN DATA --method ... --out DIR``."""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS
from matsight.cli.outputs import OVERWRITE, claim_run
from matsight.saliency.registry import METHODS


def register(app: typer.Typer, synth: typer.Typer) -> None:
    @app.command()
    def saliency(
        run: Path = typer.Argument(..., help="Trained run folder (or checkpoint file)."),
        data: Path = typer.Argument(..., help="Dataset folder (layout 1 lots, 2 multi-label or 3 classes)."),
        out: Path = typer.Option(..., "--out", help="Run folder to write (rerun the same command to resume)."),
        method: str = typer.Option("fastcam", help=f"One of {', '.join(METHODS)}."),
        target: int = typer.Option(None, help="Class or attribute index (omit for a regressor)."),
        sign: int = typer.Option(1, help="+1: what pushes the output up; -1: down."),
        batch_size: int = typer.Option(16),
        max_images: int = typer.Option(None, help="Explain only the first N images."),
        device: str = typer.Option("cpu", help="cpu or cuda."),
        engine: str = ENGINE,
        address: str = ADDRESS,
        workers: int = WORKERS,
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Write saliency maps (chunked, resumable), a table and overlay figures into OUT."""
        from matsight.saliency.runner import explain_dataset
        from matsight.utils import resolve_device

        device = str(resolve_device(device))
        claim_run(out, "saliency", [run, data], overwrite)
        folder = explain_dataset(
            run,
            data,
            out,
            method=method,
            target=target,
            sign=sign,
            batch_size=batch_size,
            max_images=max_images,
            device=device,
            engine=engine,
            address=address,
            workers=workers,
        )
        typer.echo(f"run folder: {folder.path}")
