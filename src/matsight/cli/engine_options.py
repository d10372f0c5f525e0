"""The batch-engine options every extraction command takes: ``--engine``, ``--address``, ``--workers``.

Use as defaults of a command's parameters and turn them into a :class:`matsight.scale.Engine`
with :func:`engine_from`.
"""

from __future__ import annotations

import typer

ENGINE = typer.Option("local", help="local (in-process) or ray (a Ray cluster, see --address).")
ADDRESS = typer.Option(None, help="Ray cluster address (auto: the one `ray start` runs); none starts a local one.")
WORKERS = typer.Option(1, help="Ray actors (one model each; one GPU each with --device cuda).")


def engine_from(engine: str, address: str | None, workers: int):
    """The :class:`matsight.scale.Engine` the options name (a ConfigError for bad values)."""
    from matsight.scale import Engine

    return Engine(engine, address, workers)
