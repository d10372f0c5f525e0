"""Progress users can see: a bar on a terminal, plain time-stamped lines in a log.

Every step that can take more than a few seconds reports through :func:`progress`::

    with progress(len(pending), "fastcam maps") as bar:
        for chunk in pending:
            ...
            bar.advance(info="chunk 3")

On a terminal (standard error is a TTY) this draws a rich progress bar. Otherwise, e.g. under
``nohup`` or with ``2> log``, it writes one plain line at the start, then at most every
``interval`` seconds (10 s by default) and at the end::

    [10:53:07] fastcam maps: 3/10 (30 %) chunk 3 · 12 s elapsed, ~28 s left

:func:`note` writes a one-off line the same way (per-epoch summaries, finished steps).
``quiet()`` (the CLI's ``--quiet``) silences both for the code that runs inside it.
Everything goes to standard error, so standard output keeps only results.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

_QUIET: ContextVar[bool] = ContextVar("matsight_quiet", default=False)
PLAIN_INTERVAL_S = 10.0


@contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence :func:`progress` and :func:`note` inside the ``with`` block (when ``enabled``)."""
    token = _QUIET.set(enabled or _QUIET.get())
    try:
        yield
    finally:
        _QUIET.reset(token)


def is_quiet() -> bool:
    """Whether the code runs inside :func:`quiet` (worker processes are started with the same setting)."""
    return _QUIET.get()


PLAIN_ENV = "MATSIGHT_PLAIN_PROGRESS"
"""Set (to any value) in worker processes that share the parent's terminal: they write plain lines,
never a second live bar."""


def _is_terminal() -> bool:
    return sys.stderr.isatty() and not os.environ.get(PLAIN_ENV)


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def note(message: str) -> None:
    """One line on standard error, time-stamped (above the bar on a terminal); silent under :func:`quiet`."""
    if _QUIET.get():
        return
    print(f"[{_stamp()}] {message}", file=sys.stderr, flush=True)


class _Bar:
    """What :func:`progress` yields: ``advance(steps, info)``."""

    def __init__(self, total: int, description: str, completed: int, interval: float):
        self.total, self.description, self.done = total, description, completed
        self.info, self.interval = "", interval
        self.started = time.monotonic()
        self._first_done = completed
        self._last_line = -float("inf")
        self._rich: Progress | None = None
        self._task = None

    def advance(self, steps: int = 1, info: str = "") -> None:
        """Mark ``steps`` more steps done; ``info`` is shown after the count (e.g. the current loss)."""
        self.done += steps
        self.info = info or self.info
        if self._rich is not None:
            self._rich.update(self._task, advance=steps, info=self.info)
        elif time.monotonic() - self._last_line >= self.interval:
            self._line()

    def _line(self) -> None:
        elapsed = time.monotonic() - self.started
        rate = (self.done - self._first_done) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.description}: {self.done}/{self.total}"]
        if self.total:
            parts.append(f"({100 * self.done / self.total:.0f} %)")
        if self.info:
            parts.append(self.info)
        timing = f"· {_duration(elapsed)} elapsed"
        if 0 < self.done < self.total and rate > 0:
            timing += f", ~{_duration((self.total - self.done) / rate)} left"
        note(" ".join([*parts, timing]))
        self._last_line = time.monotonic()


@contextmanager
def progress(total: int, description: str, completed: int = 0, interval: float = PLAIN_INTERVAL_S) -> Iterator[_Bar]:
    """A progress report over ``total`` steps (``completed`` already done, e.g. on resume)."""
    bar = _Bar(total, description, completed, interval)
    if _QUIET.get():
        bar.interval = float("inf")
        bar._last_line = float("inf")
        yield bar
        return
    if _is_terminal():
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[info]}"), TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=Console(stderr=True), transient=True) as rich_progress:
            bar._rich = rich_progress
            bar._task = rich_progress.add_task(description, total=total, completed=completed, info="")
            yield bar
        return
    bar._line()
    yield bar
    if bar.done != bar._first_done or bar.total == 0:
        bar._line()
