"""Run folders: one folder per command, resumable, with atomic writes.

Layout::

    <run>/manifest.json     command, arguments, versions, seed, input hashes, status
    <run>/checkpoint.pt     model weights (training runs)
    <run>/metrics.json      headline numbers
    <run>/tables/*.parquet  tables (plus a .csv copy of every small table)
    <run>/arrays/<name>/    chunked arrays (one .npz per chunk, see ChunkStore)
    <run>/figures/*.png     figures
    <run>/report_sections/  report sections written by each workflow (see matsight.report)
    <run>/.matsight-run     the command that owns the folder and the files it wrote (see matsight.store.claim)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from matsight.errors import RunFolderError
from matsight.store.atomic import atomic_path, atomic_write_json
from matsight.store.claim import claim_folder, record
from matsight.store.manifest import build_manifest, hash_inputs

if TYPE_CHECKING:  # pandas is imported where a table is read (the CLI starts without it)
    import pandas as pd

SMALL_TABLE_ROWS = 100_000


class RunFolder:
    """A run folder on disk. Nothing is written until :meth:`claim` or :meth:`start` (or a write);
    ``create=False`` requires the folder to exist already (a run to read or add to)."""

    def __init__(self, path: str | os.PathLike, create: bool = True):
        self.path = Path(path)
        self._claimed_for: str | None = None
        if not create and not self.path.is_dir():
            what = "is a file, not a run folder" if self.path.exists() else "does not exist"
            raise RunFolderError(f"run folder {self.path} {what}: give the --out folder of an earlier run")

    def claim(self, command: str, reads=(), overwrite: bool = False, check_only: bool = False) -> RunFolder:
        """Claim the folder for ``command`` (see :func:`matsight.store.claim.claim_folder`): never one
        of ``reads`` or inside a read dataset, never another command's folder or a user's files
        unless ``overwrite`` (which deletes only what matsight recorded there); resumes a folder of
        the same command. ``check_only``: raise what claiming would raise, write nothing."""
        claim_folder(
            self.path, command, reads=reads, overwrite=overwrite, resume=True, kind="run", check_only=check_only
        )
        if not check_only:
            self._claimed_for = command
        return self

    # -- manifest -------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def read_manifest(self) -> dict[str, Any]:
        """The manifest, or raise RunFolderError naming the folder when it has none."""
        if not self.manifest_path.exists():
            raise RunFolderError(f"{self.path} has no manifest.json: it is not a matsight run folder")
        return _load_json(self.manifest_path)

    def input_path(self, name: str) -> Path | None:
        """Where the input ``name`` of the run (a key of its manifest's ``inputs``) is now, or ``None``.

        A manifest records paths as given, relative to where the command ran. The input is looked for
        there (from the current directory) and, when the command was run from elsewhere or the run and
        its data were moved together, at the same place relative to the run folder as then
        (``relpath(input, out)`` from this folder). A candidate counts only if it still holds what the
        run read (its content hash): a changed or different folder of the same name is not the input."""
        manifest = self.read_manifest()
        recorded = (manifest.get("inputs") or {}).get(name) or {}
        path, digest = recorded.get("path"), recorded.get("hash")
        if not path:
            return None
        candidates = [Path(path)]
        out = (manifest.get("arguments") or {}).get("out")
        if out and Path(out).is_absolute() == Path(path).is_absolute():
            candidates.append(self.path / os.path.relpath(path, out))
        for candidate in candidates:
            if candidate.exists() and hash_inputs(candidate) == digest:
                return candidate
        return None

    def start(
        self,
        command: str,
        arguments: dict[str, Any],
        seed: int | None = None,
        inputs: dict[str, str | os.PathLike] | None = None,
    ) -> dict[str, Any]:
        """Claim the folder for ``command`` unless :meth:`claim` did (``inputs`` are its reads), then
        write a fresh manifest with status ``running``; keep the first start time on resume."""
        if self._claimed_for != command:
            self.claim(command, reads=list((inputs or {}).values()))
        for sub in ("tables", "figures", "arrays"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        manifest = build_manifest(command, arguments, seed=seed, inputs=inputs)
        if self.manifest_path.exists():
            previous = self.read_manifest()
            manifest["first_started"] = previous.get("first_started", previous.get("started"))
            manifest["resumed"] = previous.get("status") != "finished"
        atomic_write_json(self.manifest_path, manifest)
        return manifest

    def set_status(self, status: str, **extra: Any) -> None:
        """Update the manifest's status (``running``, ``finished``, ``failed``) and extra keys; record
        the files written so far (an ``--overwrite`` later deletes those and only those)."""
        manifest = self.read_manifest()
        manifest["status"] = status
        manifest.update(extra)
        atomic_write_json(self.manifest_path, manifest)
        record(self.path)

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
        return _load_json(path)

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
        import pandas as pd

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


def _load_json(path: Path) -> Any:
    """``path`` parsed as JSON; a damaged file is a RunFolderError naming it."""
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunFolderError(
            f"{path} is damaged ({exc.__class__.__name__}: {exc}); rerun the command that wrote it"
        ) from None
