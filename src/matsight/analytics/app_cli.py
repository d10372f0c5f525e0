"""``matsight app RUN``: serve the visual-analytics app for a run's analytics folder."""

from __future__ import annotations

from pathlib import Path

import typer


def analytics_folder(run: Path) -> Path:
    """``RUN/analytics`` (or RUN itself when it is an analytics folder)."""
    return run if (run / "points.parquet").is_file() else run / "analytics"


def register(app: typer.Typer) -> None:
    """Adds the ``app`` command to the ``matsight`` command."""

    @app.command("app")
    def serve(
        run: Path = typer.Argument(..., help="Multi-label run folder (or its analytics/ folder)."),
        port: int = typer.Option(8050, help="Port to listen on."),
        host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
        device: str = typer.Option("cpu", help="Device for the detail view's saliency maps (cpu, cuda, cuda:1)."),
    ) -> None:
        """Open the linked-embeddings app for RUN's analytics (computed by `matsight analytics RUN`)."""
        import uvicorn

        from matsight.analytics.server import create_app

        server_app = create_app(analytics_folder(run), device=device)
        typer.echo(f"matsight app: http://{host}:{port}/  ({server_app.state.data.n} images)")
        uvicorn.run(server_app, host=host, port=port, log_level="warning")
