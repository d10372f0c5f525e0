"""The ``--overwrite`` option and the claim of a command's output folder, shared by every command.

A command claims its ``--out`` before it writes anything (see :mod:`matsight.store.claim`): never one
of its inputs, never another command's output or a user's files unless ``--overwrite``.
"""

from __future__ import annotations

from pathlib import Path

import typer

OVERWRITE = typer.Option(
    False, help="Replace what an earlier matsight command wrote in --out (only the files it recorded there)."
)


def claim_run(out: Path, command: str, reads: list, overwrite: bool) -> Path:
    """Check that ``command`` may write the run folder ``out`` (the workflow claims it when it starts;
    a rerun of the same command resumes there). With ``overwrite`` the earlier output is deleted now."""
    from matsight.store import RunFolder

    return RunFolder(out).claim(command, reads=reads, overwrite=overwrite, check_only=not overwrite).path


def claim_dataset(out: Path, command: str, reads: list, overwrite: bool, resume: bool = False) -> Path:
    """Claim the dataset folder ``out`` for the generator ``command``: a new or empty folder, or its own
    earlier output with ``overwrite`` (cleared first, so stale files never mix with new ones)."""
    from matsight.store import claim_folder

    return claim_folder(out, command, reads=reads, overwrite=overwrite, resume=resume, kind="dataset", option="OUT")


def record_output(out: Path) -> None:
    """Record the files ``out`` now holds as written by its command (an ``--overwrite`` deletes them)."""
    from matsight.store.claim import record

    record(out)
