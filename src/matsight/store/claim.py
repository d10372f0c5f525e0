"""Which folders and files a command may write: never its inputs, never someone else's files.

Every command that writes an output folder claims it first with :func:`claim_folder`:

- the output must not be one of the command's inputs, lie inside an input folder (a run folder
  of matsight excepted: commands may add sub-folders to a run they read), or contain an input;
- a new or empty folder is claimed for the command; a marker file ``.matsight-run`` records the
  command and, when the command ends, every file it wrote;
- a folder another matsight command wrote (its marker, or the ``manifest.json`` of a run made
  before markers existed) is refused unless ``overwrite``; with ``overwrite`` the files recorded
  in its marker are deleted first (files added later by someone else stay);
- a folder of the same command is resumed (``resume=True``, run folders) or refused unless
  ``overwrite`` (``resume=False``, synthetic datasets, so stale files never mix with new ones);
- a non-empty folder without a marker holds files matsight did not write: always refused.

Single output files (``predict --out FILE``, ``report --out FILE``) go through :func:`claim_file`.
Markers come from colleagues' folders too: their file lists are data, checked to stay inside the
folder before anything is deleted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from matsight.errors import ConfigError, RunFolderError
from matsight.store.atomic import atomic_write_json, is_temporary, remove_stale_temporaries

MARKER = ".matsight-run"
LOCK = ".matsight-lock"
"""Held (``flock``) by the process running a command in the folder; the kernel releases it when that
process ends, however it ends. Not a result: never recorded, deleted or hashed."""
BOOKKEEPING = (MARKER, LOCK)
KINDS = ("run", "dataset")


@dataclass
class Owner:
    """What a folder's marker says: the ``command`` that wrote it, whether it is a ``run`` folder
    or a ``dataset``, and the files (``written``, relative POSIX paths) recorded when the command
    last ended; ``None`` when unknown (a run older than markers). ``open``: the command has not
    ended since it last started (files written since the record belong to it too)."""

    command: str
    kind: str = "run"
    written: list[str] | None = None
    open: bool = True


def read_owner(folder: str | os.PathLike) -> Owner | None:
    """The owner of ``folder`` from its marker (or a matsight ``manifest.json``), or None."""
    folder = Path(folder)
    marker, manifest = folder / MARKER, folder / "manifest.json"
    if marker.is_file():
        data = _read_json(marker)
        if not isinstance(data, dict) or not isinstance(data.get("command"), str):
            return Owner(command="unknown (damaged marker)")
        written = data.get("written")
        if not (isinstance(written, list) and all(isinstance(p, str) for p in written)):
            written = None
        kind = data.get("kind") if data.get("kind") in KINDS else "run"
        return Owner(command=data["command"], kind=kind, written=written, open=data.get("open") is not False)
    if manifest.is_file():
        data = _read_json(manifest)
        if isinstance(data, dict) and {"command", "argv", "versions"} <= data.keys():
            return Owner(command=str(data["command"]))
    return None


def is_run_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a matsight run folder (not a dataset, not a user's folder)."""
    owner = read_owner(folder) if Path(folder).is_dir() else None
    return owner is not None and owner.kind == "run"


def check_outside_inputs(out: str | os.PathLike, reads=(), option: str = "--out") -> None:
    """ConfigError when ``out`` is one of ``reads`` (files or folders), lies inside a read folder
    that is not a matsight run folder, or contains one of them. Symbolic links are followed."""
    target = Path(out).resolve()
    for read in reads:
        if read is None:
            continue
        source = Path(read).resolve()
        if target == source:
            raise ConfigError(
                f"{option} {out} is the input {read}: matsight never writes into its inputs; choose a new {option}"
            )
        if source.is_dir() and target.is_relative_to(source) and not is_run_folder(source):
            raise ConfigError(
                f"{option} {out} is inside the input folder {read}: matsight never writes into its inputs; "
                f"choose a {option} outside it"
            )
        if source.is_relative_to(target):
            raise ConfigError(f"{option} {out} contains the input {read}: choose a {option} that does not hold inputs")


def claim_folder(
    folder: str | os.PathLike,
    command: str,
    *,
    reads=(),
    overwrite: bool = False,
    resume: bool = True,
    kind: str = "run",
    option: str = "--out",
    check_only: bool = False,
) -> Path:
    """Claim ``folder`` for ``command`` (rules in the module docstring); create it and return it.

    ``reads``: the files and folders the command reads. ``overwrite``: replace another command's
    (or this command's) earlier output. ``resume``: reuse this command's earlier output as it is.
    Temporary files of interrupted writes under the folder are removed. ``check_only``: raise what
    claiming would raise, but write and delete nothing (call it before slow checks of the inputs).
    """
    folder = Path(folder)
    check_outside_inputs(folder, reads, option)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option} {folder} is a file: give a folder")
    _check_parents(folder, option)
    _check_outside_datasets(folder, option, own=kind == "dataset")
    owner = read_owner(folder) if folder.is_dir() else None
    written: list[str] | None = []
    if owner is None:
        foreign = _entries(folder)
        if foreign:
            raise RunFolderError(
                f"{option} {folder} holds files matsight did not write (e.g. {foreign[0]}): "
                "choose a new or empty folder"
            )
    elif overwrite:
        if not check_only:
            clear(folder, owner)
    elif owner.command != command:
        raise RunFolderError(
            f"{option} {folder} holds the output of `matsight {owner.command}`: choose another {option}, "
            "or pass --overwrite to delete that output first"
        )
    elif not resume:
        raise RunFolderError(
            f"{option} {folder} already holds a `matsight {command}` output: pass --overwrite to replace it, "
            "or choose another folder"
        )
    else:
        written = owner.written
    if check_only:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    _write_marker(folder, Owner(command=command, kind=kind, written=written, open=True))
    return folder


