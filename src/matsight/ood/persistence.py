"""Saving settings and arrays as data, never code: a JSON file plus an ``.npz`` beside it.

``write_bundle(path, fmt, settings, arrays)`` writes ``path`` (JSON: the format tag, the settings
and the SHA-256 of the arrays file) and ``path.with_suffix(".npz")`` (plain numeric arrays),
atomically, arrays first. ``read_bundle(path, fmt)`` reads them back with
``np.load(allow_pickle=False)`` and raises :class:`RunFolderError` naming the file when either is
missing, unreadable, of another format, holds objects, or does not belong to the other.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from matsight.errors import RunFolderError
from matsight.store.atomic import atomic_write_bytes, atomic_write_json

FIX = "retrain the run (matsight train) or restore the file from a backup"


def arrays_path(path: str | os.PathLike) -> Path:
    """The ``.npz`` file that belongs to the JSON file ``path`` (never a name read from the file)."""
    return Path(path).with_suffix(".npz")


def write_bundle(path: str | os.PathLike, fmt: str, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``settings`` to ``path`` (must end in ``.json``) and ``arrays`` beside it; return ``path``."""
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"{path}: give a .json file name (the arrays go to {arrays_path(path).name})")
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    data = buffer.getvalue()
    atomic_write_bytes(arrays_path(path), data)
    atomic_write_json(path, {"format": fmt, **settings, "arrays_sha256": hashlib.sha256(data).hexdigest()})
    return path


def read_bundle(path: str | os.PathLike, fmt: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(settings, arrays)`` written by :func:`write_bundle` with format tag ``fmt``."""
    path, npz = Path(path), arrays_path(path)
    for file in (path, npz):
        if not file.is_file():
            raise RunFolderError(f"{file} does not exist: {FIX}")
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} is not valid JSON ({exc.__class__.__name__}): {FIX}") from None
    if not isinstance(settings, dict) or settings.get("format") != fmt:
        raise RunFolderError(f"{path} is not a {fmt} file: {FIX}")
    data = npz.read_bytes()
    if hashlib.sha256(data).hexdigest() != settings.pop("arrays_sha256", None):
        raise RunFolderError(f"{npz} does not belong to {path.name} (its checksum differs): {FIX}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:  # ValueError: pickled objects refused
        raise RunFolderError(
            f"{npz} cannot be read as plain numeric arrays ({exc.__class__.__name__}): {FIX}"
        ) from None
    settings.pop("format")
    return settings, arrays
