"""Atomic file writes: write to a temporary file in the same folder, then rename.

A crash or Ctrl-C never leaves a half-written file under the final name. The finished file gets
the permissions a plain ``open()`` would give it (``0o666`` minus the umask, so colleagues on a
shared disk can read it), not ``mkstemp``'s private ``0o600``. A temporary file left behind by a
killed process (``.<name>.<random>.tmp<suffix>``) is removed by :func:`remove_stale_temporaries`
on the next run of the same folder.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# mkstemp names: "." + final name + "." + 8 random characters + ".tmp" + the final suffix
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[^.]*)?$")


@functools.cache
def process_umask() -> int:
    """The process umask, read once (from /proc where it exists, so no other thread ever sees 0)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new file: ``0o666`` minus the umask."""
    return 0o666 & ~process_umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    Use for writers that need a file name (``torch.save``, ``DataFrame.to_parquet``,
    ``Figure.savefig``). On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename) == tmp_path:  # name the file the user asked for
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def complete_folder(path: str | os.PathLike, make: Callable[[Path], object]) -> Path:
    """``path`` as a complete folder: when it does not exist, ``make(folder)`` writes it under the
    temporary sibling ``.<name>.partial`` (any earlier, interrupted one removed first), which is then
    renamed to ``path``; an existing ``path`` is returned as it is. So a generator killed half-way never
    leaves a half-written dataset under the final name for a rerun to take as finished."""
    path = Path(path)
    if not path.exists():
        partial = path.with_name(f".{path.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        make(partial)
        os.replace(partial, path)
    return path


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like one of :func:`atomic_path`'s temporary files."""
    return bool(_TEMPORARY.match(Path(path).name))


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an interrupted write left under ``folder`` (recursively); return them.

    Call it when a run (re)starts in ``folder``, before anything else writes there.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(".*.tmp*") if is_temporary(p) and p.is_file() and not p.is_symlink()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (NaN written as null)."""
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n")


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, paths and NaN to plain JSON values."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, os.PathLike):
        return str(obj)
    return obj
