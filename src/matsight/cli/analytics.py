"""``matsight synth xray``, ``matsight analytics``, and the app's command (``matsight.analytics.app_cli``)
when present."""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS, engine_from


def register(app: typer.Typer, synth: typer.Typer) -> None:
    @synth.command("xray")
    def synth_xray(
        out: Path = typer.Argument(..., help="Folder to write (layout 2: labels.csv + images/)."),
        n: int = typer.Option(2000, "--n", help="Number of images."),
        size: int = typer.Option(256, help="Image size in pixels (square)."),
        seed: int = typer.Option(0),
    ) -> None:
        """Synthetic x-ray scattering images with 17 tags that are correct by construction."""
        from matsight.errors import ConfigError
        from matsight.synth.xray import generate_xray

        if n < 1 or size < 16:
            raise ConfigError("--n must be at least 1 and --size at least 16")
        typer.echo(f"{n} images written to {generate_xray(out, n=n, size=size, seed=seed)}")

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
    ) -> None:
        """Embeddings (ACT/FEA/PRD), per-attribute metrics and errors for the visual-analytics app."""
        from matsight.analytics.compute import Analytics, AnalyticsConfig
        from matsight.analytics.compute import run as run_analytics
        from matsight.utils import resolve_device

        folder = run_analytics(
            AnalyticsConfig(
                out=out or run / "analytics",
                run=run,
                data=data,
                distance=distance,
                seed=seed,
                device=str(resolve_device(device)),
                engine=engine_from(engine, address, workers),
            )
        )
        summary = Analytics.read(folder.path).summary
        typer.echo(f"mAP {summary['map']:.3f} over {summary['n']} images; written to {folder.path}")

    try:
        hook = importlib.import_module("matsight.analytics.app_cli")
    except ModuleNotFoundError as exc:
        if exc.name != "matsight.analytics.app_cli":
            raise
    else:
        hook.register(app)
