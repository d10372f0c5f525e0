"""Run folders: one folder per command, resumable, with atomic writes.

Layout::

    <run>/manifest.json     command, arguments, versions, seed, input hashes, status
    <run>/checkpoint.pt     model weights (training runs)
    <run>/metrics.json      headline numbers
    <run>/tables/*.parquet  tables (plus a .csv copy of every small table)
    <run>/arrays/<name>/    chunked arrays (one .npz per chunk, see ChunkStore)
    <run>/figures/*.png     figures
    <run>/report_sections/  report sections written by each workflow (see matsight.report)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matsight.errors import RunFolderError
from matsight.store.atomic import atomic_path, atomic_write_json
from matsight.store.manifest import build_manifest

SMALL_TABLE_ROWS = 100_000


class RunFolder:
    """A run folder on disk. Creating one makes the folder and its sub-folders."""

    def __init__(self, path: str | os.PathLike, create: bool = True):
        self.path = Path(path)
        if create:
            for sub in ("tables", "figures", "arrays"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
        elif not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path} does not exist: give the --out folder of an earlier run")

    # -- manifest -------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def read_manifest(self) -> dict[str, Any]:
        """The manifest, or raise RunFolderError naming the folder when it has none."""
        if not self.manifest_path.exists():
            raise RunFolderError(f"{self.path} has no manifest.json: it is not a matsight run folder")
        return json.loads(self.manifest_path.read_text())

    def start(
        self,
        command: str,
        arguments: dict[str, Any],
        seed: int | None = None,
        inputs: dict[str, str | os.PathLike] | None = None,
    ) -> dict[str, Any]:
        """Write a fresh manifest with status ``running``; keep the first start time on resume."""
        manifest = build_manifest(command, arguments, seed=seed, inputs=inputs)
        if self.manifest_path.exists():
            previous = self.read_manifest()
            manifest["first_started"] = previous.get("first_started", previous.get("started"))
            manifest["resumed"] = previous.get("status") != "finished"
        atomic_write_json(self.manifest_path, manifest)
        return manifest

    def set_status(self, status: str, **extra: Any) -> None:
        """Update the manifest's status (``running``, ``finished``, ``failed``) and extra keys."""
        manifest = self.read_manifest()
        manifest["status"] = status
        manifest.update(extra)
        atomic_write_json(self.manifest_path, manifest)

    # -- small files ----------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``<run>/<name>`` as JSON atomically and return its path."""
        path = self.path / name
        atomic_write_json(path, obj)
        return path

    def read_json(self, name: str) -> Any:
        path = self.path / name
        if not path.exists():
            raise RunFolderError(f"{path} is missing: run the command that makes it first")
        return json.loads(path.read_text())

    # -- tables ---------------------------------------------------------------------------
    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        """Write ``tables/<name>.parquet`` (and ``.csv`` when small) atomically."""
        path = self.path / "tables" / f"{name}.parquet"
        with atomic_path(path) as tmp:
            table.to_parquet(tmp, index=False)
        if len(table) <= SMALL_TABLE_ROWS:
            with atomic_path(path.with_suffix(".csv")) as tmp:
                table.to_csv(tmp, index=False)
        return path

    def read_table(self, name: str) -> pd.DataFrame:
        path = self.path / "tables" / f"{name}.parquet"
        if not path.exists():
            raise RunFolderError(f"{path} is missing: run the command that makes it first")
        return pd.read_parquet(path)

    # -- figures and arrays ---------------------------------------------------------------
    def figure_path(self, name: str) -> Path:
        """Path for ``figures/<name>`` (add the extension yourself)."""
        return self.path / "figures" / name

    def chunks(self, name: str) -> ChunkStore:
        """The chunked array store ``arrays/<name>``."""
        return ChunkStore(self.path / "arrays" / name)


class ChunkStore:
    """Numbered chunks of named arrays, one ``chunk_<i>.npz`` each, written atomically.

    A resumable batch job asks ``store.has(i)`` before computing chunk ``i`` and calls
    ``store.write(i, maps=..., features=...)`` after. ``store.concat("maps")`` joins all chunks
    in order along axis 0.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def _chunk_path(self, chunk: int) -> Path:
        return self.path / f"chunk_{chunk:06d}.npz"

    def has(self, chunk: int, /) -> bool:
        return self._chunk_path(chunk).exists()

    def write(self, chunk: int, /, **arrays: np.ndarray) -> None:
        with atomic_path(self._chunk_path(chunk)) as tmp:
            with tmp.open("wb") as handle:
                np.savez(handle, **{k: np.asarray(v) for k, v in arrays.items()})

    def read(self, chunk: int, /) -> dict[str, np.ndarray]:
        with np.load(self._chunk_path(chunk)) as data:
            return {k: data[k] for k in data.files}

    def indices(self) -> list[int]:
        return sorted(int(p.stem.split("_")[1]) for p in self.path.glob("chunk_*.npz"))

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for index in self.indices():
            yield self.read(index)

    def concat(self, key: str) -> np.ndarray:
        parts = [chunk[key] for chunk in self]
        if not parts:
            raise RunFolderError(f"{self.path} has no chunks: the extraction has not run yet")
        return np.concatenate(parts, axis=0)
