"""The shape every crystal workflow shares: a frozen, validated config and a run folder whose
manifest records the config and ends ``finished`` or ``failed``."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from matsight.store import RunFolder


def config_arguments(config: Any) -> dict[str, Any]:
    """The config's fields as JSON-able manifest arguments (paths and tuples as strings/lists)."""
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        out[field.name] = str(value) if isinstance(value, Path) else value
    return out


@contextmanager
def workflow_run(out: Path, command: str, config: Any) -> Iterator[RunFolder]:
    """Start ``out``'s manifest for ``command`` with ``config``; on leaving, status ``finished``, or
    ``failed`` with the error when the body raised (the error propagates)."""
    run = RunFolder(out)
    run.start(command, config_arguments(config), seed=getattr(config, "seed", None))
    try:
        yield run
    except BaseException as exc:
        run.set_status("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    run.set_status("finished")


def progress_line(message: str) -> None:
    """One plain progress line on stderr (readable in a terminal and in a log file)."""
    print(message, file=sys.stderr, flush=True)
