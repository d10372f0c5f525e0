"""One background thread for file writes, so saving a checkpoint overlaps the next epoch's compute."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class BackgroundWriter:
    """Run write jobs one at a time on a background thread, in submission order.

    ``submit`` first waits for the previous job (so at most one snapshot waits in memory and a
    failed write surfaces at the next epoch); leaving the ``with`` block waits for the last job,
    also when the block exits with an exception such as Ctrl-C, so a finished epoch is never lost.
    Jobs must only touch data they own (pass snapshots, not live tensors).
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matsight-writer")
        self._pending: Future | None = None

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        self.wait()
        self._pending = self._executor.submit(job, *args)

    def wait(self) -> None:
        """Block until the last submitted job is done; re-raise its exception."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            self._executor.shutdown(wait=True)
