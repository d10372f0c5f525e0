"""``matsight synth xray``, ``matsight analytics``, and the app's command (``matsight.analytics.app_cli``)
when present."""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS, engine_from
from matsight.cli.outputs import OVERWRITE, claim_dataset, claim_run, record_output


def register(app: typer.Typer, synth: typer.Typer) -> None:
    @synth.command("xray")
    def synth_xray(
        out: Path = typer.Argument(..., help="Folder to write (layout 2: labels.csv + images/)."),
        n: int = typer.Option(2000, "--n", help="Number of images."),
        size: int = typer.Option(256, help="Image size in pixels (square)."),
        seed: int = typer.Option(0),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Synthetic x-ray scattering images with 17 tags that are correct by construction."""
        from matsight import options
        from matsight.synth.xray import generate_xray

        options.at_least("--n", n, 1)
        options.image_side("--size", size, 16, " pixels")
        claim_dataset(out, "synth xray", [], overwrite)
        try:
            typer.echo(f"{n} images written to {generate_xray(out, n=n, size=size, seed=seed)}")
        finally:
            record_output(out)

    @app.command()
    def analytics(
        run: Path = typer.Argument(..., help="Run folder of a multilabel matsight train."),
        data: Path = typer.Argument(None, help="Layout-2 folder to analyse (default: the run's training data)."),
        out: Path = typer.Option(None, help="Output folder (default RUN/analytics)."),
        distance: str = typer.Option("cosine", help="ACT–PRD error distance: cosine or euclidean."),
        seed: int = typer.Option(0),
        device: str = typer.Option("auto"),
        engine: str = ENGINE,
        address: str = ADDRESS,
        workers: int = WORKERS,
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Embeddings (ACT/FEA/PRD), per-attribute metrics and errors for the visual-analytics app."""
        from matsight.analytics.compute import Analytics, AnalyticsConfig, analysed_data
        from matsight.analytics.compute import run as run_analytics
        from matsight.store import RunFolder
        from matsight.utils import resolve_device

        device, chosen = str(resolve_device(device)), engine_from(engine, address, workers)
        folder = out if out is not None else RunFolder(run, create=False).path / "analytics"
        data = analysed_data(run, data)  # the run's training data, when not given, is an input all the same
        claim_run(folder, "analytics", [run, data], overwrite)
        done = run_analytics(
            AnalyticsConfig(out=folder, run=run, data=data, distance=distance, seed=seed, device=device, engine=chosen)
        )
        summary = Analytics.read(done.path).summary
        typer.echo(f"mAP {summary['map']:.3f} over {summary['n']} images; written to {done.path}")

    try:
        hook = importlib.import_module("matsight.analytics.app_cli")
    except ModuleNotFoundError as exc:
        if exc.name != "matsight.analytics.app_cli":
            raise
    else:
        hook.register(app)