@contextmanager
def run_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold ``folder``'s lock while a command writes there: ConfigError when another process holds it (the
    same command started twice on one ``--out`` would otherwise run twice, and one's claim would remove the
    other's files in flight). Creates ``folder``; call it once the claim's checks have passed."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(
                f"{folder} is being written by another matsight process right now: wait for it to end "
                "(a rerun then resumes), or choose another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def claim_file(
    path: str | os.PathLike, *, reads=(), overwrite: bool = False, default: bool = False, option: str = "--out"
) -> Path:
    """Check that ``path`` may be written as a single output file and return it.

    Refused: an input (or inside an input folder, see :func:`check_outside_inputs`), a folder, a
    path under a regular file, and an existing file unless ``overwrite`` or ``default`` (the
    command's own default path, rewritten on every run); even with ``overwrite``, a file recorded
    by a run folder's marker (its manifest, checkpoint, tables) is never replaced.
    """
    path = Path(path)
    check_outside_inputs(path, reads, option)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder: give a file name inside it")
    _check_parents(path, option)
    _check_outside_datasets(path, option)
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):  # known now, not after a long run
        raise ConfigError(f"{option} {path}: {parent} cannot be written (read-only disk or no permission)")
    if path.exists() and not default:
        if not overwrite:
            raise RunFolderError(f"{option} {path} exists: pass --overwrite to replace it, or choose another file")
        for parent in path.parents:
            owner = read_owner(parent) if parent.is_dir() else None
            if owner is None:
                continue
            relative = path.relative_to(parent).as_posix()
            if owner.written is None or relative in owner.written:
                raise RunFolderError(
                    f"{option} {path} belongs to the `matsight {owner.command}` output in {parent}: choose another file"
                )
            break
    return path


def record(folder: str | os.PathLike) -> None:
    """Record in the marker every file now under ``folder`` (nested run folders excepted) as written
    by its command, and mark the command as ended. Does nothing in a folder without a marker."""
    folder = Path(folder)
    owner = read_owner(folder) if (folder / MARKER).is_file() else None
    if owner is None:
        return
    owner.written, owner.open = _entries(folder), False
    _write_marker(folder, owner)


def clear(folder: str | os.PathLike, owner: Owner) -> list[Path]:
    """Delete what ``owner``'s command wrote under ``folder``: the recorded files, plus every file
    when the record is unknown or the command did not end (it may have written more). Nested run
    folders, files outside ``folder`` and the marker are never touched. Returns the deleted files."""
    folder = Path(folder)
    root = folder.resolve()
    names = set(owner.written or [])
    if owner.written is None or owner.open:
        names |= set(_entries(folder))
    deleted = []
    for name in sorted(names):
        path = folder / name
        if name in BOOKKEEPING or not _inside(path, root) or not (path.is_file() or path.is_symlink()):
            continue
        path.unlink()
        deleted.append(path)
    for sub in sorted(_folders(folder), key=lambda p: -len(p.parts)):
        if not any(sub.iterdir()):
            sub.rmdir()
    return deleted


def _check_parents(path: Path, option: str) -> None:
    """ConfigError when the nearest existing parent of ``path`` is a file (``--out notes.txt/run``)."""
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(f"{option} {path}: {blocker} is a file, not a folder; choose another {option}")


def _check_outside_datasets(path: Path, option: str, own: bool = False) -> None:
    """ConfigError when ``path`` lies inside a dataset that matsight wrote (``synth``, ``crystals build``),
    or is one and the writer is not a dataset command (``own``): results mixed into a dataset's folders
    change the dataset (a stray folder in ``images/`` is a lot without a row), and an ``--overwrite``
    there would delete it."""
    resolved = path.resolve()
    for folder in (resolved, *resolved.parents):
        owner = read_owner(folder) if folder.is_dir() else None
        if owner is None or owner.kind != "dataset" or (folder == resolved and own):
            continue
        where = "is the dataset" if folder == resolved else "is inside the dataset"
        raise ConfigError(
            f"{option} {path} {where} {folder} (written by `matsight {owner.command}`): matsight never "
            f"writes results into a dataset; choose a {option} outside it"
        )


def _entries(folder: Path) -> list[str]:
    """Files under ``folder`` (relative POSIX paths, sorted), without the marker, temporary files and
    nested run folders; symbolic links are listed, not followed."""
    if not folder.is_dir():
        return []
    found = []
    for parent, dirs, files in os.walk(folder):
        here = Path(parent)
        links = [d for d in dirs if (here / d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if d not in links and not _is_nested_run(here / d))
        for name in [*files, *links]:
            path = here / name
            if (here == folder and name in BOOKKEEPING) or is_temporary(path):
                continue
            found.append(path.relative_to(folder).as_posix())
    return sorted(found)


def _folders(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` (not nested run folders, not through symbolic links)."""
    found = []
    for parent, dirs, _ in os.walk(folder):
        dirs[:] = [d for d in dirs if not (Path(parent) / d).is_symlink() and not _is_nested_run(Path(parent) / d)]
        found += [Path(parent) / d for d in dirs]
    return found


def _is_nested_run(folder: Path) -> bool:
    return not folder.is_symlink() and read_owner(folder) is not None


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.parent.resolve().is_relative_to(root)
    except OSError:
        return False


def _write_marker(folder: Path, owner: Owner) -> None:
    atomic_write_json(folder / MARKER, asdict(owner))


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
