"""One shape for every workflow: a frozen, validated config and ``run(config) -> RunFolder``.

A workflow (training, saliency, textures, knobs, analytics, crystals, benchmark) is a package with

- a config class, a frozen dataclass derived from :class:`WorkflowConfig`, that checks every value
  in ``__post_init__`` and raises :class:`~matsight.errors.ConfigError` naming the CLI option and
  the fix (the Python API gets the same errors as the command line);
- ``run(config) -> RunFolder``, built on :func:`execute`: it writes the manifest (command,
  arguments, seed, input hashes, versions), calls the workflow's body, and marks the run
  ``finished``, or ``failed`` with the error when the body raises (Ctrl-C included), so a rerun
  with the same config resumes;
- its report section, written by the body into the run folder with
  :func:`matsight.report.write_section` and the workflow's place in :data:`matsight.report.ORDER`;
- optional demo presets in one place (``DEMO_PRESETS = {"cpu": ..., "full": ...}``).

The CLI only builds configs and calls ``run``; the demo calls ``run`` and passes results on by
return value.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from matsight.progress import note
from matsight.store import RunFolder
from matsight.store.claim import run_lock

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class WorkflowConfig:
    """Base of every workflow config. Subclasses add fields (with defaults after ``out``) and a
    ``__post_init__`` that validates them.

    ``command``: the workflow's command name (also its report-order key); ``input_fields``: names
    of the fields that are input files or folders (hashed into the manifest); ``neutral_fields``:
    fields that do not change the result (device, engine, verbosity), left out of
    :meth:`arguments` so that changing them does not block a resume.
    """

    out: Path

    command: ClassVar[str] = ""
    input_fields: ClassVar[tuple[str, ...]] = ()
    neutral_fields: ClassVar[tuple[str, ...]] = ("device", "engine", "overwrite")

    def arguments(self) -> dict[str, Any]:
        """The settings that decide the result, as plain JSON values (manifest and resume check)."""
        values = {}
        for item in dataclasses.fields(self):
            if item.name in self.neutral_fields:
                continue
            values[item.name] = _plain(getattr(self, item.name))
        return values

    def inputs(self) -> dict[str, Path]:
        """The input files and folders of this run, by field name (those that are set)."""
        return {name: Path(getattr(self, name)) for name in self.input_fields if getattr(self, name) is not None}

    @property
    def seed_value(self) -> int | None:
        """The config's ``seed`` field, when it has one."""
        return getattr(self, "seed", None)


def _plain(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def execute(
    config: WorkflowConfig,
    body: Callable[[RunFolder], T],
    run: RunFolder | None = None,
    implied: Mapping[str, str | os.PathLike] | None = None,
) -> T:
    """Run ``body(run)`` inside the run folder ``config.out`` with a manifest and a final status.

    The manifest is written first (``running``); when ``body`` returns, the status becomes
    ``finished``; when it raises (a user error, a crash, Ctrl-C) it becomes ``failed`` with the
    error's one-line text, and the exception propagates. Returns what ``body`` returned.
    ``implied``: inputs the body reaches through the config's own (the lots behind an editor run), by
    name: protected from the output and hashed into the manifest like them.
    """
    run = run or RunFolder(config.out)
    inputs = {**{name: Path(path) for name, path in (implied or {}).items()}, **config.inputs()}
    # never an input, never another command's or a user's folder; ``overwrite`` (when the config has it)
    # first deletes what an earlier matsight command recorded there (matsight.store.claim); one process at a time
    reads, overwrite = list(inputs.values()), getattr(config, "overwrite", False)
    run.claim(config.command, reads=reads, overwrite=overwrite, check_only=True)
    with run_lock(run.path):
        run.claim(config.command, reads=reads, overwrite=overwrite)
        manifest = run.start(config.command, config.arguments(), seed=config.seed_value, inputs=inputs)
        if manifest.get("resumed"):
            note(f"{config.command}: continuing the unfinished run in {run.path} (what it finished is kept)")
        try:
            result = body(run)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                message = "interrupted (Ctrl-C or a stop signal); rerun the same command to resume"
            else:
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            run.set_status("failed", error=f"{type(exc).__name__}: {message}")
            raise
        run.set_status("finished")
    return result
