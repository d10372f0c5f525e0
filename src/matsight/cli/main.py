"""The ``matsight`` command: a thin typer shell over the library.

Each workflow registers its commands from its own module (``register(app, synth)``). User
mistakes (:class:`matsight.errors.UserError`) and failed reads or writes of the user's files
(:class:`OSError` naming a file: a read-only disk, ``--out`` under a regular file, no space left)
are printed as one clear line with exit status 2, never a traceback. :func:`run` does this for a
list of arguments and returns the status (tests call it in-process); :func:`main` is the console
entry point.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

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
    context: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bars or progress lines on standard error (results and errors stay)."
    ),
) -> None:
    """matsight: saliency, texture concepts, attribute knobs and visual analytics for scientific CNNs."""
    from matsight.progress import quiet as quiet_progress

    context.with_resource(quiet_progress(quiet))


@app.command()
def report(
    runs: list[Path] = typer.Argument(
        ...,
        metavar="RUN...",
        help="Run folders of one study: training, saliency, textures, knobs, analytics, crystals.",
    ),
    out: Path = typer.Option(None, help="Where to write the HTML (default: the first RUN's report.html)."),
    title: str = typer.Option(None, help="Title of the page (default: matsight report)."),
    overwrite: bool = typer.Option(False, help="Replace an existing --out file."),
) -> None:
    """Write one self-contained HTML page with every section of the RUNs, a summary table and their manifests."""
    from matsight.report import build_study_report

    typer.echo(build_study_report(runs, out=out, title=title, overwrite=overwrite))


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


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""


def run(args: list[str] | None = None) -> int:
    """Run the command line ``args`` (default ``sys.argv[1:]``) and return its exit status.

    A :class:`UserError`, a usage error (unknown option, a value of the wrong type) or an
    :class:`OSError` on a named file prints one line on stderr and gives status 2; Ctrl-C gives
    status 130, and so does SIGTERM (``timeout``, ``kill``, a batch scheduler's stop), handled the same
    way: the run is marked failed and a rerun resumes; anything else is a bug and propagates with its
    traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        return _run(args)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


def _run(args: list[str] | None) -> int:
    try:
        result = app(args=args, prog_name="matsight", standalone_mode=False)
    except typer.TyperException as exc:  # typer's usage errors: unknown option, bad value, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # `matsight` alone: the help text
        else:
            context = getattr(exc, "ctx", None)
            where = f"{context.command_path}: " if context is not None else ""
            hint = f"; see `{context.command_path} --help`" if context is not None else ""
            _print_error(f"{where}{exc.format_message().rstrip('.')}{hint}")
        return exc.exit_code
    except typer.Abort:
        result = INTERRUPTED
    except UserError as exc:
        _print_error(str(exc))
        return exc.exit_code
    except OSError as exc:
        if exc.filename is None and exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        _print_error(_os_error_message(exc))
        return UserError.exit_code
    if result == INTERRUPTED:  # typer turns Ctrl-C into this exit status
        _print_error("interrupted: what was finished is kept; rerun the same command to resume")
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console entry point."""
    sys.exit(run())


def _print_error(message: str) -> None:
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


def _os_error_message(exc: OSError) -> str:
    """One line for a failed read or write of a file: which file, what the system said, what to do."""
    names = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None) or "writing the results"
    reason = exc.strerror or exc.__class__.__name__
    hints = {
        errno.EROFS: "the disk is read-only: choose an --out on a writable disk",
        errno.EACCES: "check the permissions, or choose another --out",
        errno.EPERM: "check the permissions, or choose another --out",
        errno.ENOTDIR: "a part of the path is a file, not a folder: choose another --out",
        errno.ENOSPC: "the disk is full: free space or choose an --out on another disk, then rerun to resume",
        errno.EDQUOT: "the disk quota is used up: free space or choose an --out on another disk, then rerun to resume",
        errno.ENOENT: "check the path",
        errno.EISDIR: "give a file, not a folder",
    }
    return f"{names}: {reason}; {hints.get(exc.errno, 'check the path and its permissions')}"
