"""The ``matsight`` command: a thin typer shell over the library.

Each workflow registers its commands from its own module (``register(app, synth)``). User
mistakes (:class:`matsight.errors.UserError`) are printed as one clear line with exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from matsight import __version__
from matsight.errors import UserError

app = typer.Typer(
    help="Explain what CNNs of scientific images have learned.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
synth = typer.Typer(help="Write synthetic datasets with known ground truth.", no_args_is_help=True)
app.add_typer(synth, name="synth")
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"matsight {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """matsight: saliency, texture concepts, attribute knobs and visual analytics for scientific CNNs."""


@app.command()
def report(
    run: Path = typer.Argument(..., help="Run folder."),
    out: Path = typer.Option(None, help="Where to write the HTML (default RUN/report.html)."),
) -> None:
    """Write RUN/report.html: one self-contained page with every section of the run."""
    from matsight.report import build_report
    from matsight.store import RunFolder

    RunFolder(run, create=False).read_manifest()
    typer.echo(build_report(run, out=out))


@app.command()
def demo(
    part: str = typer.Argument("all", help="all, sem, xray or crystals."),
    out: Path = typer.Option(Path("demo-runs"), help="Folder for the demo's data, runs and report."),
    full: bool = typer.Option(False, help="GPU-sized settings instead of the 2-core CPU defaults."),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Run every workflow end to end on synthetic data and write one HTML report."""
    from matsight.demo import run_demo
    from matsight.utils import resolve_device

    run_demo(part, out, full=full, seed=seed, device=str(resolve_device(device)))


def _register_workflows() -> None:
    import importlib

    for name in ("data", "training", "saliency", "textures", "knobs", "analytics", "crystals", "benchmark"):
        importlib.import_module(f"matsight.cli.{name}").register(app, synth)


_register_workflows()


def main() -> None:
    """Console entry point."""
    try:
        app()
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
